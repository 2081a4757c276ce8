"""The feature-table format (see :mod:`tqa.features.tables`): column naming
(``<modality>__<name>``, key columns, the per-video sync columns), the error a bad table
raises, reading a CSV / Parquet file, and the extractor-like description of table features
that a model bundle checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from tqa.core.schema import SYNC_FIELDS

#: Separator between the modality prefix and the feature name in a column name.
SEP = "__"
#: Columns that identify a row rather than hold a feature.
KEY_COLUMNS: tuple[str, ...] = ("video_id", "frame", "time")
#: The per-video sync columns, in SYNC_FIELDS order.
SYNC_COLUMNS: tuple[str, ...] = tuple(f"sync{SEP}{f}" for f in SYNC_FIELDS)


class FeatureTableError(ValueError):
    """A feature table that cannot be read; the message names the file, row and column."""


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) table."""
    path = Path(path)
    if not path.exists():
        raise FeatureTableError(f"{path}: feature table not found")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, dtype={"video_id": str}, low_memory=False)
    if name.endswith((".tsv", ".tsv.gz")):
        return pd.read_csv(path, sep="\t", dtype={"video_id": str}, low_memory=False)
    raise FeatureTableError(
        f"{path}: unknown table format {path.suffix!r}; use .csv, .tsv or .parquet"
    )


def row_ref(i: int) -> str:
    """Human row reference: 0-based data row -> 1-based row and its CSV line."""
    return f"row {i + 1} (CSV line {i + 2})"


def table_descriptions(names: dict[str, list[str]], has_sync: bool = True) -> dict[str, dict]:
    """Extractor-like descriptions of table features (``name='table'``).

    ``version`` is a hash of the column names, so a model bundle trained on a table only
    accepts tables with the same columns in the same order.
    """
    out: dict[str, dict] = {}
    for m, cols in names.items():
        out[m] = {"name": "table", "modality": m, "version": _columns_hash(cols), "dim": len(cols)}
    if has_sync:
        out["sync"] = {
            "name": "table",
            "modality": "sync",
            "version": _columns_hash(list(SYNC_COLUMNS)),
            "dim": len(SYNC_FIELDS),
        }
    return out


def _columns_hash(cols: list[str]) -> str:
    """``cols-`` + 12 hex digits of the SHA-256 of the column names in order."""
    return "cols-" + hashlib.sha256("\n".join(cols).encode()).hexdigest()[:12]
