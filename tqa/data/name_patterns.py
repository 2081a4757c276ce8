"""Video-name patterns: ``--name-pattern '{group}_{audio}_{generator}'`` -> columns.

A public release often codes its factors in the video names (THQA: portrait, audio, method).
``tqa import-thqa --name-pattern`` turns each name into one column per field, so that a
group split or a per-generator table needs no hand-made metadata.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from tqa.core.schema import TASKS
from tqa.data.labels import DataError


def name_pattern_regex(pattern: str) -> re.Pattern[str]:
    """Compile a ``--name-pattern`` into a regex with one named group per field.

    ``pattern`` is either a regex with named groups (it contains ``(?P<``), used as is
    (full match), or a template such as ``{group}_{audio}_{generator}``: literal text
    between ``{field}`` placeholders. Every field but the last takes the shortest text
    that lets the rest match; the last field takes no character of the literal before it.
    So ``1_voice_en_35042678_ahead`` gives group ``1``, audio ``voice_en_35042678``,
    generator ``ahead``.
    """
    if "(?P<" in pattern:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise DataError(f"--name-pattern {pattern!r}: not a valid regex ({exc})") from exc
        if not rx.groupindex:
            raise DataError(f"--name-pattern {pattern!r}: no named group (?P<name>...)")
        return rx
    parts = re.split(r"\{(\w+)\}", pattern)
    fields = parts[1::2]
    if not fields:
        raise DataError(
            f"--name-pattern {pattern!r}: no {{field}} placeholder "
            "(e.g. '{group}_{audio}_{generator}')"
        )
    dup = sorted({f for f in fields if fields.count(f) > 1})
    if dup or "video_id" in fields or any(f in TASKS for f in fields):
        raise DataError(
            f"--name-pattern {pattern!r}: field names must be unique and not "
            f"video_id or a score column ({dup or fields})"
        )
    rx = "^"
    for i, part in enumerate(parts):
        if i % 2 == 0:
            rx += re.escape(part)
        elif i == len(parts) - 2 and parts[i - 1]:
            rx += f"(?P<{part}>[^{re.escape(parts[i - 1])}]+)"
        else:
            rx += f"(?P<{part}>.+?)"
    return re.compile(rx + "$")


def fields_from_names(ids: Sequence[str], pattern: str) -> pd.DataFrame:
    """One column per field of ``pattern`` (:func:`name_pattern_regex`), one row per id.

    Raises :class:`DataError` naming the first ids (and their data lines) that do not match.
    """
    rx = name_pattern_regex(pattern)
    rows, bad = [], []
    for i, vid in enumerate(ids):
        m = rx.fullmatch(vid)
        if m is None:
            bad.append(f"line {i + 2} [{vid}]")
            rows.append({})
        else:
            rows.append(m.groupdict())
    if bad:
        raise DataError(
            f"--name-pattern {pattern!r} does not match {len(bad)} name(s): "
            + ", ".join(bad[:5])
            + (" ..." if len(bad) > 5 else "")
        )
    return pd.DataFrame(rows, columns=list(rx.groupindex))
