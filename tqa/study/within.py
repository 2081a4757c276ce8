"""Scores within a grouping column: does a model rank the videos of one generator?

On THQA-like data (portraits x audios x generators) the generator explains much of the MOS:
a lookup of each generator's mean MOS (the ``generator_mean`` baseline) reaches an SRCC of
about 0.6 without looking at a video. A model's overall SRCC mixes two abilities: ordering
the generators and ordering the videos *of one generator*. ``tqa cv --within generator``
separates the second: on each (method, task, seed, fold) test fold, the metric is computed
within each level of the column (the test fold's videos of one generator) and averaged over
the levels with at least :data:`MIN_VIDEOS` scored videos and a defined value, weighted
equally (``n_levels`` counts them). A constant prediction within a level (the lookup) has
no rank correlation there: a method that predicts every level so reads NaN, "undefined".
The folds x seeds values then go through the same interval and paired test as the overall
table (:func:`tqa.study.comparison.compare` with ``scores``).

Only correlation metrics are offered (:data:`WITHIN_METRICS`): an error metric within a
level is the overall one split up, and a 4-parameter logistic fitted to ten videos is not
a fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tqa.study.metrics.tables import metric_functions

#: Metrics computed within a level.
WITHIN_METRICS: tuple[str, ...] = ("spearman", "kendall_tau", "pearson")
#: Fewest scored videos of a level in a test fold for it to count.
MIN_VIDEOS = 3


def within_fold_scores(
    oof: pd.DataFrame, metric: str, levels: pd.Series, min_videos: int = MIN_VIDEOS
) -> pd.DataFrame:
    """``metric`` within each level of ``levels`` (video_id -> level), averaged per (method,
    task, seed, fold) test fold, in :func:`tqa.study.comparison.fold_scores`' shape
    (``value``; ``n``: the videos scored; ``n_levels``: the levels averaged).
    ValueError for a metric outside :data:`WITHIN_METRICS` or a video without a level."""
    if metric not in WITHIN_METRICS:
        raise ValueError(f"--within scores {list(WITHIN_METRICS)}, not {metric!r}")
    fn = metric_functions()[metric]
    level = oof["video_id"].map(levels)
    if level.isna().any():
        missing = oof.loc[level.isna(), "video_id"].iloc[0]
        raise ValueError(f"video {missing!r} has no value in the --within column")
    data = oof.assign(_level=level.to_numpy())
    rows = []
    for (method, task, seed, fold), g in data.groupby(
        ["method", "task", "seed", "fold"], sort=False
    ):
        ok = g["y"].notna() & np.isfinite(g["pred"].to_numpy(float))
        vals, n = [], 0
        for _, part in g[ok].groupby("_level", sort=False):
            if len(part) >= min_videos:
                vals.append(fn(part["y"].to_numpy(float), part["pred"].to_numpy(float)))
                n += len(part)
        v = np.asarray(vals, float)
        v = v[np.isfinite(v)]  # a level the method predicts as one constant has no ranks
        value = float(v.mean()) if len(v) else math.nan
        rows.append({"method": method, "task": task, "seed": seed, "fold": fold,
                     "value": value, "n": n, "n_levels": len(v)})  # fmt: skip
    return pd.DataFrame(rows, columns=["method", "task", "seed", "fold", "value", "n", "n_levels"])


def within_metrics(metrics: Sequence[str]) -> list[str]:
    """The metrics of ``metrics`` that :func:`within_fold_scores` computes, else spearman."""
    chosen = [m for m in metrics if m in WITHIN_METRICS]
    return chosen or ["spearman"]


def level_scores(
    oof: pd.DataFrame, metric: str, levels: pd.Series, min_videos: int = MIN_VIDEOS
) -> pd.DataFrame:
    """Per (method, task, level): ``metric`` within the level on each (seed, fold) test fold
    with at least ``min_videos`` scored videos of it, averaged over those folds (``mean``,
    ``n_folds``): which levels (generators) a method ranks, where :func:`within_fold_scores`
    averages them."""
    fn = metric_functions()[metric]
    data = oof.assign(_level=oof["video_id"].map(levels).to_numpy())
    data = data[data["y"].notna() & np.isfinite(data["pred"].to_numpy(float))]
    rows = []
    for (method, task, level), g in data.groupby(["method", "task", "_level"], sort=False):
        vals = [
            fn(part["y"].to_numpy(float), part["pred"].to_numpy(float))
            for _, part in g.groupby(["seed", "fold"], sort=False)
            if len(part) >= min_videos
        ]
        v = np.asarray(vals, float)
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if len(v) else math.nan
        rows.append(
            {"method": method, "task": task, "level": level, "mean": mean, "n_folds": len(v)}
        )
    return pd.DataFrame(rows, columns=["method", "task", "level", "mean", "n_folds"])


def levels_markdown(scores: pd.DataFrame, metric: str, column: str) -> str:
    """A method x level table of :func:`level_scores` (one per task with values)."""
    lines = []
    for task, part in scores.groupby("task", sort=False):
        wide = part.pivot(index="method", columns="level", values="mean")
        wide = wide.reindex(list(dict.fromkeys(part["method"])))
        if not np.isfinite(wide.to_numpy(float)).any():
            continue
        cols = list(wide.columns)
        lines += [
            f"### {metric} within each {column}, {task} (mean over the test folds)",
            "",
            "| method | " + " | ".join(map(str, cols)) + " |",
            "|---|" + "---|" * len(cols),
        ]
        for m, r in wide.iterrows():
            cells = [f"{v:.3f}" if np.isfinite(v) else "n/a" for v in r.to_numpy(float)]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
