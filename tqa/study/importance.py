"""Which features a pooled regressor leans on: grouped permutation importance, out of fold.

``tqa cv --importance METHOD``. A researcher who fits a quality model on a few hundred rated
videos asks what it reads: on THQA, the release's IQA columns or its SyncNet triple? Per
(seed, fold) of the same grouped k-fold as ``tqa cv`` (:func:`tqa.study.folds.fold_split`),
the pooled regressor METHOD (one of :data:`PERMUTABLE`) is fitted on the training and
validation parts (:func:`tqa.study.baselines.fit_pooled_models`: the fit of the baseline of
that name) and scored on the test fold, Spearman per task. Then, per feature group, the
group's pooled columns are permuted jointly across the test videos (one permutation for all
of its columns, so the group's own correlations stay and only its link to the rest and to
the label is broken), the test fold is scored again, ``repeats`` times; the importance is
the drop of the score (Breiman 2001, section 10; the "model reliance" of Fisher, Rudin &
Dominici 2019). No refit: the drop says what this fit uses, not what the data could give
without the group (for that: an ablation, a refit without it).

Groups (``by``): ``modality``, the streams (``visual``, ``audio``, ``landmarks``, ``au``)
and the ``sync`` triple; ``column``, every feature column (its pooled mean and std move
together). A pooled column ``X__mean`` / ``X__std`` belongs to the group of ``X``.

Caveats, said in the report: correlated groups share credit (permuting one leaves its
twin to carry the signal, so both read low); a drop within the fold-to-fold spread is no
evidence; the importance is of one regressor, not of tqa's stacked default model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.study.baselines import (
    DETECTOR_REGRESSORS,
    POOLED_REGRESSORS,
    SYNC_REGRESSORS,
    fit_pooled_models,
)
from tqa.study.folds import fold_split, kfold_assignments
from tqa.study.metrics.formulas import spearman
from tqa.study.pooled import _named_task_inputs

#: Regressors whose input is the pooled features of the streams (``task_inputs``), so a
#: pooled column's group is known by its name: every pooled regressor but those that read
#: the sync triple alone or the detector columns.
PERMUTABLE: tuple[str, ...] = tuple(
    name
    for name in POOLED_REGRESSORS
    if name not in SYNC_REGRESSORS and name not in DETECTOR_REGRESSORS
)
#: How columns are grouped (module docstring).
GROUPINGS: tuple[str, ...] = ("modality", "column")
#: Permutations per group and fold (``tqa cv --importance-repeats``).
REPEATS = 5


def column_group(pooled_name: str, by: str) -> str:
    """The group of one pooled column: ``visual__full__sharpness__mean`` -> ``visual``
    (by modality) or ``visual__full__sharpness`` (by column); ``sync__offset`` -> ``sync``
    or ``sync__offset``."""
    if by not in GROUPINGS:
        raise ValueError(f"importance grouping must be one of {GROUPINGS}, got {by!r}")
    base = pooled_name
    for suffix in ("__mean", "__std"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    if by == "column":
        return base
    return base.split("__", 1)[0] if "__" in base else base.split("_", 1)[0]


def permuted_scores(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    columns: Sequence[int],
    repeats: int,
    rng: np.random.Generator,
) -> list[float]:
    """Spearman of ``predict`` on ``x[rows]`` against ``y[rows]`` with ``columns`` of those
    rows permuted jointly, once per repeat: (repeats,) scores."""
    out = []
    for _ in range(int(repeats)):
        xp = x[rows].copy()
        perm = rng.permutation(len(rows))
        xp[:, columns] = xp[perm][:, columns]
        out.append(spearman(y[rows], predict(xp)))
    return out


def fold_importance(
    method: str,
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    seed: int,
    by: str = "modality",
    repeats: int = REPEATS,
) -> pd.DataFrame:
    """One fold: ``task, group, n_columns, base, permuted, drop`` per (task, group).

    ``split``: train / val / test (the regressor fits train + val, is scored on test);
    ``base``: Spearman on the test rows; ``permuted``: its mean over ``repeats``
    permutations of the group (seeded by ``seed``); ``drop`` = base - permuted."""
    if method not in PERMUTABLE:
        raise ValueError(f"--importance needs one of {list(PERMUTABLE)}, got {method!r}")
    labels = np.asarray(labels, dtype=float)
    models = fit_pooled_models(method, fs, labels, split, params, seed)
    inputs = _named_task_inputs(fs, params, method)
    rng = np.random.default_rng(seed)
    test = np.asarray(split) == "test"
    rows_out = []
    for k, task in enumerate(TASKS):
        if task not in models:
            continue
        y = labels[:, k]
        rows = np.flatnonzero(test & np.isfinite(y) & (y != MISSING))
        if len(rows) < 3:
            continue
        x, names = inputs[k]
        base = spearman(y[rows], models[task].predict(x[rows]))
        groups: dict[str, list[int]] = {}
        for j, name in enumerate(names):
            groups.setdefault(column_group(name, by), []).append(j)
        for group, cols in groups.items():
            scores = permuted_scores(models[task].predict, x, y, rows, cols, repeats, rng)
            # mean of the per-repeat drops: a group that moves nothing reads exactly 0
            drop = float(np.mean([base - s for s in scores]))
            rows_out.append({"task": task, "group": group, "n_columns": len(cols),
                             "base": base, "permuted": base - drop, "drop": drop})  # fmt: skip
    return pd.DataFrame(rows_out, columns=["task", "group", "n_columns", "base", "permuted",
                                           "drop"])  # fmt: skip


def cv_importance(
    fs: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    method: str,
    seeds: Sequence[int],
    k: int,
    group_column: str | None,
    val_fraction: float,
    by: str = "modality",
    repeats: int = REPEATS,
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`fold_importance` on every (seed, fold) of ``tqa cv``'s k-fold (the same
    assignments and splits): its rows with ``seed`` and ``fold``."""
    ids = list(fs.video_ids)
    groups = meta[group_column].tolist() if group_column else None
    plans = [(s, f) for s in seeds for f in range(k)]
    parts = []
    assign = {s: kfold_assignments(ids, groups, k, s) for s in seeds}
    for seed, fold in tqdm(plans, desc=f"importance ({method})", disable=not progress):
        split = fold_split(assign[seed], fold, val_fraction, seed)
        part = fold_importance(method, fs, labels, split, params, seed, by, repeats)
        parts.append(part.assign(seed=seed, fold=fold))
    return pd.concat(parts, ignore_index=True)


def importance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (task, group): mean drop over the folds with its 95 % t-interval, the share of
    folds where it is positive, the mean base score; sorted by task, then by mean drop."""
    rows = []
    for (task, group), g in table.groupby(["task", "group"], sort=False):
        d = g["drop"].to_numpy(float)
        n = len(d)
        half = (stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        rows.append({"task": task, "group": group, "n_columns": int(g["n_columns"].iloc[0]),
                     "drop": d.mean(), "ci_lo": d.mean() - half, "ci_hi": d.mean() + half,
                     "positive": float((d > 0).mean()), "base": g["base"].mean(),
                     "n_folds": n})  # fmt: skip
    columns = ["task", "group", "n_columns", "drop", "ci_lo", "ci_hi", "positive", "base",
               "n_folds"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    if out.empty:  # no task with 3 labelled test videos in any fold
        return out
    order = {t: i for i, t in enumerate(TASKS)}
    out["_t"] = out["task"].map(order)
    return (out.sort_values(["_t", "drop"], ascending=[True, False])
            .drop(columns="_t").reset_index(drop=True))  # fmt: skip


def importance_markdown(summary: pd.DataFrame, method: str, by: str, repeats: int) -> str:
    """The report: one table per task, groups by mean drop of Spearman."""
    lines = [
        f"# Permutation importance of `{method}`'s feature groups (by {by})",
        "",
        f"Per (seed, fold) of the k-fold: `{method}` fitted on the training and validation "
        "parts, scored on the test fold (Spearman), then each group's pooled columns "
        f"permuted jointly across the test videos ({repeats} times) and scored again. "
        "**drop** = Spearman lost (mean over the folds, 95 % t-interval); **positive** = "
        "the share of folds where the drop is above 0. Correlated groups share credit "
        "(permuting one leaves its twin to carry the signal); the importance is of this "
        "regressor's fit, not of tqa's stacked default model (tqa/study/importance.py).",
    ]
    for task, g in summary.groupby("task", sort=False):
        lines += [
            "",
            f"## {task} (test-fold Spearman without permutation: {g['base'].mean():.3f})",
            "",
            "| group | pooled columns | drop [95 % CI] | positive |",
            "|---|---|---|---|",
        ]
        for r in g.itertuples():
            lines.append(f"| `{r.group}` | {r.n_columns} | {r.drop:+.3f} [{r.ci_lo:+.3f}, "
                         f"{r.ci_hi:+.3f}] | {r.positive:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
