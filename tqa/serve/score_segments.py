"""Long files scored whole: 6 s segments spread over the file, each scored, then pooled.

The model reads a 6 s grid (chapter 3.1); generated clips run 10-20 s (LatentSync's demos),
and a score of the first 6 s says nothing of the rest. ``tqa score`` therefore cuts a file
longer than the grid into ``n = ceil(frames / 150)`` segments of 6 s (150 frames), evenly
spaced from 0 to its last 6 s (they overlap rather than leave a short tail to pad; every
whole frame is read), scores each as a clip of its own
(:func:`tqa.features.decode.load_clip` with ``start_s``) and pools them per file: each score
the mean over the segments that have it, the sync offset their median, confidence and
distance their means. A file as long as the grid is one segment from 0 s, exactly what was
scored before (the same cache entry).
``score.whole_file: false`` (``tqa score --first-only``) scores the first 6 s only.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tqa.core.schema import TASKS
from tqa.features.decode import header_seconds

#: Columns of the per-segment table (``result.attrs["segments"]``, ``<out>.segments.csv``).
SEGMENT_COLUMNS = ("video_id", "path", "segment", "start_s", "end_s")


def segment_starts(seconds: float | None, grid_s: float, fps: float) -> list[float]:
    """Starts (s) of the fewest segments of ``grid_s`` that cover every whole frame of a file
    of ``seconds``: ``[0.0]`` when it holds no more frames than the grid or its length is
    unknown, else ``n = ceil(frames / grid frames)`` starts evenly spaced from 0 to
    ``seconds - grid_s``, on the frame grid (``frames``: whole frames of 1 / ``fps``)."""
    if seconds is None or not math.isfinite(seconds):
        return [0.0]
    frames = math.floor(seconds * fps + 1e-6)
    per = round(grid_s * fps)
    if frames <= per:
        return [0.0]
    n = math.ceil(frames / per)
    starts = np.linspace(0.0, frames / fps - grid_s, n)
    return [round(float(s) * fps) / fps for s in starts]


def segment_rows(rows: pd.DataFrame, grid_s: float, fps: float, whole: bool = True) -> pd.DataFrame:
    """One row per segment of each file of ``rows`` (:func:`tqa.serve.score_inputs.input_rows`):
    ``_file`` (the file's row), ``_seconds`` (its header's length, read once here; None when
    it says none or the file is missing), ``start_s``, ``segment`` (1-based) and ``_key`` (the
    file's cache key, ``@<start>s`` appended from the second segment on). A failed file (not
    found) stays one row; ``whole=False``: every file one segment from 0 s."""
    out = []
    for i, r in rows.iterrows():
        seconds = header_seconds(r["path"]) if r["_key"] is not None else None
        starts = segment_starts(seconds, grid_s, fps) if whole else [0.0]
        for k, s in enumerate(starts):
            seg = r.to_dict() | {"_file": i, "_seconds": seconds, "start_s": s, "segment": k + 1}
            if k and r["_key"] is not None:
                seg["_key"] = f"{r['_key']}@{s:.2f}s"
            out.append(seg)
    return pd.DataFrame(out).reset_index(drop=True)


def starts_by_key(segs: pd.DataFrame) -> dict[str, float]:
    """Cache key -> start (s) of every segment that does not start at 0 (what
    :class:`tqa.features.pipeline.FeatureExtractor` reads as ``segment_starts``)."""
    return {str(k): float(s) for k, s in zip(segs["_key"], segs["start_s"]) if k and s > 0}


def span_label(start: float, length: float) -> str:
    """``[start-end s]``: a segment's time span, as notes of long files name it."""
    return f"[{start:.1f}-{start + length:.1f} s]"


def _label(seg: pd.Series, grid_s: float) -> str:
    return span_label(seg["start_s"], grid_s)


def segment_notes(labels: list[str], notes: list[list[str]]) -> list[str]:
    """One file's notes from its segments' (``labels``: each segment's :func:`span_label`):
    a note every segment has, once; the others each after its segment's span; a single
    segment's as they are. Shared by ``tqa score`` and ``tqa metrics``."""
    if len(notes) == 1:
        return list(notes[0])
    common = [n for n in notes[0] if all(n in ns for ns in notes[1:])]
    rest = [f"{lab} {n}" for lab, ns in zip(labels, notes) for n in ns if n not in common]
    return list(dict.fromkeys(common + rest))


def _joined(segs: pd.DataFrame, column: str, grid_s: float) -> str:
    """The ``column`` texts of a file's segments, joined by :func:`segment_notes`."""
    parts = [[p for p in str(v or "").split("; ") if p] for v in segs[column]]
    labels = [_label(seg, grid_s) for _, seg in segs.iterrows()]
    return "; ".join(segment_notes(labels, parts))


def pool_segments(segs: pd.DataFrame, n_files: int, grid_s: float) -> pd.DataFrame:
    """One row per file from its scored segments (module docstring; with the file's ``_key``
    and header length ``_seconds``): ``status`` interrupted
    if a segment was (its scores NaN: the file was not read to its end), failed if none was
    scored, partial if one was, else ok; ``segments``
    the count; ``warning`` each segment's, after its time span (a segment that failed among
    scored ones is said there), ``error`` the segments' errors of a failed file."""
    rows = []
    for i in range(n_files):
        g = segs[segs["_file"] == i]
        first = g.iloc[0]
        row = {c: first[c] for c in ("video_id", "path", "_key", "_seconds")}
        row["segments"] = len(g)
        done = g[g["status"].isin(["ok", "partial"])]
        values = done[[*TASKS, "sync_offset", "sync_confidence", "sync_distance"]].astype(float)
        for t in TASKS:
            row[t] = float(values[t].mean()) if values[t].notna().any() else math.nan
        off = values["sync_offset"].dropna()
        row["sync_offset"] = float(off.median()) if len(off) else math.nan
        for c in ("sync_confidence", "sync_distance"):
            row[c] = float(values[c].mean()) if values[c].notna().any() else math.nan
        if (g["status"] == "interrupted").any():
            row["status"] = "interrupted"
        elif not len(done):
            row["status"] = "failed"
        else:
            row["status"] = "partial" if (done["status"] == "partial").any() else "ok"
        if row["status"] == "interrupted":  # a file not read to its end has no score
            row |= dict.fromkeys(
                [*TASKS, "sync_offset", "sync_confidence", "sync_distance"], math.nan
            )
        row["error"] = _joined(g, "error", grid_s) if row["status"] == "failed" else ""
        row["warning"] = _joined(g, "warning", grid_s)
        lost = g[g["status"] == "failed"]
        if row["status"] in ("ok", "partial") and len(lost):  # scored from the other segments
            said = "; ".join(
                f"{_label(r, grid_s)} not scored: {r['error']}" for _, r in lost.iterrows()
            )
            row["warning"] = f"{row['warning']}; {said}" if row["warning"] else said
        rows.append(row)
    return pd.DataFrame(rows)


def segments_table(segs: pd.DataFrame, grid_s: float) -> pd.DataFrame:
    """The per-segment scores: file id and path, segment number, its span (s), the five
    scores, the sync columns, status, error and warning."""
    out = segs.assign(end_s=segs["start_s"] + grid_s)
    cols = [*SEGMENT_COLUMNS, *TASKS, "sync_offset", "sync_confidence", "sync_distance"]
    return out[[*cols, "status", "error", "warning"]].reset_index(drop=True)
