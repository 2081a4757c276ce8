"""A MOS release's own precomputed features as tqa feature tables (the column mapping).

Public talking-head MOS releases ship features instead of videos. THQA (Zhou et al.,
ICIP 2024), for example, ships a per-frame table (``Image``, ``png`` = ``N.png``, then 21
IQA / face-identity columns on 3-10 frames per video) and, in its MOS table, SyncNet's
per-video ``avset`` (offset, frames), ``distance`` and ``confi`` (confidence). tqa reads
features as ``<modality>__<name>`` columns (:mod:`tqa.features.tables`); this module is the
documented mapping, used by ``tqa import-thqa --frames ... --features-out DIR``:

* every numeric column of the per-frame table -> ``visual__<column>`` (``--frames-modality``),
  one row per (video, frame); the frame index is the number in the frame file name;
* the MOS table's sync columns -> ``sync__offset`` / ``sync__distance`` /
  ``sync__confidence`` (one row per video).

Both are written atomically; nothing is written when any row is bad (the error names the
file and the row).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv
from tqa.core.schema import MODALITIES, SYNC_FIELDS

#: THQA's sync column names -> tqa's SYNC_FIELDS.
THQA_SYNC_COLUMNS: dict[str, str] = {"avset": "offset", "distance": "distance",
                                     "confi": "confidence"}  # fmt: skip
#: Columns of a per-frame release table that identify the row, not a feature.
FRAME_KEYS: tuple[str, ...] = ("png", "frame", "file")


class ReleaseFeatureError(ValueError):
    """A release feature table that cannot be mapped; the message names the file and row."""


def frame_table(
    frames: pd.DataFrame,
    name_col: str,
    source: str,
    modality: str = "visual",
    names: set[str] | None = None,
    id_fn: Callable[[str], str] = str.strip,
) -> pd.DataFrame:
    """Long tqa table ``video_id, frame, <modality>__*`` from a per-frame release table.

    ``frames``: one row per (video, frame); ``name_col`` names the video; the frame index is
    the first integer in ``png`` / ``frame`` / ``file``. ``names``: the MOS table's video
    ids (a frame row of another video is an error); ``id_fn``: name -> video id, as the
    labels' importer makes them. Non-numeric cells are errors.
    """
    if modality not in MODALITIES:
        raise ReleaseFeatureError(f"{source}: modality {modality!r} is not one of {MODALITIES}")
    if name_col not in frames.columns:
        raise ReleaseFeatureError(f"{source}: no column {name_col!r} (the video names)")
    key = next((c for c in FRAME_KEYS if c in frames.columns), None)
    if key is None:
        raise ReleaseFeatureError(f"{source}: no frame column (one of {list(FRAME_KEYS)})")
    df = frames.reset_index(drop=True)
    index = df[key].astype(str).map(_frame_number)
    if index.isna().any():
        row = int(np.flatnonzero(index.isna().to_numpy())[0])
        raise ReleaseFeatureError(
            f"{source}: row {row + 2} ({df.loc[row, name_col]}): no frame number in "
            f"{key} = {df.loc[row, key]!r}"
        )
    video = df[name_col].astype(str).map(id_fn)
    if names is not None:
        unknown = ~video.isin(names)
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ReleaseFeatureError(
                f"{source}: row {row + 2}: video {video[row]!r} is not in the MOS table "
                f"({int(unknown.sum())} such row(s))"
            )
    dup = pd.DataFrame({"v": video, "f": index}).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise ReleaseFeatureError(
            f"{source}: row {row + 2}: frame {index[row]} of {video[row]!r} appears twice"
        )
    cols = [c for c in df.columns if c not in (name_col, key)]
    out = pd.DataFrame({"video_id": video, "frame": index.astype(int)})
    for c in cols:
        out[f"{modality}__{c}"] = _numeric(df[c], source)
    if len(cols) == 0:
        raise ReleaseFeatureError(f"{source}: no feature column besides {name_col!r}, {key!r}")
    return out.sort_values(["video_id", "frame"], kind="stable").reset_index(drop=True)


def sync_table(
    mos: pd.DataFrame,
    name_col: str,
    source: str,
    columns: Mapping[str, str] | None = None,
    id_fn: Callable[[str], str] = str.strip,
) -> pd.DataFrame | None:
    """Per-video ``video_id, sync__offset, sync__distance, sync__confidence`` from the MOS
    table's sync columns (default THQA's ``avset``, ``distance``, ``confi``); None when the
    table has none of them. Non-numeric cells are errors."""
    columns = dict(columns or THQA_SYNC_COLUMNS)
    present = {src: dst for src, dst in columns.items() if src in mos.columns}
    if not present:
        return None
    bad_dst = sorted(set(present.values()) - set(SYNC_FIELDS))
    if bad_dst:
        raise ReleaseFeatureError(f"sync fields must be among {SYNC_FIELDS}; got {bad_dst}")
    out = pd.DataFrame({"video_id": mos[name_col].astype(str).map(id_fn)})
    for src, dst in present.items():
        out[f"sync__{dst}"] = _numeric(mos[src], source)
    for f in SYNC_FIELDS:  # a missing field is NaN (the imputer of the model fills it)
        if f"sync__{f}" not in out.columns:
            out[f"sync__{f}"] = np.nan
    return out[["video_id", *(f"sync__{f}" for f in SYNC_FIELDS)]]


def release_feature_tables(
    mos: pd.DataFrame,
    name_col: str,
    frames_csv: str | Path | None = None,
    modality: str = "visual",
    mos_source: str = "<mos>",
    id_fn: Callable[[str], str] = str.strip,
) -> dict[str, pd.DataFrame]:
    """``{"frames.csv": long table (from frames_csv), "sync.csv": per-video sync}``, each
    when its source exists; built and checked, nothing written."""
    names = set(mos[name_col].astype(str).map(id_fn))
    tables: dict[str, pd.DataFrame] = {}
    if frames_csv is not None:
        path = Path(frames_csv)
        if not path.is_file():
            raise ReleaseFeatureError(f"{path}: per-frame feature table not found")
        tables["frames.csv"] = frame_table(pd.read_csv(path), name_col, str(path), modality,
                                           names, id_fn)  # fmt: skip
    sync = sync_table(mos, name_col, mos_source, id_fn=id_fn)
    if sync is not None:
        tables["sync.csv"] = sync
    if not tables:
        raise ReleaseFeatureError(
            f"{mos_source}: nothing to map: no --frames table and no sync columns "
            f"({', '.join(THQA_SYNC_COLUMNS)})"
        )
    return tables


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write each table atomically as ``out_dir/<name>``; the paths, in order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        write_csv(out / name, df, float_format="%.8g")
    return [out / name for name in tables]


def _numeric(col: pd.Series, source: str) -> np.ndarray:
    """(n,) floats of a column; an empty cell is NaN, any other non-number an error naming
    the file, the row (as a spreadsheet numbers it: header = 1) and the column."""
    col = col.reset_index(drop=True)
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna() & col.notna() & (col.astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReleaseFeatureError(
            f"{source}: row {row + 2}, column {col.name!r}: {col[row]!r} is not a number"
        )
    return values.to_numpy(float)


def _frame_number(text: str) -> float:
    m = re.search(r"\d+", text)
    return float(m.group()) if m else float("nan")
