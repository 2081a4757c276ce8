"""Long files measured whole by `tqa metrics`: segments spread over the file, then pooled.

Generated talking-head clips run 10-60 s, and a researcher comparing generators on them
wants the whole clip measured, not its first 10 s (a frozen stretch or a drift out of sync
late in the clip is a defect of the clip). A file longer than ``--segment-seconds`` (10 s)
is cut into ``n = ceil(frames / segment frames)`` segments of that length, evenly spaced
from 0 s to its last segment (the rule of ``tqa score``,
:func:`tqa.serve.score_segments.segment_starts`: they overlap rather than leave a short
tail that reads no sync), each decoded with
:func:`tqa.features.decode.load_clip` from its start and measured as a clip of its own
(:func:`tqa.features.video_metrics.video_metrics`). Per column, :data:`POOLING` says how the
segments make the file's value:

* ``mean``: weighted by each segment's measured seconds (overlapping frames count twice:
  at most one segment's worth, on a file a little longer than a segment);
* ``median``: the sync offsets (a segment that mistakes a syllable rhythm for the offset
  does not pull the file's value);
* ``max``: the longest still run and the most faces seen (one frozen stretch or a second
  face anywhere is the file's; a still run across two segments is read as two pieces);
* ``span``: ``duration_s``, the seconds measured (the last segment's end);
* ``first``: the format columns (fps, size, audio track), the file's own.

A file no longer than one segment is one segment from 0 s: exactly the row of before.
``--max-seconds S`` measures the first S s only (``S`` = 10 gives the row tqa metrics gave
until 2026-12-08). A segment that cannot be decoded among measured ones is left out and
said in the row's ``error``; the per-segment values go to ``segments.csv``. Each measured
segment is cached on its own (:func:`cached_measure`) until its file's row is written, so a
long file interrupted at its 50th segment resumes there, not at its first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tqa.core.atomic import write_json
from tqa.features.decode import MediaError, header_seconds
from tqa.features.reference_metrics import REFERENCE_METRICS
from tqa.features.video_metrics import METRICS
from tqa.serve.score_segments import segment_notes, segment_starts, span_label

#: Column -> how a file's segments make its value (module docstring); the full-reference
#: columns of ``--ground-truth`` are means too.
POOLING: dict[str, str] = {m: "mean" for m in METRICS | REFERENCE_METRICS} | {
    "sync_offset": "median",
    "sync_offset_subframe": "median",
    "longest_still_s": "max",
    "faces": "max",
    "duration_s": "span",
    "fps": "first",
    "width": "first",
    "height": "first",
    "has_audio": "first",
}
POOLINGS = ("mean", "median", "max", "span", "first")

#: (path, features params, seconds, start_s) -> one segment's metrics row.
MeasureFn = Callable[[str, dict, float, float], dict[str, Any]]


def plan(seconds: float | None, max_seconds: float | None, segment_s: float, fps: float):
    """(segment length (s), starts (s)) of a file of ``seconds`` (None: unknown) read up to
    ``max_seconds`` (None: whole) in segments of ``segment_s``."""
    span = seconds
    if max_seconds is not None:
        span = max_seconds if seconds is None else min(seconds, max_seconds)
    length = segment_s if max_seconds is None else min(segment_s, max_seconds)
    return length, segment_starts(span, length, fps)


def pool_metrics(segs: list[dict[str, Any]]) -> dict[str, Any]:
    """One file's row from its measured segments (each a metrics row with ``start_s``),
    per :data:`POOLING`."""
    w = np.array([float(s.get("duration_s") or 0.0) for s in segs])
    row: dict[str, Any] = {}
    for m, how in POOLING.items():
        v = np.array([_float(s.get(m)) for s in segs])
        ok = np.isfinite(v)
        if how == "first":
            row[m] = segs[0].get(m)
        elif how == "span":
            row[m] = float(segs[-1]["start_s"] + (segs[-1].get("duration_s") or 0.0))
        elif not ok.any():
            row[m] = math.nan
        elif how == "median":
            row[m] = float(np.median(v[ok]))
        elif how == "max":
            row[m] = float(v[ok].max())
        else:
            wt = w[ok]
            row[m] = float(np.average(v[ok], weights=wt)) if wt.sum() > 0 else float(v[ok].mean())
    return row


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def file_metrics(
    path: str,
    fparams: dict,
    measure: MeasureFn,
    max_seconds: float | None = None,
    segment_s: float = 10.0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the file's row, its segments' rows) of ``path``: ``measure`` on each segment of
    :func:`plan`, pooled by :func:`pool_metrics` when there are several. Raises the first
    segment's MediaError (the file's start does not decode). The row's ``notes`` (a list of
    strings): the segments' own ``notes`` (a note every segment has once, the others after
    their segment's time span) and the segments lost among measured ones."""
    fps = float(fparams.get("grid_fps", 25))
    length, starts = plan(header_seconds(path), max_seconds, segment_s, fps)
    segs, lost = [], []
    for k, start in enumerate(starts):
        try:
            seg = measure(path, fparams, length, start)
        except MediaError as exc:
            if k == 0:
                raise  # the file's start does not decode: the file fails, as before
            lost.append(f"{span_label(start, length)} not measured: {exc}")
            continue
        segs.append({"segment": k + 1, "start_s": start, "end_s": start + length, **seg})
    notes = [seg.pop("notes", None) or [] for seg in segs]
    if len(segs) == 1 and len(starts) == 1:
        row = {k: v for k, v in segs[0].items() if k not in ("segment", "start_s", "end_s")}
    else:
        row = pool_metrics(segs)
        trunc = [s["start_s"] + s["truncated_after_s"] for s in segs if s.get("truncated_after_s")]
        row["truncated_after_s"] = min(trunc) if trunc else None
    said = segment_notes([span_label(s["start_s"], length) for s in segs], notes)
    row["segments"] = len(segs)
    row["notes"] = said + lost
    return row, segs


def _segment_file(folder: str | Path, key: str, seconds: float, start: float) -> Path:
    return Path(folder) / f"{key}@{start:.2f}s-{seconds:g}s.json"


def cached_measure(measure: MeasureFn, folder: str | Path, key: str) -> MeasureFn:
    """``measure`` whose segment rows are kept in ``folder`` under the file's cache ``key``
    (atomic writes) and read back when present: the finished segments of a file whose run
    was interrupted are not measured again."""

    def run(path: str, fparams: dict, seconds: float, start: float) -> dict[str, Any]:
        f = _segment_file(folder, key, seconds, start)
        if f.is_file():
            try:
                return json.loads(f.read_text())
            except ValueError:
                pass  # a damaged entry is measured again
        row = measure(path, fparams, seconds, start)
        write_json(f, row)
        return row

    return run


def clear_segments(folder: str | Path, key: str) -> None:
    """Remove the segment rows of :func:`cached_measure` under ``key`` (the file's own row,
    written by then, holds them)."""
    for f in Path(folder).glob(f"{key}@*.json"):
        f.unlink(missing_ok=True)
