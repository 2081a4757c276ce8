"""Data analysis (chapter 3.1.2-3.1.3): label statistics, inter-task correlations, feature scales.

Pure functions over a labels table (``video_id`` + the five TASKS, -1.0 = missing) or a
:class:`tqa.core.schema.FeatureSet`; notebook 01 calls them and plots the results. Every
statistic of a task uses only the videos where that task is present; the standard
deviation and variance are the sample ones (ddof = 1, pandas' default).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from tqa.core.schema import MISSING, MODALITIES, SYNC_FIELDS, TASKS, FeatureSet
from tqa.study.inputs import load_cached_features  # noqa: F401 (notebook 01 imports it here)

log = logging.getLogger(__name__)


def present_mask(
    labels: pd.DataFrame, tasks: Sequence[str] = TASKS, missing: float = MISSING
) -> pd.DataFrame:
    """Boolean (N, tasks): True where the label is present (not the missing code, not NaN)."""
    vals = labels[list(tasks)].astype(np.float64)
    return vals.ne(missing) & vals.notna()


def label_summary(
    labels: pd.DataFrame, tasks: Sequence[str] = TASKS, missing: float = MISSING
) -> pd.DataFrame:
    """Per task: n, n_present, present_rate, missing_rate, mean, std, var, min, max, median.

    Statistics over present labels only; std / var with ddof = 1 (NaN with < 2 labels).
    One row per task, in ``tasks`` order, column ``task`` first.
    """
    mask = present_mask(labels, tasks, missing)
    rows = []
    n = len(labels)
    for t in tasks:
        v = labels.loc[mask[t], t].astype(np.float64).to_numpy()
        k = len(v)
        rows.append(
            {
                "task": t,
                "n": n,
                "n_present": k,
                "present_rate": k / n if n else math.nan,
                "missing_rate": 1 - k / n if n else math.nan,
                "mean": float(v.mean()) if k else math.nan,
                "std": float(v.std(ddof=1)) if k > 1 else math.nan,
                "var": float(v.var(ddof=1)) if k > 1 else math.nan,
                "min": float(v.min()) if k else math.nan,
                "max": float(v.max()) if k else math.nan,
                "median": float(np.median(v)) if k else math.nan,
            }
        )
    return pd.DataFrame(rows)


def near_zero_variance(summary: pd.DataFrame, threshold: float) -> list[str]:
    """Tasks whose label std is below ``threshold`` (score units): near-constant targets.

    Chapter 3.1.2 reports this for lip_sync (mean 4.763, std ~0): such a task carries
    almost no signal to learn and its correlation metrics are undefined or unstable.
    """
    std = summary.set_index("task")["std"]
    return [t for t, s in std.items() if not np.isnan(s) and s < threshold]


def pair_counts(
    labels: pd.DataFrame, tasks: Sequence[str] = TASKS, missing: float = MISSING
) -> pd.DataFrame:
    """(tasks, tasks) number of videos where both tasks are present."""
    m = present_mask(labels, tasks, missing).to_numpy(dtype=np.int64)
    return pd.DataFrame(m.T @ m, index=list(tasks), columns=list(tasks))


def task_correlations(
    labels: pd.DataFrame,
    method: str = "pearson",
    tasks: Sequence[str] = TASKS,
    missing: float = MISSING,
) -> pd.DataFrame:
    """(tasks, tasks) correlation over the rows where both tasks are present.

    method: ``pearson`` or ``spearman`` (Pearson of average ranks). NaN where fewer than
    3 pairs or a task is constant on the shared rows (e.g. a zero-variance lip_sync).
    ``.attrs["n_pairs"]`` holds :func:`pair_counts`, ``.attrs["min_pairs"]`` its
    smallest off-diagonal entry.
    """
    if method not in {"pearson", "spearman"}:
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    tasks = list(tasks)
    mask = present_mask(labels, tasks, missing)
    vals = labels[tasks].astype(np.float64)
    out = np.full((len(tasks), len(tasks)), np.nan)
    for i, a in enumerate(tasks):
        for j, b in enumerate(tasks):
            if j < i:
                out[i, j] = out[j, i]
                continue
            both = (mask[a] & mask[b]).to_numpy()
            x, y = vals[a].to_numpy()[both], vals[b].to_numpy()[both]
            out[i, j] = _corr(x, y, method)
    res = pd.DataFrame(out, index=tasks, columns=tasks)
    counts = pair_counts(labels, tasks, missing)
    off = counts.to_numpy()[~np.eye(len(tasks), dtype=bool)]
    res.attrs["n_pairs"] = counts
    res.attrs["min_pairs"] = int(off.min()) if off.size else int(counts.to_numpy().min())
    res.attrs["method"] = method
    return res


def _corr(x: np.ndarray, y: np.ndarray, method: str) -> float:
    if len(x) < 3:
        return math.nan
    if method == "spearman":
        x, y = rankdata(x), rankdata(y)
    x = x - x.mean()
    y = y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    if den <= 1e-12 * max(1.0, len(x)):
        return math.nan
    return float(np.clip((x @ y) / den, -1.0, 1.0))


def correlations_long(corr: pd.DataFrame) -> pd.DataFrame:
    """Upper-triangle pairs of a correlation matrix as rows ``task_a, task_b, r, n_pairs``."""
    counts = corr.attrs.get("n_pairs")
    rows = []
    tasks = list(corr.index)
    for i, a in enumerate(tasks):
        for b in tasks[i + 1 :]:
            rows.append(
                {
                    "task_a": a,
                    "task_b": b,
                    "r": corr.loc[a, b],
                    "n_pairs": int(counts.loc[a, b]) if counts is not None else np.nan,
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# features


def _stats(arr: np.ndarray) -> dict:
    """Value statistics of an array of any shape, NaN-aware, accumulated in float64."""
    a = np.asarray(arr)
    finite = np.isfinite(a)
    n_nan = int(np.isnan(a).sum())
    if not finite.any():
        return {
            "min": math.nan,
            "max": math.nan,
            "abs_max": math.nan,
            "mean": math.nan,
            "std": math.nan,
            "nan_count": n_nan,
            "nan_rate": n_nan / a.size if a.size else math.nan,
        }
    v = a[finite].astype(np.float64)
    return {
        "min": float(v.min()),
        "max": float(v.max()),
        "abs_max": float(np.abs(v).max()),
        "mean": float(v.mean()),
        "std": float(v.std()),
        "nan_count": n_nan,
        "nan_rate": n_nan / a.size,
    }


def feature_scale_table(features: FeatureSet, include_sync: bool = False) -> pd.DataFrame:
    """Per modality: dim, min, max, abs_max, mean, std (population, all values), NaN count/rate,
    ``log10_abs_max`` and ``orders_vs_smallest`` = log10(abs_max / smallest abs_max).

    This is the scale imbalance of chapter 3.1.3 ("value ranges differ by three orders of
    magnitude") that per-modality standardisation removes; ``.attrs["orders_spread"]``
    is log10(largest / smallest abs_max) across the modalities (sync excluded).
    """
    rows = []
    for m in features.modalities:
        arr = features.streams[m]
        rows.append({"modality": m, "dim": int(arr.shape[2]), **_stats(arr)})
    if include_sync:
        rows.append({"modality": "sync", "dim": len(SYNC_FIELDS), **_stats(features.sync)})
    df = pd.DataFrame(rows)
    if df.empty:
        df.attrs["orders_spread"] = math.nan
        return df
    with np.errstate(divide="ignore", invalid="ignore"):
        df["log10_abs_max"] = np.log10(df["abs_max"].astype(np.float64))
    mods = df["modality"].isin(MODALITIES) & (df["abs_max"] > 0)
    smallest = df.loc[mods, "abs_max"].min() if mods.any() else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        df["orders_vs_smallest"] = np.log10(df["abs_max"].astype(np.float64) / smallest)
    df.attrs["orders_spread"] = (
        float(df.loc[mods, "orders_vs_smallest"].max()) if mods.any() else math.nan
    )
    return df


def nan_counts(features: FeatureSet) -> pd.DataFrame:
    """Per modality (and sync): NaN values, their rate, and frames / videos / dims holding any NaN.

    The chapter (3.1.3) found 2,445 NaN values in its visual features and imputed them
    with the median; this table is where our extraction's count comes from.
    """
    rows = []
    for m in features.modalities:
        isn = np.isnan(features.streams[m])  # (N, T, D)
        rows.append(
            {
                "modality": m,
                "nan_count": int(isn.sum()),
                "nan_rate": float(isn.mean()) if isn.size else math.nan,
                "frames_with_nan": int(isn.any(axis=2).sum()),
                "videos_with_nan": int(isn.any(axis=(1, 2)).sum()),
                "dims_with_nan": int(isn.any(axis=(0, 1)).sum()),
            }
        )
    isn = np.isnan(features.sync)  # (N, 3)
    rows.append(
        {
            "modality": "sync",
            "nan_count": int(isn.sum()),
            "nan_rate": float(isn.mean()) if isn.size else math.nan,
            "frames_with_nan": 0,
            "videos_with_nan": int(isn.any(axis=1).sum()),
            "dims_with_nan": int(isn.any(axis=0).sum()),
        }
    )
    return pd.DataFrame(rows)


def extractor_names(features: FeatureSet) -> dict[str, str] | None:
    """``{modality: "name vVERSION"}`` from a FeatureSet's meta (None when it carries none)."""
    ex = features.meta.get("extractors") or {}
    if not ex:
        return None
    out = {}
    for m, d in ex.items():
        out[m] = f"{d.get('name', '?')} v{d.get('version', '?')}" if isinstance(d, dict) else str(d)
    return out


def data_summary(summary: pd.DataFrame, n_videos: int, n_problems: int, provenance: str) -> dict:
    """JSON-able metrics for DVC: per-task present_rate / mean / std plus counts and provenance."""

    def num(x: float) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)

    return {
        "n_videos": int(n_videos),
        "n_problems": int(n_problems),
        "provenance": provenance,
        "tasks": {
            r.task: {"present_rate": num(r.present_rate), "mean": num(r.mean), "std": num(r.std)}
            for r in summary.itertuples(index=False)
        },
    }
