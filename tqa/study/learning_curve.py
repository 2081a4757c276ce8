"""Is a model short of data? Its test-fold scores trained on a growing share of the groups.

One of the diagnosis's three questions (:mod:`tqa.study.diagnosis`). Per outer (seed,
fold) of the grouped k-fold only a fraction of the training *groups* is kept
(:func:`subsample_split`: a seeded, nested choice); each method is fitted on them and
scored on the whole outer test fold (:func:`learning_curve`). At fraction 1.0 the split is
exactly :func:`tqa.study.folds.fold_split`'s, so the runs are those of
:func:`tqa.study.crossval.run_cv` (shared run cache). :func:`curve_summary` averages the
rows and fits the gain per doubling; :func:`plot_learning_curve` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from tqa.core.params import merged  # noqa: E402
from tqa.core.schema import TASKS, FeatureSet  # noqa: E402
from tqa.study.baseline_runs import baseline_runs, fold_hash, prefit_baseline_runs  # noqa: E402
from tqa.study.baselines import score_bounds  # noqa: E402
from tqa.study.crossval import (  # noqa: E402
    ModelSpec,
    cv_params,
    labelled_tasks,
    parse_method,
    present_labels,
    untrained_tasks_nan,
)
from tqa.study.diagnosis import SCORES, fold_groups, score_rows  # noqa: E402
from tqa.study.folds import fold_split, kfold_assignments  # noqa: E402
from tqa.study.parallel_fits import FitJob, prefit, worker_count  # noqa: E402
from tqa.study.stacking import (  # noqa: E402
    STACK,
    TRANSFORMER,
    component_params,
    inner_splits,
    stack_params,
    stacked_predictions,
)
from tqa.study.studies import ResultsStore, inputs_hash, main_strategy, run_key, run_one  # noqa: E402

#: Columns of :func:`learning_curve`'s rows.
CURVE_COLUMNS: tuple[str, ...] = (
    "method", "fraction", "n_groups", "n_train_videos", "seed", "fold", "task", "n_test",
    "spearman", "pearson", "rmse",
)  # fmt: skip


def subsample_split(
    assignments: pd.DataFrame,
    fold: int,
    fraction: float,
    val_fraction: float = 0.1,
    seed: int = 0,
    min_groups: int = 2,
) -> np.ndarray:
    """(N,) train / val / test of one fold keeping ``fraction`` of its training groups.

    ``assignments``: :func:`tqa.study.folds.kfold_assignments`. Of the groups outside
    ``fold``, ``max(min_groups, round(fraction * n))`` are kept (all when fewer exist),
    chosen by a permutation seeded with (seed, fold) — the same permutation for every
    fraction, so smaller subsets are nested in larger ones. The validation part is carved
    from the kept groups as :func:`fold_split` does; the dropped groups are "test" (no fit
    reads them) though they are not in the test fold. ``fraction`` 1.0 gives exactly
    ``fold_split(assignments, fold, val_fraction, seed)``.
    """
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    a = assignments.reset_index(drop=True)
    in_test = a["fold"].to_numpy() == fold
    groups = np.sort(a.loc[~in_test, "group"].astype(str).unique())
    n_keep = min(len(groups), max(int(min_groups), int(round(float(fraction) * len(groups)))))
    order = np.random.default_rng([int(seed), int(fold)]).permutation(groups)
    keep = in_test | a["group"].astype(str).isin(set(order[:n_keep])).to_numpy()
    out = np.full(len(a), "test", dtype=object)
    out[np.flatnonzero(keep)] = fold_split(a[keep], fold, val_fraction, seed)
    return out


class _Pooled:
    """Baseline predictions per split, kept in the run cache under crossval's baseline key
    (so a run of ``tqa cv`` on the same data and folds reuses them, and vice versa)."""

    def __init__(self, fs, labels, meta, params, store: ResultsStore | None, base: str):
        self.fs, self.labels, self.meta, self.params = fs, labels, meta, params
        self.store, self.base = store, base

    def __call__(self, names: Sequence[str], split: np.ndarray, seed: int) -> dict:
        return baseline_runs(
            list(names), self.fs, self.labels, split, self.meta, self.params, seed,
            fold_hash(self.base, split), self.store,
        )  # fmt: skip


def learning_curve(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    methods: Sequence[str],
    fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    seeds: Sequence[int] = (0,),
    store: ResultsStore | None = None,
    k: int = 5,
    group_column: str | None = "group",
    *,
    val_fraction: float | None = None,
    min_groups: int = 2,
    fit_fn: Callable | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Test-fold scores of every method trained on a growing share of the training groups.

    methods: model methods (``tqa:<strategy>[/key=value,...]``, :func:`parse_method`),
    :data:`tqa.study.stacking.STACK` and baseline names. Per (seed, fold, fraction) the
    split is :func:`subsample_split`; model runs go through :func:`run_one` and the shared
    ``store`` (fitted first in ``runtime.train.parallel_fits`` processes when ``fit_fn`` is
    None), baselines through :func:`tqa.study.baselines.run_baselines`. Returns tidy rows
    :data:`CURVE_COLUMNS`: ``n_groups`` / ``n_train_videos`` = groups / labelled videos the
    method learned from (train + val rows), scores on the whole outer test fold.
    """
    methods = list(methods)
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    groups = fold_groups(meta, group_column, len(ids))
    val_fraction = float(cv_params(params)["val_fraction"] if val_fraction is None
                         else val_fraction)  # fmt: skip
    specs = {m: parse_method(m, params) for m in methods if m != STACK}
    if store is None and (STACK in methods or any(s is not None for s in specs.values())):
        raise ValueError("learning_curve: model methods need a ResultsStore (where fits are kept)")
    baselines = [m for m in methods if m != STACK and specs[m] is None]
    sp = stack_params(params, features) if STACK in methods else None
    base = inputs_hash(features, labels, np.full(len(ids), "-"))
    plans = _curve_plans(ids, groups, seeds, k, fractions, val_fraction, min_groups, sp)
    run = _CurveRuns(features, labels, meta, params, store, base, fit_fn, specs, sp)
    workers = worker_count(params)
    if store is not None and fit_fn is None and workers > 1:
        prefit(run.fit_jobs(plans), features, labels, store, workers, progress)
    if store is not None and workers > 1 and (baselines or run.pooled_comp):
        run.prefit_pooled(plans, baselines, workers)
    tasks = labelled_tasks(labels)
    rows = []
    for seed, fold, frac, split, test, inner in tqdm(plans, desc="learning curve",
                                                      disable=not progress):  # fmt: skip
        preds = run.predict(seed, fold, frac, split, inner, baselines)
        untrained_tasks_nan(preds, methods, specs, labels, split)
        rows += _curve_rows(methods, preds, labels, groups, tasks, seed, fold, frac, split, test)
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


#: One run of the curve: (seed, fold, fraction, split, test rows, inner splits of the stack).
CurvePlan = tuple[int, int, float, np.ndarray, np.ndarray, list[np.ndarray]]


def _curve_plans(
    ids: list[str],
    groups: list | None,
    seeds: Sequence[int],
    k: int,
    fractions: Sequence[float],
    val_fraction: float,
    min_groups: int,
    sp: dict | None,
) -> list[CurvePlan]:
    """Every (seed, fold, fraction) of the curve with its split (:func:`subsample_split`)."""
    plans = []
    for seed in seeds:
        assign = kfold_assignments(ids, groups, k, int(seed))
        for fold in range(k):
            for frac in fractions:
                split = subsample_split(assign, fold, frac, val_fraction, int(seed), min_groups)
                inner = (list(inner_splits(ids, groups, split, int(sp["inner_folds"]),
                                           val_fraction, int(seed))) if sp else [])  # fmt: skip
                plans.append((int(seed), fold, float(frac), split,
                              assign["fold"].to_numpy() == fold, inner))  # fmt: skip
    return plans


class _CurveRuns:
    """The fits of :func:`learning_curve`: model runs through :func:`run_one` and the
    shared store, baselines and the stack's pooled components through the run cache."""

    def __init__(
        self, features, labels, meta, params, store, base, fit_fn,
        specs: dict[str, ModelSpec | None], sp: dict | None,
    ):  # fmt: skip
        self.features, self.labels, self.params = features, labels, params
        self.store, self.base, self.fit_fn = store, base, fit_fn
        self.specs, self.sp = specs, sp
        self.strategy = main_strategy(params)
        self.pooled_comp = [c for c in (sp["components"] if sp else []) if c != TRANSFORMER]
        self.pooled = _Pooled(features, labels, meta, params, store, base)
        # the stack's components: routed as in tqa.study.crossval (component_params)
        self.pooled_stack = _Pooled(features, labels, meta, component_params(params), store, base)

    def fit_jobs(self, plans: list[CurvePlan]) -> list[FitJob]:
        """The model fits of every plan (the stack's Transformer on its outer and inner
        splits too), for the worker processes."""
        jobs = []
        for seed, fold, frac, split, _, inner in plans:
            todo = [(spec, split) for spec in self.specs.values() if spec is not None]
            if self.sp and TRANSFORMER in self.sp["components"]:
                todo += [((self.strategy, {}), s) for s in [split, *inner]]
            for (strat, ov), s in todo:
                p = merged(self.params, ov)
                key = run_key(p, fold_hash(self.base, s), strat, seed)
                label = f"seed{seed}/fold{fold}/frac{frac}"
                jobs.append(FitJob("diagnosis", label, ov, strat, seed, s, p, key))
        return jobs

    def prefit_pooled(self, plans: list[CurvePlan], baselines: list[str], workers: int) -> None:
        """The pooled fits of every split first, in threads
        (:func:`tqa.study.baseline_runs.prefit_baseline_runs`); the curve's loop then reads
        them from the store. Each fit is seeded."""
        base, stack = self.pooled, self.pooled_stack
        jobs = [(baselines, plan[3], plan[0], fold_hash(self.base, plan[3]), base.params)
                for plan in plans if baselines]  # fmt: skip
        jobs += [(self.pooled_comp, s, plan[0], fold_hash(self.base, s), stack.params)
                 for plan in plans for s in [plan[3], *plan[5]] if self.pooled_comp]  # fmt: skip
        prefit_baseline_runs(jobs, self.features, self.labels, base.meta, self.store, workers,
                             progress=False)  # fmt: skip

    def predict(self, seed, fold, frac, split, inner, baselines) -> dict[str, np.ndarray]:
        """method -> (N, 5) prediction of one plan."""
        preds: dict[str, np.ndarray] = {}
        if baselines:
            preds.update(self.pooled(baselines, split, seed))
        for m, spec in self.specs.items():
            if spec is not None:
                preds[m] = self._model(f"seed{seed}/fold{fold}/frac{frac}", spec, seed, split)
        if self.sp:

            def model_fn(s: np.ndarray, label: str) -> np.ndarray:
                return self._model(f"seed{seed}/fold{fold}/{label}", (self.strategy, {}), seed, s)

            def pooled_fn(names_: Sequence[str], s: np.ndarray) -> dict:
                return self.pooled_stack(list(names_), s, seed)

            preds[STACK], _ = stacked_predictions(
                self.labels, split, inner, self.sp["components"], model_fn, pooled_fn,
                blend=str(self.sp["blend"]), bounds=score_bounds(self.params),
                bags=int(self.sp["bags"]),
            )  # fmt: skip
        return preds

    def _model(self, label: str, spec: ModelSpec, seed: int, split: np.ndarray) -> np.ndarray:
        _, pred, _ = run_one("diagnosis", label, spec[1], spec[0], seed, self.features,
                             self.labels, split, self.params, self.store, self.fit_fn,
                             fold_hash(self.base, split))  # fmt: skip
        return np.asarray(pred, dtype=float)


def _curve_rows(
    methods: list[str],
    preds: dict[str, np.ndarray],
    labels: np.ndarray,
    groups: list | None,
    tasks: list[int],
    seed: int,
    fold: int,
    frac: float,
    split: np.ndarray,
    test: np.ndarray,
) -> list[dict]:
    """Rows :data:`CURVE_COLUMNS` of one plan: each method's scores on the test fold
    (``preds`` NaN where a method had no label to learn from: :func:`untrained_tasks_nan`)."""
    present = present_labels(labels)
    learned = split != "test"
    rows = []
    for m in methods:
        for task, sc in score_rows(labels, preds[m], test, tasks).items():
            t = TASKS.index(task)
            rows.append({"method": m, "fraction": frac,
                         "n_groups": len(set(np.asarray(groups, dtype=object)[learned]))
                         if groups is not None else int(learned.sum()),
                         "n_train_videos": int((learned & present[:, t]).sum()),
                         "seed": seed, "fold": fold, "task": task, "n_test": sc["n"],
                         **{s: sc[s] for s in SCORES}})  # fmt: skip
    return rows


def curve_summary(rows: pd.DataFrame, metric: str = "spearman") -> pd.DataFrame:
    """Per (method, task, fraction): mean training videos and mean / std of ``metric``
    over (seed, fold), plus ``gain_per_doubling``: the OLS slope of ``metric`` on
    log2(training videos) over every (seed, fold, fraction) of the method and task."""
    g = rows.groupby(["method", "task", "fraction"], sort=False)
    out = g.agg(n_train_videos=("n_train_videos", "mean"), mean=(metric, "mean"),
                std=(metric, "std"), n_runs=(metric, "count")).reset_index()  # fmt: skip
    slopes = {}
    for (m, t), h in rows.groupby(["method", "task"], sort=False):
        ok = np.isfinite(h[metric].to_numpy(float)) & (h["n_train_videos"].to_numpy() > 0)
        x = np.log2(h["n_train_videos"].to_numpy(float)[ok])
        y = h[metric].to_numpy(float)[ok]
        slopes[(m, t)] = float(np.polyfit(x, y, 1)[0]) if np.ptp(x) > 0 else math.nan
    out["gain_per_doubling"] = [slopes[(m, t)] for m, t in zip(out["method"], out["task"])]
    return out


def plot_learning_curve(
    summary: pd.DataFrame, methods: Sequence[str] | None = None, task: str = "overall",
    metric_label: str = "SRCC", title: str = "",
):  # fmt: skip
    """SRCC (mean ± std over folds) against the mean number of training videos, one line
    per method (:func:`curve_summary`); returns the Figure."""
    s = summary[summary["task"] == task]
    methods = list(methods or dict.fromkeys(s["method"]))
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, m in enumerate(methods):
        g = s[s["method"] == m].sort_values("n_train_videos")
        ax.errorbar(g["n_train_videos"], g["mean"], yerr=g["std"].fillna(0), marker="o",
                    capsize=3, color=f"C{i}", label=m)  # fmt: skip
    ax.set_xscale("log", base=2)
    ticks = sorted({int(round(v)) for v in s["n_train_videos"] if np.isfinite(v) and v > 0})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="training videos (train + val, log2 scale)",
           ylabel=f"{metric_label} on the test fold ({task})")  # fmt: skip
    ax.set_title(title or "learning curve (grouped k-fold)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
