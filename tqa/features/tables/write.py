"""A :class:`~tqa.core.schema.FeatureSet` out as a feature table (long or per-video; format:
:mod:`tqa.features.tables`), written to CSV or Parquet atomically."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.atomic import atomic_path, write_csv
from tqa.core.schema import FeatureSet
from tqa.features.tables.columns import SEP, SYNC_COLUMNS, FeatureTableError


def feature_table_from_featureset(fs: FeatureSet, per_video: bool = False) -> pd.DataFrame:
    """A FeatureSet as a long table (``video_id``, ``frame``, prefixed columns, sync__*).

    ``per_video=True`` writes one row per video with each stream's mean over time
    (NaN-aware) instead — the per-video layout. Column names are ``fs.names`` (prefixed
    with ``<modality>__`` when they are not already) or ``<modality>__f<i>``.
    """
    n = len(fs.video_ids)
    cols: dict[str, np.ndarray] = {}
    mods = fs.modalities
    T = next(iter(fs.streams.values())).shape[1] if fs.streams else 1
    reps = 1 if per_video else T
    cols["video_id"] = np.repeat(np.asarray(fs.video_ids, dtype=object), reps)
    if not per_video:
        cols["frame"] = np.tile(np.arange(T, dtype=np.int64), n)
    for m in mods:
        arr = fs.streams[m]
        if per_video:
            with warnings.catch_warnings():  # all-NaN columns -> NaN, silently
                warnings.simplefilter("ignore", RuntimeWarning)
                arr = np.nanmean(arr, axis=1, keepdims=True)
        flat = arr.reshape(-1, arr.shape[2])
        for j, c in enumerate(_prefixed_names(fs, m, arr.shape[2])):
            cols[c] = flat[:, j]
    for k, c in enumerate(SYNC_COLUMNS):
        cols[c] = np.repeat(fs.sync[:, k], reps)
    return pd.DataFrame(cols)


def _prefixed_names(fs: FeatureSet, m: str, dim: int) -> list[str]:
    """Column names of modality ``m``: ``fs.names`` prefixed ``<m>__``, else ``<m>__f<i>``."""
    names = list(fs.names.get(m) or [])
    if len(names) != dim:
        return [f"{m}{SEP}f{i}" for i in range(dim)]
    out = [c if c.startswith(m + SEP) else f"{m}{SEP}{c}" for c in names]
    if len(set(out)) != dim:
        return [f"{m}{SEP}f{i}" for i in range(dim)]
    return out


def write_feature_table(fs: FeatureSet, path: str | Path, per_video: bool = False) -> Path:
    """Write :func:`feature_table_from_featureset` to CSV or Parquet (by suffix), atomically."""
    path = Path(path)
    df = feature_table_from_featureset(fs, per_video=per_video)
    if path.name.lower().endswith((".parquet", ".pq")):
        with atomic_path(path, suffix=".parquet") as tmp:
            df.to_parquet(tmp, index=False)
    elif path.name.lower().endswith(".csv"):
        write_csv(path, df, float_format="%.9g")
    else:
        raise FeatureTableError(
            f"{path}: unknown table format {path.suffix!r}; use .csv or .parquet"
        )
    return path
