"""Why a model loses on a few hundred rated videos: a diagnosis on any FeatureSet and labels.

Three questions, each on the grouped k-fold of :mod:`tqa.study.crossval` (whole groups —
portraits, speakers — never on both sides; the test fold is read by no fit):

* :func:`learning_curve`: is it short of data? Per outer (seed, fold) only a fraction of
  the training *groups* is kept (a seeded, nested choice: the groups of a smaller fraction
  are among those of a larger one); each method is fitted on them and scored on the whole
  outer test fold. At fraction 1.0 the split is exactly :func:`tqa.study.folds.fold_split`'s,
  so the runs are those of :func:`tqa.study.crossval.run_cv` (shared run cache).
* :func:`fit_diagnostics`: can it fit its training set at all, and when does early stopping
  stop it? The Transformer's train / validation loss per epoch on every fold, its best
  epoch, and its SRCC on its own training rows, its validation rows and the test fold (with
  the same numbers for pooled-feature baselines, and the fit-seed spread).
* :func:`knob_effects`: which single knob moves it? ``tqa cv``-style out-of-fold scores of
  one-knob variants of the configuration (``tqa:<strategy>/key=value``), each tested
  against the configuration itself (:func:`tqa.study.crossval.compare`: paired Wilcoxon
  over (seed, fold) test folds, or a paired bootstrap over videos).

:func:`limits_summary` turns the three results into sentences (what the numbers say, no
text typed in advance); :func:`plot_learning_curve` and :func:`plot_loss_curves` draw them.
``benchmarks/model_diagnosis.py`` runs all of it on the THQA release.

How the dropped groups are kept away from a fit: they are marked "test" in the split a
fit receives. :func:`tqa.model.training.fit` fits its preprocessor on the "train" rows,
its label-smoothing means on the "train" rows, trains on them and early-stops on "val";
the baselines (:func:`tqa.study.baselines.run_baselines`) fit on "train" rows only; the
stack (:func:`tqa.study.stacking.inner_splits`) cuts its inner folds from the non-"test"
rows. Scores are computed on the outer test fold only, never on the dropped groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from tqa.core.logs import capture_warnings, replay  # noqa: E402
from tqa.core.params import merged, params_hash  # noqa: E402
from tqa.core.schema import MISSING, TASKS, FeatureSet  # noqa: E402
from tqa.core.version import code_fingerprint  # noqa: E402
from tqa.model.training import fit as _train_fit  # noqa: E402
from tqa.study.baselines import baseline_params, pooled_features, run_baselines  # noqa: E402
from tqa.study.crossval import (  # noqa: E402
    MODEL_PREFIX,
    compare,
    cv_params,
    parse_method,
    run_cv,
)
from tqa.study.folds import fold_split, kfold_assignments  # noqa: E402
from tqa.study.metrics import pearson, rmse, spearman  # noqa: E402
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
#: Scores computed on a set of rows (all three skip missing labels and NaN predictions).
SCORES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "spearman": spearman,
    "pearson": pearson,
    "rmse": rmse,
}


# --------------------------------------------------------------------------- helpers
def _present(labels: np.ndarray) -> np.ndarray:
    return np.isfinite(labels) & (labels != MISSING)


def _labelled_tasks(labels: np.ndarray) -> list[int]:
    return [t for t in range(len(TASKS)) if _present(labels)[:, t].any()]


def _groups(meta: pd.DataFrame, group_column: str | None, n: int) -> list | None:
    if group_column is None:
        return None
    if group_column not in meta.columns:
        raise ValueError(f"no column {group_column!r} in meta; found {list(meta.columns)}")
    if len(meta) != n:
        raise ValueError(f"meta has {len(meta)} rows for {n} videos")
    return meta[group_column].tolist()


def _fold_hash(base: str, split: np.ndarray) -> str:
    """The inputs hash of one split, as :mod:`tqa.study.crossval` computes it (shared runs)."""
    return params_hash({"inputs": base, "split": np.asarray(split).tolist()})


def score_rows(labels: np.ndarray, pred: np.ndarray, rows: np.ndarray, tasks: Sequence[int]):
    """``{task: {metric: value, "n": count}}`` of ``pred`` on ``rows`` (bool mask, N)."""
    out = {}
    for t in tasks:
        y = np.where(_present(labels[rows, t : t + 1])[:, 0], labels[rows, t], np.nan)
        p = np.asarray(pred, dtype=float)[rows, t]
        ok = np.isfinite(y) & np.isfinite(p)
        out[TASKS[t]] = {name: fn(y[ok], p[ok]) for name, fn in SCORES.items()}
        out[TASKS[t]]["n"] = int(ok.sum())
    return out


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
        p = merged(self.params, {"seed": int(seed)})
        fhash = _fold_hash(self.base, split)
        keys = {n: params_hash({"baseline": n, "inputs": fhash, "eval.baselines":
                                baseline_params(p), "data": p.get("data"), "seed": int(seed),
                                "code": code_fingerprint("tqa.study.baselines")})
                for n in names}  # fmt: skip
        out: dict[str, np.ndarray] = {}
        for n in names:
            hit = self.store.load_run(keys[n], self.fs.video_ids) if self.store else None
            if hit is not None:
                out[n] = hit[0]
        todo = [n for n in names if n not in out]
        if todo:
            fresh = run_baselines(self.fs, self.labels, split, p, names=todo, meta=self.meta)
            for n, pred in fresh.items():
                out[n] = np.asarray(pred, dtype=float)
                if self.store is not None:
                    info = {"baseline": n, "seed": int(seed)}
                    self.store.save_run(keys[n], self.fs.video_ids, split, out[n], info)
        return out


# --------------------------------------------------------------------------- learning curve
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
    None), baselines through :func:`run_baselines`. Returns tidy rows
    :data:`CURVE_COLUMNS`: ``n_groups`` / ``n_train_videos`` = groups / labelled videos the
    method learned from (train + val rows), scores on the whole outer test fold.
    """
    methods = list(methods)
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    groups = _groups(meta, group_column, len(ids))
    val_fraction = float(cv_params(params)["val_fraction"] if val_fraction is None
                         else val_fraction)  # fmt: skip
    specs = {m: parse_method(m, params) for m in methods if m != STACK}
    if store is None and (STACK in methods or any(s is not None for s in specs.values())):
        raise ValueError("learning_curve: model methods need a ResultsStore (where fits are kept)")
    baselines = [m for m in methods if m != STACK and specs[m] is None]
    sp = stack_params(params) if STACK in methods else None
    pooled_comp = [c for c in (sp["components"] if sp else []) if c != TRANSFORMER]
    base = inputs_hash(features, labels, np.full(len(ids), "-"))
    tasks = _labelled_tasks(labels)
    present = _present(labels)
    plans = []  # (seed, fold, fraction, split, test rows, inner splits)
    for seed in seeds:
        assign = kfold_assignments(ids, groups, k, int(seed))
        for fold in range(k):
            for frac in fractions:
                split = subsample_split(assign, fold, frac, val_fraction, int(seed), min_groups)
                inner = (list(inner_splits(ids, groups, split, int(sp["inner_folds"]),
                                           val_fraction, int(seed))) if sp else [])  # fmt: skip
                plans.append((int(seed), fold, float(frac), split,
                              assign["fold"].to_numpy() == fold, inner))  # fmt: skip
    strategy = main_strategy(params)
    workers = worker_count(params)
    if store is not None and fit_fn is None and workers > 1:
        jobs = []
        for seed, fold, frac, split, _, inner in plans:
            todo = [(spec, split) for spec in specs.values() if spec is not None]
            if sp and TRANSFORMER in sp["components"]:
                todo += [((strategy, {}), s) for s in [split, *inner]]
            for (strat, ov), s in todo:
                p = merged(params, ov)
                jobs.append(
                    FitJob(
                        "diagnosis",
                        f"seed{seed}/fold{fold}/frac{frac}",
                        ov,
                        strat,
                        seed,
                        s,
                        p,
                        run_key(p, _fold_hash(base, s), strat, seed),
                    )
                )
        prefit(jobs, features, labels, store, workers, progress)
    pooled = _Pooled(features, labels, meta, params, store, base)
    # the stack's components: routed as in tqa.study.crossval (component_params)
    pooled_stack = _Pooled(features, labels, meta, component_params(params), store, base)
    if store is not None and workers > 1 and (baselines or pooled_comp):
        # the pooled fits of every split first, in threads (trees and boosting release the
        # GIL); the loop below then reads them from the store. Each fit is seeded.
        pooled_features(features)  # pool once, before the threads share the cache
        todo_p = [(pooled, baselines, plan[3], plan[0]) for plan in plans if baselines]
        todo_p += [(pooled_stack, pooled_comp, s, plan[0]) for plan in plans
                   for s in [plan[3], *plan[5]] if pooled_comp]  # fmt: skip
        Parallel(n_jobs=workers, backend="threading")(
            delayed(fn)(names, s, seed) for fn, names, s, seed in todo_p
        )
    rows = []
    for seed, fold, frac, split, test, inner in tqdm(plans, desc="learning curve",
                                                      disable=not progress):  # fmt: skip
        preds: dict[str, np.ndarray] = {}
        if baselines:
            preds.update(pooled(baselines, split, seed))
        for m, spec in specs.items():
            if spec is not None:
                _, pred, _ = run_one("diagnosis", f"seed{seed}/fold{fold}/frac{frac}", spec[1],
                                     spec[0], seed, features, labels, split, params, store,
                                     fit_fn, _fold_hash(base, split))  # fmt: skip
                preds[m] = np.asarray(pred, dtype=float)
        if sp:

            def model_fn(s: np.ndarray, label: str, seed=seed, fold=fold) -> np.ndarray:
                _, pred, _ = run_one("diagnosis", f"seed{seed}/fold{fold}/{label}", {},
                                     strategy, seed, features, labels, s, params, store,
                                     fit_fn, _fold_hash(base, s))  # fmt: skip
                return np.asarray(pred, dtype=float)

            def pooled_fn(names_: Sequence[str], s: np.ndarray, seed=seed) -> dict:
                return pooled_stack(list(names_), s, seed)

            preds[STACK], _ = stacked_predictions(
                labels, split, inner, sp["components"], model_fn, pooled_fn
            )
        learned = split != "test"
        trained = present & (split == "train")[:, None]
        for m in methods:
            pred = preds[m].copy()
            pred[:, ~trained.any(axis=0)] = np.nan  # a head without training labels: NaN
            for task, sc in score_rows(labels, pred, test, tasks).items():
                t = TASKS.index(task)
                rows.append({"method": m, "fraction": frac,
                             "n_groups": len(set(np.asarray(groups, dtype=object)[learned]))
                             if groups is not None else int(learned.sum()),
                             "n_train_videos": int((learned & present[:, t]).sum()),
                             "seed": seed, "fold": fold, "task": task, "n_test": sc["n"],
                             **{s: sc[s] for s in SCORES}})  # fmt: skip
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


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


# --------------------------------------------------------------------------- fit diagnostics
@dataclass
class FitDiagnostics:
    """What :func:`fit_diagnostics` found.

    fits: per (seed, fold, fit_seed) of the model: best_epoch, n_epochs, max_epochs, n_train,
    n_val, train_label_var (variance of the training labels: the MSE of predicting their
    mean). histories: per epoch of each fit: train_loss, val_loss, lr. scores: per (method,
    seed, fold, fit_seed, part in train / val / test, task): spearman, pearson, rmse, n;
    method ``<model> seed-ensemble`` is the mean prediction over the fit seeds.
    """

    fits: pd.DataFrame
    histories: pd.DataFrame
    scores: pd.DataFrame


def _one_fit(fit_fn, features, labels, split, params, strategy, seed):
    with capture_warnings() as warned:  # logged once by the caller (worker processes)
        res = fit_fn(features, labels, split, params, strategy=strategy, seed=int(seed),
                     out_dir=None, progress=False)  # fmt: skip
    h = getattr(res, "history", None)
    h = pd.DataFrame(h) if h is not None else pd.DataFrame()
    best = getattr(res, "best_epoch", None)
    if best is None and "val_loss" in h.columns and h["val_loss"].notna().any():
        best = int(h.loc[h["val_loss"].idxmin(), "epoch"])
    pred = np.asarray(res.predict(features), dtype=float)
    return pred, h, (-1 if best is None else int(best)), warned


def fit_diagnostics(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    method: str | None = None,
    seeds: Sequence[int] = (0,),
    fit_seeds: Sequence[int] | None = None,
    k: int = 5,
    group_column: str | None = "group",
    baselines: Sequence[str] = ("gradient_boosting",),
    *,
    val_fraction: float | None = None,
    fit_fn: Callable | None = None,
    progress: bool = True,
) -> FitDiagnostics:
    """Per outer (seed, fold): the model's loss curves and its fit of train / val / test rows.

    ``method``: a model method (default ``tqa:<eval.main_strategy>``, the chapter's
    configuration); fitted with :func:`tqa.model.training.fit` (or ``fit_fn``) on
    :func:`fold_split`'s split, once per fit seed (``fit_seeds`` None: the fold seed, i.e.
    exactly the run of :func:`run_cv`). ``baselines``: scored on the same parts for
    contrast (a forest that fits its training rows perfectly still generalises). Fits run
    in ``runtime.train.parallel_fits`` processes when ``fit_fn`` is None.
    """
    method = method or MODEL_PREFIX + main_strategy(params)
    spec = parse_method(method, params)
    if spec is None:
        raise ValueError(f"fit_diagnostics needs a model method (tqa:...), got {method!r}")
    strategy, overrides = spec
    p = merged(params, overrides)
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    groups = _groups(meta, group_column, len(ids))
    val_fraction = float(cv_params(params)["val_fraction"] if val_fraction is None
                         else val_fraction)  # fmt: skip
    tasks = _labelled_tasks(labels)
    present = _present(labels)
    plans = []
    for seed in seeds:
        assign = kfold_assignments(ids, groups, k, int(seed))
        for fold in range(k):
            split = fold_split(assign, fold, val_fraction, int(seed))
            for fs_ in fit_seeds if fit_seeds is not None else [seed]:
                plans.append((int(seed), fold, int(fs_), split))
    fn = fit_fn or _train_fit
    n_jobs = worker_count(params) if fit_fn is None else 1
    jobs = (delayed(_one_fit)(fn, features, labels, s, p, strategy, fseed)
            for _, _, fseed, s in plans)  # fmt: skip
    if n_jobs > 1 and len(plans) > 1:
        results = Parallel(n_jobs=min(n_jobs, len(plans)))(jobs)
    else:
        results = [j[0](*j[1], **j[2]) for j in tqdm(list(jobs), desc="fit diagnostics",
                                                      disable=not progress)]  # fmt: skip
    fits, hist, scores = [], [], []
    max_epochs = int(p["train"]["epochs"])
    parts = ("train", "val", "test")

    def add_scores(name, pred, seed, fold, fseed, split):
        for part in parts:
            for task, sc in score_rows(labels, pred, split == part, tasks).items():
                scores.append({"method": name, "seed": seed, "fold": fold, "fit_seed": fseed,
                               "part": part, "task": task, **sc})  # fmt: skip

    by_fold: dict[tuple[int, int], list[np.ndarray]] = {}
    seen: set = set()
    for (seed, fold, fseed, split), (pred, h, best, warned) in zip(plans, results, strict=True):
        replay([w for w in warned if w not in seen])
        seen.update(warned)
        train = split == "train"
        ys = labels[train][:, tasks][present[train][:, tasks]]
        fits.append({"seed": seed, "fold": fold, "fit_seed": fseed, "best_epoch": best,
                     "n_epochs": len(h), "max_epochs": max_epochs, "n_train": int(train.sum()),
                     "n_val": int((split == "val").sum()),
                     "train_label_var": float(np.var(ys)) if ys.size else math.nan})  # fmt: skip
        if len(h):
            keep = [c for c in ("epoch", "train_loss", "val_loss", "lr") if c in h.columns]
            hist.append(h[keep].assign(seed=seed, fold=fold, fit_seed=fseed))
        add_scores(method, pred, seed, fold, fseed, split)
        by_fold.setdefault((seed, fold), []).append(pred)
    for seed in seeds:
        assign = kfold_assignments(ids, groups, k, int(seed))
        for fold in range(k):
            split = fold_split(assign, fold, val_fraction, int(seed))
            preds = by_fold[(int(seed), fold)]
            if len(preds) > 1:
                add_scores(f"{method} seed-ensemble", np.mean(preds, axis=0), int(seed), fold,
                           -1, split)  # fmt: skip
            if baselines:
                bp = run_baselines(features, labels, split, merged(params, {"seed": int(seed)}),
                                   names=list(baselines), meta=meta)  # fmt: skip
                for name, pred in bp.items():
                    add_scores(name, pred, int(seed), fold, int(seed), split)
    hist_cols = ["seed", "fold", "fit_seed", "epoch", "train_loss", "val_loss", "lr"]
    histories = pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(columns=hist_cols)
    histories = histories[[c for c in hist_cols if c in histories.columns]]
    return FitDiagnostics(pd.DataFrame(fits), histories, pd.DataFrame(scores))


def fit_gap(diag: FitDiagnostics, metric: str = "spearman") -> pd.DataFrame:
    """Per (method, task): mean ``metric`` on train / val / test rows and train - test."""
    s = diag.scores.groupby(["method", "task", "part"], sort=False)[metric].mean()
    out = s.unstack("part").reindex(columns=["train", "val", "test"]).reset_index()
    out["gap"] = out["train"] - out["test"]
    return out


# --------------------------------------------------------------------------- knobs
def knob_methods(reference: str, knobs: Sequence[str]) -> list[str]:
    """Method names of one-knob variants: ``key=value`` -> ``<reference>/key=value``."""
    return [kn if kn.startswith(MODEL_PREFIX) else f"{reference}/{kn}" for kn in knobs]


def knob_effects(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    knobs: Sequence[str],
    seeds: Sequence[int] = (0,),
    store: ResultsStore | None = None,
    k: int = 5,
    group_column: str | None = "group",
    *,
    reference: str | None = None,
    metric: str = "spearman",
    test: str = "wilcoxon",
    fit_fn: Callable | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(oof, table)``: out-of-fold predictions of the reference and each knob variant
    (:func:`run_cv`), and :func:`compare`'s table of ``metric`` vs the reference with a
    ``knob`` column (the ``key=value`` part; "(reference)" on the reference's rows).

    ``knobs``: ``key=value[,key=value]`` (keys as in ``eval.config_grid``: ``d_model``,
    ``path_b``, ``lr``, ... or dotted paths) or full method names; ``reference``: default
    ``tqa:<eval.main_strategy>``. ``test``: "wilcoxon" (paired over (seed, fold); needs
    several seeds for p < 0.0625) or "bootstrap" (paired over videos; usable with one seed).
    """
    reference = reference or MODEL_PREFIX + main_strategy(params)
    methods = list(dict.fromkeys([reference, *knob_methods(reference, knobs)]))
    oof = run_cv(features, labels, meta, params, methods, list(seeds), store, k=k,
                 group_column=group_column, fit_fn=fit_fn, progress=progress)  # fmt: skip
    table = compare(oof, reference, metric, alpha=float(cv_params(params)["alpha"]),
                    near_zero_std=float(params.get("data", {}).get("near_zero_std", 0.1)),
                    test=test)  # fmt: skip
    table.insert(1, "knob", [m.removeprefix(reference + "/") if m != reference
                             else "(reference)" for m in table["method"]])  # fmt: skip
    return oof, table


# --------------------------------------------------------------------------- in words
def limits_summary(
    curve: pd.DataFrame | None,
    gap: pd.DataFrame | None,
    fits: pd.DataFrame | None,
    knobs: pd.DataFrame | None,
    model: str,
    contrast: str = "gradient_boosting",
    task: str = "overall",
    alpha: float = 0.05,
) -> list[str]:
    """Sentences on what limits ``model``, each computed from the results it cites.

    ``curve``: :func:`curve_summary`; ``gap``: :func:`fit_gap`; ``fits``:
    :attr:`FitDiagnostics.fits`; ``knobs``: :func:`knob_effects`' table. Any may be None.
    """
    out: list[str] = []
    if gap is not None and len(gap):
        g = gap[gap["task"] == task].set_index("method")
        if model in g.index:
            r = g.loc[model]
            fits_train = ("fits its training rows" if r["train"] >= 0.9 else
                          "fits its training rows only loosely" if r["train"] >= 0.7 else
                          "does not even fit its training rows")  # fmt: skip
            s = (f"On its own training rows the model reaches SRCC {r['train']:.3f}, on its "
                 f"validation portrait(s) {r['val']:.3f} and on the unseen test portraits "
                 f"{r['test']:.3f}: it {fits_train}")  # fmt: skip
            if contrast in g.index:
                c = g.loc[contrast]
                s += (f", while {contrast} reaches {c['train']:.3f} on its training rows and "
                      f"{c['test']:.3f} on the test portraits (train - test gap "
                      f"{c['gap']:.3f} vs the model's {r['gap']:.3f})")  # fmt: skip
            out.append(s + ".")
            ens = f"{model} seed-ensemble"
            if ens in g.index:
                d = g.loc[ens, "test"] - r["test"]
                out.append(f"Averaging the fit seeds on the same folds moves the test SRCC by "
                           f"{d:+.3f} ({g.loc[ens, 'test']:.3f}): "
                           + ("seed variance is part of the loss." if d >= 0.02 else
                              "seed variance is not what limits it."))  # fmt: skip
    if fits is not None and len(fits):
        best = float(fits["best_epoch"].median())
        ran = float(fits["n_epochs"].median())
        cap = int(fits["max_epochs"].max())
        early = best <= 0.25 * cap
        out.append(f"Early stopping restores a median best epoch of {best:.0f} (median "
                   f"{ran:.0f} epochs run of {cap}; validation part {fits['n_val'].median():.0f} "
                   f"videos): " + ("the model is stopped long before its schedule ends, on the "
                                   "loss of a few validation videos." if early else
                                   "the schedule is mostly used."))  # fmt: skip
    if curve is not None and len(curve):
        c = curve[curve["task"] == task]
        last = c.loc[c.groupby("method")["fraction"].idxmax()].set_index("method")
        first = c.loc[c.groupby("method")["fraction"].idxmin()].set_index("method")
        if model in last.index:
            s = (f"Learning curve: from {first.loc[model, 'n_train_videos']:.0f} to "
                 f"{last.loc[model, 'n_train_videos']:.0f} training videos the model goes "
                 f"from SRCC {first.loc[model, 'mean']:.3f} to {last.loc[model, 'mean']:.3f} "
                 f"({last.loc[model, 'gain_per_doubling']:+.3f} per doubling)")  # fmt: skip
            if contrast in last.index:
                gm = last.loc[model, "gain_per_doubling"]
                gc = last.loc[contrast, "gain_per_doubling"]
                s += (f"; {contrast} from {first.loc[contrast, 'mean']:.3f} to "
                      f"{last.loc[contrast, 'mean']:.3f} ({gc:+.3f} per doubling)")  # fmt: skip
                d0 = first.loc[model, "mean"] - first.loc[contrast, "mean"]
                diff = last.loc[contrast, "mean"] - last.loc[model, "mean"]
                if d0 > 0 and diff > 0:
                    s += (f". With the fewest videos the model is {d0:.3f} ahead, with all of "
                          f"them {diff:.3f} behind: the curves cross")  # fmt: skip
                if diff > 0 and gm > gc:
                    s += (f". At full size the model is {diff:.3f} behind and gains "
                          f"{gm - gc:.3f} more per doubling: short of data; at these slopes it "
                          f"would catch up with about {2 ** (diff / (gm - gc)):.1f}x the "
                          "training videos")  # fmt: skip
                elif diff > 0:
                    s += (f". At full size the model is {diff:.3f} behind and gains "
                          f"{gc - gm:.3f} less per doubling: the gap grows with the training "
                          "set, so the number of videos is not what holds it back against "
                          f"{contrast}")  # fmt: skip
                else:
                    s += f". At full size the model is {-diff:.3f} ahead"
            out.append(s + ".")
    if knobs is not None and len(knobs):
        k = knobs[(knobs["task"] == task) & (knobs["verdict"] != "reference")]
        k = k[np.isfinite(k["delta"].to_numpy(float))]
        k = k.iloc[np.argsort(-np.abs(k["delta"].to_numpy(float)), kind="stable")]
        sig = k[k["verdict"].isin(["better", "worse"])]
        if len(k):
            top = k.iloc[0]
            s = (f"Of {len(k)} single knobs, the largest change of SRCC is {top['knob']} "
                 f"({top['delta']:+.3f}, p = {top['p_value']:.3g})")  # fmt: skip
            if len(sig):
                s += (
                    "; significant at "
                    + f"{alpha}: "
                    + ", ".join(f"{r.knob} {r.verdict} ({r.delta:+.3f})" for r in sig.itertuples())
                )
            else:
                s += f"; none changes it significantly at {alpha}"
            out.append(s + ".")
    return out


# --------------------------------------------------------------------------- figures
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


def plot_loss_curves(diag: FitDiagnostics, title: str = ""):
    """One panel per (seed, fold): train (solid) and validation (dashed) loss per epoch of
    every fit seed, a dotted line at each best epoch; returns the Figure."""
    h, f = diag.histories, diag.fits
    keys = list(dict.fromkeys(zip(f["seed"], f["fold"])))
    ncols = min(5, max(1, len(keys)))
    nrows = int(math.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False,
                             sharey=True)  # fmt: skip
    for ax in axes.ravel()[len(keys) :]:
        ax.set_visible(False)
    for ax, (seed, fold) in zip(axes.ravel(), keys):
        fr = f[(f["seed"] == seed) & (f["fold"] == fold)]
        for i, fseed in enumerate(fr["fit_seed"]):
            hh = h[(h["seed"] == seed) & (h["fold"] == fold) & (h["fit_seed"] == fseed)]
            ax.plot(hh["epoch"], hh["train_loss"], color=f"C{i}", label=f"train, fit seed {fseed}")
            if "val_loss" in hh.columns:
                ax.plot(hh["epoch"], hh["val_loss"], color=f"C{i}", ls="--",
                        label=f"val, fit seed {fseed}")  # fmt: skip
            best = fr.loc[fr["fit_seed"] == fseed, "best_epoch"].iloc[0]
            if best > 0:
                ax.axvline(best, color=f"C{i}", ls=":", lw=1)
        var = fr["train_label_var"].iloc[0] if len(fr) else math.nan
        if np.isfinite(var):
            ax.axhline(var, color="grey", lw=0.8, label="train label variance")
        ax.set_title(f"seed {seed}, fold {fold}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes.ravel()[0].set_ylabel("masked MSE")
    axes.ravel()[0].legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
