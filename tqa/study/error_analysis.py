"""Prediction-error analysis (chapter 3.4.3) on targets ``(N, 5)`` with -1.0 for missing,
predictions ``(N, 5)`` (NaN where a model does not predict a task) and ``video_ids`` (N), in
TASKS order.

* :func:`residuals` / :func:`residual_summary`: long table of pred - true, and its summary.
* :func:`confusion_matrices`, :func:`class_labels`: 3-class confusion per task (bins of
  ``eval.class_bounds``) and the bins' names.
* :func:`worst_k`: the k largest mean |error| videos joined with their degradation params.
* :func:`error_by_group`: MAE per generator profile / identity.
* :func:`near_constant_tasks`: tasks whose labels barely vary (shown apart).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tqa.core.schema import MISSING, TASKS
from tqa.study.metrics import class_bounds, confusion


def residuals(
    y_true: np.ndarray, y_pred: np.ndarray, video_ids: Sequence[str], tasks: Sequence[str] = TASKS
) -> pd.DataFrame:
    """Long table (video_id, task, true, pred, residual = pred - true, abs_error), valid pairs
    only."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    frames = []
    for k, task in enumerate(tasks):
        keep = np.isfinite(y_true[:, k]) & np.isfinite(y_pred[:, k]) & (y_true[:, k] != MISSING)
        frames.append(
            pd.DataFrame(
                {
                    "video_id": np.asarray(video_ids, dtype=object)[keep],
                    "task": task,
                    "true": y_true[keep, k],
                    "pred": y_pred[keep, k],
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df["residual"] = df["pred"] - df["true"]
    df["abs_error"] = df["residual"].abs()
    return df


def residual_summary(res: pd.DataFrame) -> pd.DataFrame:
    """Per task: n, mean / std / quantiles of the residual, share with |error| > 0.5 and > 1."""
    g = res.groupby("task", sort=False)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "mean": g["residual"].mean(),
            "std": g["residual"].std(),
            "q05": g["residual"].quantile(0.05),
            "median": g["residual"].median(),
            "q95": g["residual"].quantile(0.95),
            "share_abs_gt_0.5": g["abs_error"].apply(lambda s: float((s > 0.5).mean())),
            "share_abs_gt_1.0": g["abs_error"].apply(lambda s: float((s > 1.0).mean())),
        }
    )
    return out.reindex([t for t in TASKS if t in out.index]).reset_index()


def confusion_matrices(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    params_eval: dict | None = None,
    tasks: Sequence[str] = TASKS,
) -> dict[str, np.ndarray]:
    """Task -> (K, K) counts (rows true class, columns predicted class)."""
    b = class_bounds(params_eval)
    return {
        t: confusion(np.asarray(y_true)[:, k], np.asarray(y_pred)[:, k], b)
        for k, t in enumerate(tasks)
    }


def class_labels(
    params_eval: dict | None = None, score_min: float = 1.0, score_max: float = 5.0
) -> list[str]:
    """Readable names of the bins: ['[1,3)', '[3,4)', '[4,5]']."""
    edges = [score_min, *class_bounds(params_eval), score_max]
    return [
        f"[{edges[i]:g},{edges[i + 1]:g}{']' if i == len(edges) - 2 else ')'}"
        for i in range(len(edges) - 1)
    ]


def worst_k(
    res: pd.DataFrame,
    k: int = 10,
    degradations: pd.DataFrame | None = None,
    meta: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``k`` videos with the largest mean |error| over their rated tasks, with per-task
    residuals, metadata (group, generator) and degradation parameters joined on video_id."""
    wide = res.pivot(index="video_id", columns="task", values="residual")
    wide = wide[[t for t in TASKS if t in wide.columns]].add_prefix("residual_")
    wide.insert(0, "mean_abs_error", res.groupby("video_id")["abs_error"].mean())
    out = wide.sort_values("mean_abs_error", ascending=False).head(int(k)).reset_index()
    if meta is not None:
        cols = [c for c in ("video_id", "group", "generator") if c in meta.columns]
        out = out.merge(meta[cols], on="video_id", how="left")
    if degradations is not None:
        extra = [c for c in degradations.columns if c not in out.columns or c == "video_id"]
        out = out.merge(degradations[extra], on="video_id", how="left")
    return out


def error_by_group(res: pd.DataFrame, meta: pd.DataFrame, column: str) -> pd.DataFrame:
    """MAE, bias and n per (``column`` value, task); ``column`` e.g. 'generator' or 'group'."""
    if column not in meta.columns:
        raise KeyError(f"no column {column!r} in metadata (columns: {list(meta.columns)})")
    df = res.merge(meta[["video_id", column]], on="video_id", how="left")
    df[column] = df[column].fillna("(none)").astype(str)
    g = df.groupby([column, "task"], sort=True)
    out = pd.DataFrame(
        {"n": g.size(), "mae": g["abs_error"].mean(), "bias": g["residual"].mean()}
    ).reset_index()
    out["task"] = pd.Categorical(
        out["task"], [t for t in TASKS if t in set(out["task"])], ordered=True
    )
    return out.sort_values([column, "task"]).reset_index(drop=True).astype({"task": str})


def near_constant_tasks(
    labels: np.ndarray, threshold: float, tasks: Sequence[str] = TASKS, missing: float = MISSING
) -> list[str]:
    """Tasks whose present labels (``labels`` (N, T), ``missing`` = absent) have a std
    (ddof=1) below ``threshold`` score units (``data.near_zero_std``; chapter 3.1.2: lip_sync):
    their correlations are unstable and are shown apart, not averaged with the rest."""
    out = []
    for k, task in enumerate(tasks):
        v = np.asarray(labels, float)[:, k]
        v = v[np.isfinite(v) & (v != missing)]
        if v.size >= 2 and float(np.std(v, ddof=1)) < threshold:
            out.append(task)
    return out
