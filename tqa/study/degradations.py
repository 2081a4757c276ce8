"""Errors and predictions against the injected degradations (chapter 3.4.3): the sample
corpus's ground-truth ``degradations.csv``, which of its columns to correlate, and Spearman
of |error| (resp. each predicted score) with every degradation parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from tqa.core.params import resolve
from tqa.core.schema import TASKS
from tqa.study.metrics import spearman

#: Name of the ground-truth degradation table the sample corpus writes beside labels.csv.
DEGRADATIONS_FILE: str = "degradations.csv"


def load_degradations(root: str | Path) -> pd.DataFrame | None:
    """``<root>/degradations.csv`` (ground truth of the sample corpus), or None when absent."""
    path = Path(resolve(root)) / DEGRADATIONS_FILE
    if not path.exists():
        return None
    df = pd.read_csv(path, dtype={"video_id": str})
    if "video_id" not in df.columns:
        raise ValueError(f"{path}: no 'video_id' column (columns: {list(df.columns)})")
    return df


def numeric_columns(df: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-constant columns (degradation parameters worth correlating),
    minus ``video_id``, task columns and ``exclude`` (identifiers such as a row index or
    a render seed: ``eval.degradation_exclude``)."""
    cols = []
    for c in df.columns:
        if c == "video_id" or c in exclude or c in TASKS:
            continue
        s = pd.to_numeric(df[c], errors="coerce")
        if (
            s.notna().sum() >= 3
            and s.dropna().nunique() > 1
            and pd.api.types.is_numeric_dtype(df[c])
        ):
            cols.append(c)
    return cols


def _spearman_row(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """Spearman rho, its p-value and n over the pairs finite on both sides."""
    keep = np.isfinite(x) & np.isfinite(y)
    n = int(keep.sum())
    rho = spearman(x[keep], y[keep])
    if not np.isfinite(rho):
        return math.nan, math.nan, n
    return rho, float(stats.spearmanr(x[keep], y[keep]).pvalue), n


def select_degradations(degradations: pd.DataFrame, params_eval: dict | None) -> pd.DataFrame:
    """``video_id`` + the injected impairments listed in ``eval.degradation_params`` (columns
    absent from the file are skipped); without that list, every column (then
    ``eval.degradation_exclude`` applies). Descriptors such as pitch or fps are not
    degradations: correlating them with the error only adds false leads at n ~ 20."""
    wanted = (params_eval or {}).get("degradation_params")
    if not wanted:
        return degradations
    return degradations[["video_id", *[c for c in wanted if c in degradations.columns]]]


def error_vs_degradation(
    res: pd.DataFrame, degradations: pd.DataFrame, exclude: Sequence[str] = ()
) -> pd.DataFrame:
    """Spearman rho (and p) of |error| with each numeric degradation column, per task."""
    deg = degradations.set_index("video_id")
    rows = []
    for task, g in res.groupby("task", sort=False):
        sub = deg.reindex(g["video_id"])
        for col in numeric_columns(degradations, exclude):
            rho, pval, n = _spearman_row(
                pd.to_numeric(sub[col], errors="coerce").to_numpy(float),
                g["abs_error"].to_numpy(float),
            )
            rows.append(
                {"task": task, "parameter": col, "spearman_abs_error": rho, "p_value": pval, "n": n}
            )
    return pd.DataFrame(rows)


def prediction_vs_degradation(
    y_pred: np.ndarray,
    video_ids: Sequence[str],
    degradations: pd.DataFrame,
    tasks: Sequence[str] = TASKS,
    exclude: Sequence[str] = (),
) -> pd.DataFrame:
    """Spearman rho of each predicted score with each injected degradation level (task x
    parameter)."""
    deg = degradations.set_index("video_id").reindex(list(video_ids))
    rows = []
    for k, task in enumerate(tasks):
        for col in numeric_columns(degradations, exclude):
            rho, pval, n = _spearman_row(
                pd.to_numeric(deg[col], errors="coerce").to_numpy(float),
                np.asarray(y_pred, float)[:, k],
            )
            rows.append({"task": task, "parameter": col, "spearman": rho, "p_value": pval, "n": n})
    return pd.DataFrame(rows)
