"""Which features a model leans on: grouped permutation importance, out of fold.

``tqa cv --importance METHOD``. A researcher who fits a quality model on a few hundred rated
videos asks what it reads: on THQA, the release's IQA columns or its SyncNet triple? Per
(seed, fold) of the same grouped k-fold as ``tqa cv`` (:func:`tqa.study.folds.fold_split`),
METHOD (tqa's default model ``tqa:stack`` or a pooled regressor, :data:`METHODS`) is
refitted on that fold's split (:func:`tqa.study.method_refit.refit_method`: the same fit as
the k-fold's) and scored on the test fold, Spearman per task. Then, per feature group, the
group's columns are permuted jointly across the test videos (one permutation for all of
its columns, each video's whole time series moving with it, so the group's own structure
stays and only its link to the rest and to the label is broken), the test fold is scored
again, ``repeats`` times; the importance is the drop of the score (Breiman 2001, section 10;
the "model reliance" of Fisher, Rudin & Dominici 2019). No refit on permuted data: the drop
says what this fit uses, not what the data could give without the group (for that: an
ablation, a refit without it).

Groups (``by``): ``modality``, the streams (``visual``, ``audio``, ``landmarks``, ``au``)
and the ``sync`` triple; ``column``, every feature column (a per-frame column and every
statistic pooled from it move together) and each sync field.

Caveats, said in the report: correlated groups share credit (permuting one leaves its
twin to carry the signal, so both read low); a drop within the fold-to-fold spread is no
evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from tqa.core.schema import MISSING, SYNC_FIELDS, TASKS, FeatureSet
from tqa.study.blend import Blend
from tqa.study.folds import fold_split, kfold_assignments
from tqa.study.method_refit import REFITTABLE, Predictor, refit_method
from tqa.study.metrics.formulas import spearman

#: Methods whose importance ``tqa cv --importance`` measures (refittable on one split).
METHODS: tuple[str, ...] = REFITTABLE
#: How columns are grouped (module docstring).
GROUPINGS: tuple[str, ...] = ("modality", "column")
#: Permutations per group and fold (``tqa cv --importance-repeats``).
REPEATS = 5
#: One feature column: (stream, column index), or ("sync", field index).
Column = tuple[str, int]


def column_group(name: str, by: str) -> str:
    """The group of one feature column, or of a statistic pooled from it:
    ``visual__full__sharpness`` (or ``..._sharpness__mean``) -> ``visual`` (by modality) or
    ``visual__full__sharpness`` (by column); ``sync__offset`` -> ``sync`` or itself."""
    if by not in GROUPINGS:
        raise ValueError(f"importance grouping must be one of {GROUPINGS}, got {by!r}")
    base = name
    for suffix in ("__mean", "__std"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    if by == "column":
        return base
    return base.split("__", 1)[0] if "__" in base else base.split("_", 1)[0]


def feature_groups(fs: FeatureSet, by: str) -> dict[str, list[Column]]:
    """group -> its columns (:data:`Column`), streams in ``fs.modalities`` order, then sync."""
    groups: dict[str, list[Column]] = {}
    for m in fs.modalities:
        names = fs.names.get(m) or [f"{m}_{i}" for i in range(fs.streams[m].shape[2])]
        for j, name in enumerate(names):
            groups.setdefault(column_group(name, by), []).append((m, j))
    for j, field in enumerate(SYNC_FIELDS):
        groups.setdefault(column_group(f"sync__{field}", by), []).append(("sync", j))
    return groups


def permuted(fs: FeatureSet, columns: Sequence[Column], perm: np.ndarray) -> FeatureSet:
    """A copy of ``fs`` whose ``columns`` take the values of video ``perm[i]`` in row i
    (whole time series), every other column untouched."""
    streams = {m: a.copy() if any(c[0] == m for c in columns) else a
               for m, a in fs.streams.items()}  # fmt: skip
    sync = fs.sync.copy()
    for m, j in columns:
        if m == "sync":
            sync[:, j] = fs.sync[perm, j]
        else:
            streams[m][:, :, j] = fs.streams[m][perm, :, j]
    return FeatureSet(list(fs.video_ids), streams, sync, dict(fs.names), dict(fs.meta))


def fold_importance(
    predict: Predictor,
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    seed: int,
    by: str = "modality",
    repeats: int = REPEATS,
) -> pd.DataFrame:
    """One fold: ``task, group, n_columns, base, permuted, drop`` per (task, group).

    ``predict``: the fold's fit (:func:`tqa.study.method_refit.refit_method`); ``base``:
    its Spearman on the test rows; ``permuted``: the mean over ``repeats`` permutations of
    the group among the test videos (seeded by ``seed``); ``drop`` = base - permuted, the
    mean of the per-repeat drops, so a group that moves nothing reads exactly 0."""
    labels = np.asarray(labels, dtype=float)
    test = np.flatnonzero(np.asarray(split) == "test")
    sub = fs.subset([fs.video_ids[i] for i in test])
    y = labels[test]
    base_pred = predict(sub)
    tasks = [k for k in range(len(TASKS))
             if np.isfinite(base_pred[:, k]).all() and _scored(y[:, k]).sum() >= 3]  # fmt: skip
    base = {k: spearman(y[_scored(y[:, k]), k], base_pred[_scored(y[:, k]), k]) for k in tasks}
    rng = np.random.default_rng(seed)
    drops: dict[tuple[int, str], list[float]] = {}
    groups = feature_groups(fs, by)
    for group, cols in groups.items():
        for _ in range(int(repeats)):
            pred = predict(permuted(sub, cols, rng.permutation(len(test))))
            for k in tasks:
                ok = _scored(y[:, k])
                drops.setdefault((k, group), []).append(base[k] - spearman(y[ok, k], pred[ok, k]))
    rows = [{"task": TASKS[k], "group": g, "n_columns": len(groups[g]), "base": base[k],
             "permuted": base[k] - float(np.mean(d)), "drop": float(np.mean(d))}
            for (k, g), d in drops.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "group", "n_columns", "base", "permuted", "drop"])


def _scored(y: np.ndarray) -> np.ndarray:
    """(M,) bool: a present label."""
    return np.isfinite(y) & (y != MISSING)


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
    blends: dict[tuple[int, int], list[Blend | None]] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`fold_importance` of ``method`` on every (seed, fold) of ``tqa cv``'s k-fold
    (the same assignments and splits): its rows with ``seed`` and ``fold``. ``blends``: the
    k-fold's blends per (seed, fold), for ``tqa:stack``."""
    if method not in METHODS:
        raise ValueError(f"--importance needs one of {list(METHODS)}, got {method!r}")
    ids = list(fs.video_ids)
    groups = meta[group_column].tolist() if group_column else None
    plans = [(s, f) for s in seeds for f in range(k)]
    parts = []
    assign = {s: kfold_assignments(ids, groups, k, s) for s in seeds}
    for seed, fold in tqdm(plans, desc=f"importance ({method})", disable=not progress):
        split = fold_split(assign[seed], fold, val_fraction, seed)
        fold_blends = (blends or {}).get((seed, fold))
        predict = refit_method(method, fs, labels, split, params, seed, fold_blends)
        part = fold_importance(predict, fs, labels, split, seed, by, repeats)
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
        f"Per (seed, fold) of the k-fold: `{method}` refitted on that fold's split as the "
        "k-fold fitted it, scored on the test fold (Spearman), then each group's columns "
        f"permuted jointly across the test videos ({repeats} times) and scored again. "
        "**drop** = Spearman lost (mean over the folds, 95 % t-interval); **positive** = "
        "the share of folds where the drop is above 0. Correlated groups share credit "
        "(permuting one leaves its twin to carry the signal): a low drop is not proof "
        "that a group carries nothing (tqa/study/importance.py).",
    ]
    for task, g in summary.groupby("task", sort=False):
        lines += [
            "",
            f"## {task} (test-fold Spearman without permutation: {g['base'].mean():.3f})",
            "",
            "| group | columns | drop [95 % CI] | positive |",
            "|---|---|---|---|",
        ]
        for r in g.itertuples():
            lines.append(f"| `{r.group}` | {r.n_columns} | {r.drop:+.3f} [{r.ci_lo:+.3f}, "
                         f"{r.ci_hi:+.3f}] | {r.positive:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
