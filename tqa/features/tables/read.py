"""Feature tables in, a :class:`~tqa.core.schema.FeatureSet` out (the format:
:mod:`tqa.features.tables`).

Parses a long (per-frame) or per-video table, resamples each video's rows onto the
(n_frames, fps) grid, merges several tables by ``video_id``, and is the params switch that
makes training read a table instead of the extraction cache."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.params import resolve
from tqa.core.schema import GRID_FPS, GRID_FRAMES, MODALITIES, SYNC_FIELDS, FeatureSet
from tqa.features.tables.columns import (
    KEY_COLUMNS,
    SEP,
    SYNC_COLUMNS,
    FeatureTableError,
    read_table,
    row_ref,
    table_descriptions,
)


def load_feature_table(
    path: str | Path | Sequence[str | Path], n_frames: int = GRID_FRAMES, fps: float = GRID_FPS
) -> FeatureSet:
    """Read one or several feature tables into a FeatureSet on the (n_frames, fps) grid.

    ``path``: a table or a list of tables (merged by video_id; videos missing from one
    table get NaN for that table's modalities). Raises :class:`FeatureTableError`
    naming the file, the row and the column of the first problem found.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths:
        raise FeatureTableError("no feature table given")
    parts = [
        feature_set_from_table(read_table(p), n_frames=n_frames, fps=fps, source=str(p))
        for p in paths
    ]
    fs = parts[0] if len(parts) == 1 else merge_feature_sets(parts)
    fs.meta["tables"] = [str(p) for p in paths]
    return fs


def feature_set_from_table(
    df: pd.DataFrame, n_frames: int = GRID_FRAMES, fps: float = GRID_FPS, source: str = "<table>"
) -> FeatureSet:
    """Parse one long or per-video table (see module docstring) into a FeatureSet."""
    if "video_id" not in df.columns:
        raise FeatureTableError(
            f"{source}: no 'video_id' column (columns: {list(df.columns)[:8]}...)"
        )
    if "frame" in df.columns and "time" in df.columns:
        raise FeatureTableError(f"{source}: give either a 'frame' or a 'time' column, not both")
    df = df.reset_index(drop=True)
    if df["video_id"].isna().any():
        row = int(np.flatnonzero(df["video_id"].isna().to_numpy())[0])
        raise FeatureTableError(f"{source}: {row_ref(row)} has an empty video_id")
    df["video_id"] = df["video_id"].astype(str)
    groups = _column_groups(df.columns, source)
    numeric = _numeric_block(df, [c for cols in groups.values() for c in cols], source)
    table = _Parsed(df, numeric, groups, source)
    time_col = "frame" if "frame" in df.columns else ("time" if "time" in df.columns else None)
    if time_col is None:
        return _from_video_table(table, n_frames)
    return _from_long_table(table, time_col, n_frames, fps)


@dataclass(frozen=True)
class _Parsed:
    """One table past the column checks, as both layouts (per video, per frame) read it."""

    df: pd.DataFrame
    #: feature column -> float64 values
    numeric: dict[str, np.ndarray]
    #: modality -> its feature columns
    groups: dict[str, list[str]]
    #: the table's name in messages
    source: str

    def feature_set(
        self, ids: list[str], streams: dict[str, np.ndarray], rows_of: list[np.ndarray], layout: str
    ) -> FeatureSet:
        """The FeatureSet of ``streams``, with each video's sync triple read from its rows."""
        sync = _sync_per_video(self.numeric, ids, rows_of, self.source)
        return _make(ids, streams, sync, self.groups, self.source, layout=layout)


def _column_groups(columns: Iterable[str], source: str) -> dict[str, list[str]]:
    """Feature columns per modality prefix, in table order; sync columns under 'sync'."""
    groups: dict[str, list[str]] = {}
    allowed = set(MODALITIES) | {"sync"}
    for c in columns:
        c = str(c)
        if c in KEY_COLUMNS:
            continue
        if SEP not in c:
            raise FeatureTableError(
                f"{source}: column {c!r} has no modality prefix; name feature columns "
                f"'<modality>{SEP}<name>' with modality in {sorted(allowed)}"
            )
        prefix = c.split(SEP, 1)[0]
        if prefix not in allowed:
            raise FeatureTableError(
                f"{source}: column {c!r} has unknown prefix {prefix!r}; expected one of "
                f"{sorted(allowed)}"
            )
        groups.setdefault(prefix, []).append(c)
    for c in groups.get("sync", []):
        if c not in SYNC_COLUMNS:
            raise FeatureTableError(
                f"{source}: unknown sync column {c!r}; expected {list(SYNC_COLUMNS)}"
            )
    if not groups:
        raise FeatureTableError(f"{source}: no feature columns (none prefixed {sorted(allowed)})")
    return groups


def _numeric_block(df: pd.DataFrame, cols: list[str], source: str) -> dict[str, np.ndarray]:
    """Columns as float64 arrays; text in a numeric column -> error naming row and column."""
    out: dict[str, np.ndarray] = {}
    for c in cols:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[c] = s.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna().to_numpy() & s.notna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FeatureTableError(
                f"{source}: {row_ref(i)}, column {c!r}: value {s.iloc[i]!r} is not a number "
                f"(video_id {df['video_id'].iloc[i]!r}; {int(bad.sum())} bad cell(s) in this "
                "column)"
            )
        out[c] = conv.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _first_positions(ids: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Unique ids in order of first appearance and, per row, the index of its id."""
    codes, uniques = pd.factorize(ids, sort=False)
    return [str(u) for u in uniques], codes


def _sync_per_video(
    numeric: dict[str, np.ndarray], ids: list[str], rows_of: list[np.ndarray], source: str
) -> np.ndarray:
    """(N, 3) sync triple; must be constant within a video (NaN cells ignored)."""
    sync = np.full((len(ids), len(SYNC_FIELDS)), np.nan, dtype=np.float64)
    for k, col in enumerate(SYNC_COLUMNS):
        if col not in numeric:
            continue
        vals = numeric[col]
        for v, rows in enumerate(rows_of):
            x = vals[rows]
            x = x[~np.isnan(x)]
            if x.size == 0:
                continue
            if np.any(x != x[0]):
                raise FeatureTableError(
                    f"{source}: column {col!r} varies within video {ids[v]!r} "
                    f"(values {np.unique(x)[:4].tolist()}); sync columns are one value per video"
                )
            sync[v, k] = x[0]
    return sync


def _from_video_table(table: _Parsed, n_frames: int) -> FeatureSet:
    """Per-video table: one row per video, streams constant over the grid."""
    df, numeric, groups = table.df, table.numeric, table.groups
    dup = df["video_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        raise FeatureTableError(
            f"{table.source}: video_id {df['video_id'].iloc[rows[0]]!r} appears in more than "
            f"one row ({', '.join(row_ref(int(r)) for r in rows[:4])}); a per-video table "
            "(no 'frame'/'time' column) has one row per video"
        )
    ids = df["video_id"].tolist()
    streams: dict[str, np.ndarray] = {}
    for m in MODALITIES:
        if m not in groups:
            continue
        block = np.stack([numeric[c] for c in groups[m]], axis=1).astype(np.float32)  # (N, D)
        streams[m] = np.repeat(block[:, None, :], n_frames, axis=1)  # (N, T, D), constant in time
    return table.feature_set(ids, streams, [np.array([i]) for i in range(len(ids))], "per_video")


def _from_long_table(table: _Parsed, time_col: str, n_frames: int, fps: float) -> FeatureSet:
    """Per-frame table: each video's rows sorted by frame/time and resampled onto the grid."""
    groups = table.groups
    t = _time_column(table.df, time_col, table.source)
    ids, rows_of = _rows_per_video(table.df, t, time_col, table.source)
    mods = [m for m in MODALITIES if m in groups]
    blocks = {m: np.stack([table.numeric[c] for c in groups[m]], axis=1) for m in mods}  # (rows, D)
    streams: dict[str, np.ndarray] = {}
    for m in mods:
        streams[m] = np.empty((len(ids), n_frames, blocks[m].shape[1]), dtype=np.float32)
    for v, rows in enumerate(rows_of):
        src, dst, outside = _grid_positions(t[rows], time_col, n_frames, fps)
        for m in mods:
            res = resample_rows(src, blocks[m][rows], dst)
            if outside is not None:
                res[outside] = np.nan
            streams[m][v] = res
    fs = table.feature_set(ids, streams, rows_of, f"long/{time_col}")
    fs.meta["source_frames"] = {ids[v]: int(len(r)) for v, r in enumerate(rows_of)}
    return fs


def _time_column(df: pd.DataFrame, time_col: str, source: str) -> np.ndarray:
    """The ``frame`` (integer index) or ``time`` (s) column as float64; no empty cell."""
    t = _numeric_block(df, [time_col], source)[time_col]
    if np.isnan(t).any():
        i = int(np.flatnonzero(np.isnan(t))[0])
        raise FeatureTableError(f"{source}: {row_ref(i)}, column {time_col!r} is empty")
    if time_col == "frame" and np.any(t != np.round(t)):
        i = int(np.flatnonzero(t != np.round(t))[0])
        raise FeatureTableError(
            f"{source}: {row_ref(i)}, column 'frame' = {t[i]!r} is not an integer index "
            "(use a 'time' column in seconds for timestamps)"
        )
    return t


def _rows_per_video(
    df: pd.DataFrame, t: np.ndarray, time_col: str, source: str
) -> tuple[list[str], list[np.ndarray]]:
    """Video ids in order of first appearance and, per video, its row indices sorted by
    ``t``; a (video_id, frame/time) pair given twice is an error."""
    ids, codes = _first_positions(df["video_id"].to_numpy())
    key = pd.DataFrame({"v": codes, "t": t})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        raise FeatureTableError(
            f"{source}: duplicate (video_id, {time_col}) = ({df['video_id'].iloc[rows[0]]!r}, "
            f"{t[rows[0]]:g}) "
            f"in {', '.join(row_ref(int(r)) for r in rows[:4])}"
        )
    order = np.lexsort((t, codes))
    bounds = np.searchsorted(codes[order], np.arange(len(ids) + 1))
    return ids, [order[bounds[v] : bounds[v + 1]] for v in range(len(ids))]


def _grid_positions(
    tv: np.ndarray, time_col: str, n_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(source positions, grid positions, grid points outside the video or None) of one
    video's sorted ``frame`` / ``time`` values ``tv``."""
    if time_col == "frame":
        # n frames spread evenly over the grid: source frame i sits at grid position
        # i*(T-1)/(n-1).
        n = len(tv)
        src = np.arange(n, dtype=np.float64) * ((n_frames - 1) / (n - 1)) if n > 1 else np.zeros(1)
        return src, np.arange(n_frames, dtype=np.float64), None
    grid_t = np.arange(n_frames, dtype=np.float64) / fps  # seconds
    tol = 0.5 / fps
    return tv, grid_t, (grid_t < tv[0] - tol) | (grid_t > tv[-1] + tol)


def resample_rows(x_src: np.ndarray, values: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """Linear interpolation of each column of ``values`` (n, D) from ``x_src`` (n,) to
    ``x_new`` (m,).

    Same as ``np.interp`` per column (edges held constant), except that a grid point that
    coincides with a source point copies it exactly (so a NaN neighbour does not leak into
    exact hits, and an identity resampling is lossless). ``x_src`` must be increasing.
    Returns (m, D) float64.
    """
    x_src = np.asarray(x_src, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    x_new = np.asarray(x_new, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != x_src.shape[0]:
        raise ValueError(
            f"values shape {values.shape} does not match {x_src.shape[0]} source points"
        )
    if x_src.size == 1:
        return np.repeat(values, x_new.size, axis=0)
    xc = np.clip(x_new, x_src[0], x_src[-1])
    hi = np.clip(np.searchsorted(x_src, xc, side="right"), 1, x_src.size - 1)
    lo = hi - 1
    w = ((xc - x_src[lo]) / (x_src[hi] - x_src[lo]))[:, None]
    out = values[lo] * (1.0 - w) + values[hi] * w
    exact_lo, exact_hi = (w == 0.0)[:, 0], (w == 1.0)[:, 0]
    out[exact_lo] = values[lo[exact_lo]]
    out[exact_hi] = values[hi[exact_hi]]
    return out


def _make(
    ids: list[str],
    streams: dict[str, np.ndarray],
    sync: np.ndarray,
    groups: dict[str, list[str]],
    source: str,
    layout: str,
) -> FeatureSet:
    names = {m: list(groups[m]) for m in streams}
    return FeatureSet(
        video_ids=list(ids),
        streams=streams,
        sync=sync.astype(np.float32),
        names=names,
        meta={
            "source": "byo",
            "layout": layout,
            "tables": [source],
            "extractors": table_descriptions(names, "sync" in groups),
        },
    )


def merge_feature_sets(parts: list[FeatureSet]) -> FeatureSet:
    """Union of videos and modalities of several FeatureSets (each modality from one part).

    Sync comes from the first part that has a non-NaN triple for a video.
    """
    seen: dict[str, int] = {}
    for k, p in enumerate(parts):
        for m in p.streams:
            if m in seen:
                raise FeatureTableError(
                    f"modality {m!r} is in two tables ({parts[seen[m]].meta.get('tables')} and "
                    f"{p.meta.get('tables')}); give each modality in one table only"
                )
            seen[m] = k
    ids: list[str] = []
    for p in parts:
        ids += [v for v in p.video_ids if v not in set(ids)]
    pos = {v: i for i, v in enumerate(ids)}
    streams, names, extractors = {}, {}, {}
    sync = np.full((len(ids), len(SYNC_FIELDS)), np.nan, dtype=np.float32)
    for p in parts:
        idx = np.array([pos[v] for v in p.video_ids], dtype=int)
        for m, a in p.streams.items():
            full = np.full((len(ids),) + a.shape[1:], np.nan, dtype=np.float32)
            full[idx] = a
            streams[m] = full
            names[m] = p.names.get(m, [])
        cur = sync[idx]
        fill = np.isnan(cur) & ~np.isnan(p.sync)
        cur[fill] = p.sync[fill]
        sync[idx] = cur
        extractors.update(p.meta.get("extractors", {}))
    streams = {m: streams[m] for m in MODALITIES if m in streams}
    return FeatureSet(
        video_ids=ids,
        streams=streams,
        sync=sync,
        names=names,
        meta={"source": "byo", "layout": "merged", "extractors": extractors},
    )


def features_for_training(
    params: dict,
    video_ids: list[str] | None = None,
    table: str | Path | Sequence[str | Path] | None = None,
) -> FeatureSet | None:
    """The FeatureSet named by ``table`` or else ``params['byo']['features_table']`` (None
    when neither is set).

    This is the params switch that makes training read a table instead of the
    extraction cache; ``video_ids`` selects and orders rows (KeyError naming missing ids).
    """
    if table is None:
        table = (params.get("byo") or {}).get("features_table")
    if not table:
        return None
    tables = [table] if isinstance(table, (str, Path)) else list(table)
    feats = params.get("features", {})
    fs = load_feature_table(
        [resolve(t) for t in tables],
        n_frames=int(feats.get("n_frames", GRID_FRAMES)),
        fps=float(feats.get("grid_fps", GRID_FPS)),
    )
    return fs.subset(list(video_ids)) if video_ids is not None else fs
