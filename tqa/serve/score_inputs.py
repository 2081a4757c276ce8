"""The files to score: folders expanded to video files, readable ids, cache keys, the first
rows of the scores table (a file that does not exist is a 'failed' row, not an error), and
the note on the files longer than the model's grid."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tqa.data.videos import VIDEO_EXTS

#: Video file extensions found when a folder is given (``score.extensions`` overrides): the
#: data contract's, plus two that only scoring looks for.
VIDEO_EXTENSIONS: tuple[str, ...] = (*VIDEO_EXTS, ".wmv", ".3gp")


def find_videos(
    paths: str | Path | Sequence[str | Path],
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    recursive: bool = True,
) -> list[Path]:
    """Files as given (any extension) and the video files inside folders, sorted, no duplicates.

    A path that does not exist is kept (it becomes a 'failed' row naming it).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            it = p.rglob("*") if recursive else p.glob("*")
            found += sorted(
                f
                for f in it
                if f.is_file() and f.suffix.lower() in exts and not f.name.startswith(".")
            )
        else:
            found.append(p)
    seen, out = set(), []
    for f in found:
        key = str(f.resolve()) if f.exists() else str(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def display_ids(files: Sequence[Path]) -> list[str]:
    """Readable video ids (file stems); repeated stems get the parent folder, then a counter."""
    stems = [f.stem for f in files]
    ids = []
    for f, s in zip(files, stems):
        ids.append(s if stems.count(s) == 1 else f"{f.parent.name}/{s}")
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        out.append(i if seen[i] == 1 else f"{i}#{seen[i]}")
    return out


def cache_key(path: Path) -> str:
    """Cache id of a file: stem + hash of its absolute path, size, mtime (stale: re-extract)."""
    st = path.stat()
    blob = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:40]
    return f"{stem}-{hashlib.sha256(blob).hexdigest()[:12]}"


def input_rows(files: Sequence[Path]) -> pd.DataFrame:
    """One row per file: ``video_id``, ``path``, ``status`` ('pending', or 'failed' for a file
    that does not exist), ``error``, ``warning`` and ``_key`` (its cache key; None when failed)."""
    rows = pd.DataFrame({"video_id": display_ids(files), "path": [str(f) for f in files]})
    rows["status"], rows["error"], rows["warning"] = "pending", "", ""
    keys: list[str | None] = []
    for i, f in enumerate(files):
        if not f.is_file():
            rows.loc[i, ["status", "error"]] = ["failed", f"{f}: file not found"]
            keys.append(None)
        else:
            keys.append(cache_key(f))
    rows["_key"] = keys
    return rows


def longer_than_grid(result: pd.DataFrame, grid_s: float, fps: float) -> list[tuple[str, float]]:
    """(video_id, header seconds) of the scored files (status ok or partial) whose header
    length (column ``_seconds``, :func:`tqa.serve.score_segments.segment_rows`) is at least
    one grid frame (1 / ``fps`` s) more than the ``grid_s`` seconds the model reads."""
    out = []
    for vid, status, seconds in zip(result["video_id"], result["status"], result["_seconds"]):
        if status in ("ok", "partial") and seconds is not None and not pd.isna(seconds):
            if seconds >= grid_s + 1.0 / fps:
                out.append((str(vid), float(seconds)))
    return out


def grid_note(
    long: list[tuple[str, float]],
    n_files: int,
    grid_s: float,
    segments: dict[str, int] | None = None,
) -> str:
    """The note printed under the scores for :func:`longer_than_grid`'s files ("" for none):
    scored on their first ``grid_s`` s, or, with ``segments`` (video id -> count), as that
    many segments of ``grid_s`` s over the whole file, averaged."""
    if not long:
        return ""
    if segments is not None:
        shown = ", ".join(f"{v} {s:.1f} s: {segments.get(v, 1)}" for v, s in long[:5])
    else:
        shown = ", ".join(f"{v} {s:.1f} s" for v, s in long[:5])
    more = f", ... ({len(long) - 5} more)" if len(long) > 5 else ""
    head = f"{len(long)} of {n_files} files are longer than the {grid_s:g} s the model reads: "
    if segments is not None:
        return (
            f"{head}scored as {grid_s:g} s segments over the whole file, their scores averaged "
            f"(segments per file: {shown}{more}; each segment's scores: --out's .segments file)"
        )
    return f"{head}scored on their first {grid_s:g} s ({shown}{more})"
