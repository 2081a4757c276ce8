"""The extractor descriptions a bundle records, and how installed extractors are compared.

Features from another extractor (or another version, width or option of it) would be
silently meaningless to a model: :func:`describe_mismatches` lists every difference and
:func:`mismatch_message` turns them into the refusal ``tqa score`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqa.core.schema import MODALITIES, FeatureSet
from tqa.serve.bundle_format import MANIFEST

#: Description fields reported first; every other field of ``describe()`` (extractor options
#: such as ``face_crop``, ``normalized`` or ``random_init``) must match too.
CHECKED_FIELDS: tuple[str, ...] = ("name", "version", "dim")


def descriptions_of(source: Any) -> tuple[dict[str, dict], str | None]:
    """(modality -> description, config hash) from a FeatureExtractor, a FeatureSet or a dict.

    A FeatureExtractor gives ``{m: e.describe()}`` and its ``config_hash``; a FeatureSet
    gives ``meta['extractors']`` (and ``meta['config_hash']`` when present); a plain
    dict is taken as the descriptions (an optional ``'config_hash'`` entry is split off).
    """
    if hasattr(source, "extractors") and not isinstance(source, Mapping):
        descs = {m: dict(e.describe()) for m, e in source.extractors.items()}
        return descs, getattr(source, "config_hash", None)
    if isinstance(source, FeatureSet):
        descs = dict(source.meta.get("extractors") or {})
        h = source.meta.get("config_hash")
        if isinstance(h, (list, tuple)):  # tqa.features.cache lists the hashes found in the cache
            h = h[0] if len(h) == 1 else None
        return {m: dict(d) for m, d in descs.items()}, h
    if isinstance(source, Mapping):
        d = {m: dict(v) for m, v in source.items() if m != "config_hash"}
        return d, source.get("config_hash")
    raise TypeError(f"cannot read extractor descriptions from {type(source).__name__}")


def describe_mismatches(
    expected: Mapping[str, Mapping], installed: Mapping[str, Mapping]
) -> list[str]:
    """One line per modality whose installed extractor differs from the expected one."""
    problems = []
    for m in [*MODALITIES, "sync"]:
        if m not in expected:
            continue
        want = expected[m]
        have = installed.get(m)
        if have is None:
            problems.append(
                f"{m}: bundle needs extractor {want.get('name')!r} v{want.get('version')} "
                f"(dim {want.get('dim')}), none is installed/configured"
            )
            continue
        keys = list(CHECKED_FIELDS) + sorted(
            (set(want) | set(have)) - set(CHECKED_FIELDS) - {"modality"}
        )
        diffs = [
            f"{k} {have.get(k)!r} != {want.get(k)!r}"
            for k in keys
            if str(have.get(k)) != str(want.get(k))
        ]
        if diffs:
            problems.append(
                f"{m}: installed {have.get('name')!r} v{have.get('version')} (dim "
                f"{have.get('dim')}) "
                f"vs bundle {want.get('name')!r} v{want.get('version')} (dim {want.get('dim')}): "
                + "; ".join(diffs)
            )
    return problems


def mismatch_message(path: Path | str, problems: list[str], from_table: bool = False) -> str:
    """The refusal of the bundle at ``path``: every problem, then how to fix it."""
    lines = [f"model bundle {path} does not match the features it was given:"]
    lines += [f"  - {p}" for p in problems]
    if from_table:
        lines.append(
            "This bundle was trained on a bring-your-own feature table: score a table with the "
            "same columns (`tqa score --features TABLE`), or retrain on your features."
        )
    else:
        lines.append(
            "Fix: install/select the bundle's extractors (its settings are in "
            f"{Path(path) / MANIFEST} under params.features and extractors) and re-extract, "
            "or retrain the model with the extractors you have (`make repro`)."
        )
    return "\n".join(lines)
