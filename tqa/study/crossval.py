"""Grouped k-fold cross-validation x seeds: the study's default protocol and ``tqa cv``.

Protocol (shared by the study notebooks and ``tqa cv``):

1. :func:`kfold_assignments`: per seed, every video gets one test fold out of k; whole
   groups (speaker / portrait / identity: ``group_column``) stay in one fold, so a test
   fold never shares a group with its training part. Folds are balanced in videos.
2. :func:`fold_split`: per fold, a validation part is carved from the training folds,
   again by whole groups (:func:`tqa.data.splits.make_split`), for early stopping and any
   selection; the test fold is never looked at while fitting.
3. :func:`run_cv`: every method (model strategies ``tqa:<strategy>``, model variants
   ``tqa:<strategy>/<variant>`` (:func:`parse_method`: an ablation of
   :data:`tqa.study.studies.ABLATIONS` or ``key=value,...`` params overrides), every baseline
   of :data:`tqa.study.baselines.BASELINES`) is fitted per (seed, fold) and predicts its
   test fold: each video gets one out-of-fold prediction per seed and method.
   Resumable: each (seed, fold, method) goes atomically to the shared run cache
   (:class:`tqa.study.studies.ResultsStore`, keyed by :func:`tqa.study.studies.run_key`)
   and is not refitted on a rerun. The model's pending fits run in
   ``runtime.train.parallel_fits`` processes first (:mod:`tqa.study.parallel_fits`).
4. :func:`compare`: per (method, task) the metric of every (seed, fold) test fold, its
   mean and 95 % t-interval over folds x seeds, and a paired Wilcoxon signed-rank test
   against a reference method on the same (seed, fold) pairs, with a verdict in words.

No I/O besides the results store. Tasks whose labels are near-constant (std below
``data.near_zero_std``) are flagged in a ``note`` column and sorted apart.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed
from scipy import stats
from tqdm.auto import tqdm

from tqa.core.params import merged, params_hash
from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.core.version import code_fingerprint
from tqa.study.baselines import BASELINES, baseline_params, pooled_features, run_baselines
from tqa.study.folds import fold_split, kfold_assignments
from tqa.study.metrics import LOWER_IS_BETTER, metric_functions
from tqa.study.parallel_fits import FitJob, prefit, worker_count
from tqa.study.stacking import (
    STACK,
    TRANSFORMER,
    component_params,
    inner_splits,
    stack_params,
    stacked_predictions,
)
from tqa.study.studies import (
    ResultsStore,
    ablation_configs,
    grid_path,
    inputs_hash,
    main_strategy,
    nested,
    run_key,
    run_one,
)

log = logging.getLogger(__name__)

#: Method names of the model start with this prefix: ``tqa:<weighting strategy>``.
MODEL_PREFIX = "tqa:"
#: Columns of the out-of-fold table returned by :func:`run_cv`.
OOF_COLUMNS: tuple[str, ...] = ("video_id", "fold", "seed", "method", "task", "y", "pred")
#: Defaults of the ``cv`` params section.
CV_DEFAULTS: dict = {
    "folds": 5,
    "group_column": "group",
    "val_fraction": 0.1,
    "seeds": None,
    "methods": None,
    "reference": None,
    "metrics": None,
    "alpha": 0.05,
    "test": "wilcoxon",
    "bootstrap": 1000,
    "out_dir": "reports/cv",
}


def cv_params(params: dict) -> dict:
    """The ``cv`` params section over :data:`CV_DEFAULTS`."""
    return {**CV_DEFAULTS, **(params.get("cv") or {})}


# --------------------------------------------------------------------------- running
def default_methods(params: dict, meta: pd.DataFrame | None = None) -> list[str]:
    """``cv.methods``; else tqa's default model (:data:`tqa.study.stacking.STACK`), the
    chapter's configuration ``tqa:<eval.main_strategy>``, every ``eval.baselines.names``
    and, when ``meta`` has a ``generator`` column, ``generator_mean``."""
    cp = cv_params(params)
    if cp["methods"]:
        return list(cp["methods"])
    out = [STACK, MODEL_PREFIX + main_strategy(params), *baseline_params(params)["names"]]
    if meta is not None and "generator" in meta.columns and "generator_mean" not in out:
        out.append("generator_mean")
    return out


#: A model method spelled out: (weighting strategy, params overrides).
ModelSpec = tuple[str, dict]


def parse_method(
    name: str, params: dict, variants: Mapping[str, ModelSpec] | None = None
) -> ModelSpec | None:
    """``(strategy, overrides)`` of a model method; None for a baseline name.

    ``tqa:<strategy>``: the configuration of params.yaml (the chapter's); ``tqa:<strategy>/
    <ablation>``: an ablation of :data:`tqa.study.studies.ABLATIONS` (drop lists merged with
    ``model.drop_modalities``); ``tqa:<strategy>/key=value,key=value``: params overrides,
    keys as in ``eval.config_grid`` (a bare key is looked up in model / preprocess / train,
    or a dotted path), values parsed as YAML (``pca=false``, ``lr=0.0003``). ``variants``:
    explicit name -> (strategy, overrides), looked up first. ValueError for a malformed name.
    """
    if variants and name in variants:
        strategy, overrides = variants[name]
        return str(strategy), dict(overrides)
    if not name.startswith(MODEL_PREFIX):
        return None
    strategy, _, variant = name[len(MODEL_PREFIX) :].partition("/")
    if not strategy:
        raise ValueError(f"method {name!r}: no weighting strategy after {MODEL_PREFIX!r}")
    if not variant:
        return strategy, {}
    if "=" not in variant:
        try:
            return strategy, dict(ablation_configs(params, [variant])[1][1])
        except KeyError as exc:
            raise ValueError(f"method {name!r}: {exc.args[0]}") from None
    overrides: dict = {}
    for item in variant.split(","):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"method {name!r}: {item!r} is not key=value")
        try:
            path = grid_path(params, key.strip())
        except KeyError as exc:
            raise ValueError(f"method {name!r}: {exc.args[0]}") from None
        overrides = merged(overrides, nested(path, yaml.safe_load(value)))
    return strategy, overrides


def check_methods(
    methods: Sequence[str],
    meta: pd.DataFrame | None = None,
    params: dict | None = None,
    variants: Mapping[str, ModelSpec] | None = None,
) -> None:
    """ValueError (one line) for an unknown baseline, a malformed model method or a missing
    ``generator`` column."""
    for m in methods:
        if m == STACK:
            for c in stack_params(params or {})["components"]:
                if c != TRANSFORMER:
                    BASELINES.get(c)  # KeyError with did-you-mean on a typo
            continue
        if (variants and m in variants) or m.startswith(MODEL_PREFIX):
            parse_method(m, params or {}, variants)
            continue
        BASELINES.get(m)  # KeyError with did-you-mean on a typo
        if m == "generator_mean" and (meta is None or "generator" not in meta.columns):
            raise ValueError(
                "method generator_mean needs a 'generator' column in the labels "
                "(derive it with `tqa import-thqa --name-pattern '{group}_{audio}_{generator}'`)"
            )


def _present(labels: np.ndarray) -> np.ndarray:
    return np.isfinite(labels) & (labels != MISSING)


def run_cv(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    store: ResultsStore | None = None,
    *,
    k: int | None = None,
    group_column: str | None = "group",
    val_fraction: float | None = None,
    fit_fn: Callable | None = None,
    progress: bool = True,
    variants: Mapping[str, ModelSpec] | None = None,
    blends_out: dict | None = None,
) -> pd.DataFrame:
    """Out-of-fold predictions of every method, per seed: columns :data:`OOF_COLUMNS`.

    features / labels (N, 5; -1.0 missing) / meta (N rows; ``group_column`` and, for
    ``generator_mean``, ``generator``) are row-aligned. methods: model methods
    (:func:`parse_method`: ``tqa:<strategy>``, ``tqa:<strategy>/<variant>``, or names of
    ``variants``) and baseline names (default :func:`default_methods`); seeds: default
    ``cv.seeds``, else ``train.seeds``; k / val_fraction default to ``cv.folds`` /
    ``cv.val_fraction``; ``group_column`` None: plain k-fold. ``store``: where finished
    (seed, fold, method) runs are kept (None: nothing kept; baselines only); a model
    variant's run key includes its overrides. Tasks without any label are left out; ``y``
    is NaN where a video's label is missing; ``pred`` is NaN for a task that had no training
    label in that fold (a head that never saw a label predicts nothing).
    """
    methods = list(methods or default_methods(params, meta))
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    present = _present(labels)
    tasks = [k_ for k_ in range(len(TASKS)) if present[:, k_].any()]
    frames = []
    for seed, fold, split, preds in fold_predictions(
        features, labels, meta, params, methods, seeds, store,
        k=k, group_column=group_column, val_fraction=val_fraction,
        fit_fn=fit_fn, progress=progress, variants=variants, blends_out=blends_out,
    ):  # fmt: skip
        test = np.flatnonzero(split == "test")
        for m in methods:
            for t in tasks:
                frames.append(
                    pd.DataFrame(
                        {
                            "video_id": [ids[i] for i in test],
                            "fold": fold,
                            "seed": seed,
                            "method": m,
                            "task": TASKS[t],
                            "y": np.where(present[test, t], labels[test, t], np.nan),
                            "pred": preds[m][test, t],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)[list(OOF_COLUMNS)]


def fold_predictions(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    methods: Sequence[str],
    seeds: Sequence[int] | None = None,
    store: ResultsStore | None = None,
    *,
    k: int | None = None,
    group_column: str | None = "group",
    val_fraction: float | None = None,
    fit_fn: Callable | None = None,
    progress: bool = True,
    variants: Mapping[str, ModelSpec] | None = None,
    blends_out: dict | None = None,
) -> Iterator[tuple[int, int, np.ndarray, dict[str, np.ndarray]]]:
    """Per (seed, fold): ``(seed, fold, split (N,), {method: pred (N, 5)})``, all rows.

    The engine behind :func:`run_cv` and the nested model selection
    (:mod:`tqa.study.selection`, which reads the inner validation rows). ``split`` is
    :func:`fold_split`'s train / val / test; predictions of a task without any training
    label in the fold are NaN. Arguments as :func:`run_cv`; ``blends_out``: filled with
    (seed, fold) -> the stacked model's blend per task (:mod:`tqa.study.stacking`).
    """
    cp = cv_params(params)
    methods = list(methods)
    check_methods(methods, meta, params, variants)
    seeds = [int(s) for s in (seeds or cp["seeds"] or params["train"]["seeds"])]
    k = int(k or cp["folds"])
    val_fraction = float(cp["val_fraction"] if val_fraction is None else val_fraction)
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    if labels.shape != (len(ids), len(TASKS)) or len(meta) != len(ids):
        raise ValueError(
            f"inputs not aligned: {len(ids)} videos, labels {labels.shape}, meta {len(meta)} rows"
        )
    if group_column is not None and group_column not in meta.columns:
        raise ValueError(
            f"no column {group_column!r} in the labels for a grouped k-fold; "
            f"found {list(meta.columns)} (or run plain k-fold without a group)"
        )
    specs = {m: parse_method(m, params, variants) for m in methods if m != STACK}
    if store is None and (STACK in methods or any(v is not None for v in specs.values())):
        raise ValueError("run_cv: model methods need a ResultsStore (where fits are kept)")
    groups = meta[group_column].tolist() if group_column else None
    present = _present(labels)
    base = inputs_hash(features, labels, np.full(len(ids), "-"))
    baselines = [m for m in methods if m != STACK and specs[m] is None]
    plans = []  # (seed, fold, split (N,), inputs hash of the fold)
    for seed in seeds:
        assign = kfold_assignments(ids, groups, k, seed)
        for fold in range(k):
            split = fold_split(assign, fold, val_fraction, seed)
            plans.append(
                (seed, fold, split, params_hash({"inputs": base, "split": split.tolist()}))
            )
    stack = _StackPlan(params, ids, groups, val_fraction, base) if STACK in methods else None
    workers = worker_count(params)
    if store is not None and fit_fn is None and workers > 1:
        fit_jobs = [
            FitJob("cv", f"seed{seed}/fold{fold}", spec[1], spec[0], seed, split,
                   merged(params, spec[1]), run_key(merged(params, spec[1]), fhash, spec[0], seed))
            for seed, fold, split, fhash in plans
            for spec in specs.values()
            if spec is not None
        ]  # fmt: skip
        if stack is not None:  # its outer fits are the chapter method's (prefit fits a key once)
            fit_jobs += stack.fit_jobs(plans)
        prefit(fit_jobs, features, labels, store, workers, progress)
        if stack is not None:
            stack.prefit_pooled(plans, features, labels, meta, store, workers, progress)
    for seed, fold, split, fhash in tqdm(plans, desc="cv (seed, fold)", disable=not progress):
        trained = present & (split == "train")[:, None]
        preds = _baseline_preds(
            baselines, features, labels, split, meta, params, seed, fhash, store
        )
        if stack is not None:
            preds[STACK], blends = stack.predict(
                seed, fold, split, features, labels, meta, store, fit_fn
            )
            if blends_out is not None:
                blends_out[(seed, fold)] = blends
        for m in methods:
            spec = specs.get(m)
            if spec is not None:
                strategy, overrides = spec
                _, pred, _ = run_one(
                    "cv",
                    f"seed{seed}/fold{fold}",
                    overrides,
                    strategy,
                    seed,
                    features,
                    labels,
                    split,
                    params,
                    store,
                    fit_fn,
                    fhash,
                )
                preds[m] = np.asarray(pred, dtype=float)
        for m in methods:
            preds[m] = preds[m].copy()
            preds[m][:, ~trained.any(axis=0)] = np.nan
        yield seed, fold, split, preds


class _StackPlan:
    """The stacked default model's fits inside :func:`fold_predictions` (inner splits,
    Transformer jobs for the worker pool, run-cache-backed component predictions)."""

    def __init__(self, params: dict, ids: list[str], groups, val_fraction: float, base: str):
        self.params, self.ids, self.groups = params, ids, groups
        self.pooled_params = component_params(params)  # routed tasks stay routed in the blend
        self.val_fraction, self.base = val_fraction, base
        sp = stack_params(params)
        self.components, self.k = list(sp["components"]), int(sp["inner_folds"])
        self.blend = str(sp["blend"])
        self.strategy = main_strategy(params)

    def splits(self, seed: int, split: np.ndarray) -> list[np.ndarray]:
        return list(inner_splits(self.ids, self.groups, split, self.k, self.val_fraction, seed))

    def labelled_splits(self, seed: int, split: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The outer split and every inner one, named as in the run table."""
        inner = [(f"inner{j}", s) for j, s in enumerate(self.splits(seed, split))]
        return [("outer", np.asarray(split)), *inner]

    def fhash(self, split: np.ndarray) -> str:
        return params_hash({"inputs": self.base, "split": np.asarray(split).tolist()})

    def fit_jobs(self, plans: list) -> list[FitJob]:
        if TRANSFORMER not in self.components:
            return []
        p = self.params
        return [
            FitJob("cv", f"seed{seed}/fold{fold}/{label}", {}, self.strategy, seed, s, p,
                   run_key(p, self.fhash(s), self.strategy, seed))
            for seed, fold, split, _ in plans
            for label, s in self.labelled_splits(seed, split)
        ]  # fmt: skip

    def prefit_pooled(self, plans, features, labels, meta, store, workers, progress) -> None:
        """The pooled components' fits of every outer and inner split, ``workers`` at a time
        (threads: the tree and boosting fits release the GIL), into the run cache; the fold
        loop then reads them back. Results are those of a serial run (each fit is seeded)."""
        pooled = [c for c in self.components if c != TRANSFORMER]
        jobs = [(seed, s) for seed, fold, split, _ in plans
                for _, s in self.labelled_splits(seed, split)]  # fmt: skip
        if not pooled or not jobs:
            return
        pooled_features(features)  # pool once, before the threads share the cache
        Parallel(n_jobs=workers, backend="threading")(
            delayed(_baseline_preds)(pooled, features, labels, s, meta, self.pooled_params, seed,
                                     self.fhash(s), store)
            for seed, s in tqdm(jobs, desc="stack: pooled fits", disable=not progress)
        )  # fmt: skip

    def predict(self, seed, fold, split, features, labels, meta, store, fit_fn):
        def model_fn(s: np.ndarray, label: str) -> np.ndarray:
            _, pred, _ = run_one(
                "cv", f"seed{seed}/fold{fold}/{label}", {}, self.strategy, seed, features,
                labels, s, self.params, store, fit_fn, self.fhash(s),
            )  # fmt: skip
            return np.asarray(pred, dtype=float)

        def pooled_fn(names, s: np.ndarray) -> dict[str, np.ndarray]:
            return _baseline_preds(
                list(names),
                features,
                labels,
                s,
                meta,
                self.pooled_params,
                seed,
                self.fhash(s),
                store,
            )

        return stacked_predictions(
            labels, split, self.splits(seed, split), self.components, model_fn, pooled_fn,
            self.blend,
        )  # fmt: skip


def _baseline_preds(
    names: list[str],
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    seed: int,
    fhash: str,
    store: ResultsStore | None,
) -> dict[str, np.ndarray]:
    """(N, 5) per baseline for one fold; cached ones loaded, the others fitted together."""
    p = merged(params, {"seed": int(seed)})
    keys = {
        n: params_hash(
            {
                "baseline": n,
                "inputs": fhash,
                "eval.baselines": baseline_params(p),
                "data": p.get("data"),
                "seed": int(seed),
                "code": code_fingerprint("tqa.study.baselines"),
            }
        )
        for n in names
    }
    out: dict[str, np.ndarray] = {}
    for n in names:
        cached = store.load_run(keys[n], fs.video_ids) if store is not None else None
        if cached is not None:
            out[n] = cached[0]
    todo = [n for n in names if n not in out]
    if todo:
        fresh = run_baselines(fs, labels, split, p, names=todo, meta=meta)
        for n, pred in fresh.items():
            out[n] = np.asarray(pred, dtype=float)
            if store is not None:  # no timings: the run cache is a DVC output (byte-stable)
                info = {"baseline": n, "seed": int(seed)}
                store.save_run(keys[n], fs.video_ids, split, out[n], info)
    return out


# --------------------------------------------------------------------------- comparing
def fold_scores(
    oof: pd.DataFrame, metric: str, class_bounds: Sequence[float] = (3.0, 4.0)
) -> pd.DataFrame:
    """``metric`` on each (method, task, seed, fold) test fold: ``[..., value, n]``.

    Only pairs with a present label and a finite prediction count (n).
    """
    fn = metric_functions(class_bounds)[metric]
    rows = []
    for (method, task, seed, fold), g in oof.groupby(
        ["method", "task", "seed", "fold"], sort=False
    ):
        ok = g["y"].notna() & np.isfinite(g["pred"].to_numpy(float))
        y, p = g.loc[ok, "y"].to_numpy(float), g.loc[ok, "pred"].to_numpy(float)
        value = fn(y, p) if len(y) else math.nan
        rows.append(
            {
                "method": method,
                "task": task,
                "seed": seed,
                "fold": fold,
                "value": value,
                "n": len(y),
            }
        )
    return pd.DataFrame(rows, columns=["method", "task", "seed", "fold", "value", "n"])


def t_interval(values: Sequence[float], ci: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: Student-t interval of the mean of the finite ``values``.

    mean +- t_{(1+ci)/2, n-1} s / sqrt(n), s the sample std (ddof 1); NaN bounds for n < 2.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + ci) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> tuple[float, int]:
    """``(p, n)``: two-sided Wilcoxon signed-rank test of a - b over the pairs finite on both.

    Differences are rounded to 12 decimals (float noise must not break ties). p = 1.0
    when every difference is 0; NaN for fewer than 2 pairs. (With k = 5 folds and
    one seed the smallest possible p is 0.0625: use several seeds for a usable test.)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    # rounded: rank metrics on small folds take few values, so equal |differences| must tie
    # exactly, not differ by float noise (which would change the ranks and the p-value)
    d = np.round(a[ok] - b[ok], 12)
    if d.size < 2:
        return math.nan, int(d.size)
    if np.all(d == 0):
        return 1.0, int(d.size)
    return float(stats.wilcoxon(d).pvalue), int(d.size)


#: Metrics :func:`boot_values` computes for all resamples at once.
_VECTOR_METRICS = frozenset({"pearson", "spearman", "rmse", "mae", "ccc"})


def boot_values(metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(B,) ``metric`` of each row of (B, n) targets ``y`` and predictions ``p`` at once.

    As :mod:`tqa.study.metrics` (Pearson; Spearman = Pearson of average ranks; RMSE; MAE;
    Lin's CCC with population moments); a correlation with a constant side is NaN. Only
    for the metrics of ``_VECTOR_METRICS``; the bootstrap's resamples in one pass.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if metric == "rmse":
        return np.sqrt(np.mean((p - y) ** 2, axis=1))
    if metric == "mae":
        return np.mean(np.abs(p - y), axis=1)
    if metric == "spearman":
        y, p = stats.rankdata(y, axis=1), stats.rankdata(p, axis=1)
    yc, pc = y - y.mean(axis=1, keepdims=True), p - p.mean(axis=1, keepdims=True)
    const = (np.ptp(y, axis=1) == 0) | (np.ptp(p, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "ccc":
            cov = np.where(const, 0.0, np.mean(yc * pc, axis=1))
            den = y.var(axis=1) + p.var(axis=1) + (y.mean(axis=1) - p.mean(axis=1)) ** 2
            return np.where(den > 0, 2 * cov / den, np.nan)
        r = np.sum(yc * pc, axis=1) / np.sqrt(np.sum(yc**2, axis=1) * np.sum(pc**2, axis=1))
    return np.where(const, np.nan, np.clip(r, -1.0, 1.0))


def paired_bootstrap(
    oof: pd.DataFrame,
    method: str,
    reference: str,
    task: str,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    class_bounds: Sequence[float] = (3.0, 4.0),
) -> tuple[float, float, int]:
    """``(delta, p, n_videos)``: paired bootstrap over videos of ``metric`` on the pooled
    out-of-fold predictions, ``method`` minus ``reference``.

    Per seed, the videos with a label and a finite prediction from both methods are
    resampled with replacement ``n_boot`` times (the same resamples for both methods: paired);
    the metric of each method on each resample, their difference, averaged over seeds.
    delta: the observed difference (full sample, mean over seeds); p: two-sided,
    2 min(P*(d <= 0), P*(d >= 0)) over the bootstrap differences (Efron & Tibshirani 1993,
    ch. 16), at least 1 / n_boot. NaN when fewer than 3 paired videos.
    """
    fn = metric_functions(class_bounds)[metric]
    sub = oof[(oof["task"] == task) & oof["method"].isin([method, reference])]
    rng = np.random.default_rng(seed)
    deltas, diffs, n_min = [], [], None
    for _, g in sub.groupby("seed", sort=True):
        w = g.pivot_table(index="video_id", columns="method", values="pred", dropna=False)
        y = g.drop_duplicates("video_id").set_index("video_id")["y"].reindex(w.index)
        if method not in w or reference not in w:
            continue
        ok = (y.notna() & np.isfinite(w[method]) & np.isfinite(w[reference])).to_numpy()
        yy = y.to_numpy(float)[ok]
        a, b = w[method].to_numpy(float)[ok], w[reference].to_numpy(float)[ok]
        if yy.size < 3:
            continue
        n_min = yy.size if n_min is None else min(n_min, yy.size)
        deltas.append(fn(yy, a) - fn(yy, b))
        idx = rng.integers(0, yy.size, (int(n_boot), yy.size))
        if metric in _VECTOR_METRICS:
            diffs.append(
                boot_values(metric, yy[idx], a[idx]) - boot_values(metric, yy[idx], b[idx])
            )
        else:
            diffs.append([fn(yy[i], a[i]) - fn(yy[i], b[i]) for i in idx])
    if not deltas:
        return math.nan, math.nan, 0
    d = np.nanmean(np.asarray(diffs, dtype=float), axis=0)
    d = d[np.isfinite(d)]
    delta = float(np.nanmean(deltas))
    if d.size == 0 or not np.isfinite(delta):
        return delta, math.nan, int(n_min or 0)
    if np.all(d == 0) and delta == 0:
        return 0.0, 1.0, int(n_min)
    p = 2 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0)))
    return delta, float(min(1.0, max(p, 1.0 / d.size))), int(n_min)


def verdict(delta: float, p: float, metric: str, alpha: float = 0.05) -> str:
    """'better' / 'worse' (than the reference, at level alpha) or 'no detectable difference'."""
    if not (np.isfinite(delta) and np.isfinite(p)):
        return "n/a"
    if p >= alpha or delta == 0:
        return "no detectable difference"
    better = delta < 0 if metric in LOWER_IS_BETTER else delta > 0
    return "better" if better else "worse"


def near_constant_tasks(oof: pd.DataFrame, threshold: float = 0.1) -> dict[str, float]:
    """Task -> label std (ddof 1, one value per video) for tasks with std below ``threshold``."""
    y = oof.dropna(subset=["y"]).drop_duplicates(["video_id", "task"])
    std = y.groupby("task", sort=False)["y"].std(ddof=1)
    return {t: float(s) for t, s in std.items() if not (s >= threshold)}


def compare(
    oof: pd.DataFrame,
    reference: str | None = None,
    metric: str = "pearson",
    *,
    ci: float = 0.95,
    alpha: float = 0.05,
    class_bounds: Sequence[float] = (3.0, 4.0),
    near_zero_std: float = 0.1,
    test: str = "wilcoxon",
    n_boot: int = 1000,
    boot_seed: int = 0,
) -> pd.DataFrame:
    """Method x task table of ``metric`` over folds x seeds, each method vs ``reference``.

    Columns: method, task, metric, n_runs (folds x seeds with a value), mean, ci_low,
    ci_high (:func:`t_interval`), delta (mean of the paired differences method -
    reference), p_value, n_pairs and test (:func:`paired_wilcoxon` on the same (seed,
    fold) test folds), verdict (:func:`verdict`; "reference" on the reference's rows),
    note (tasks with near-constant labels: "labels near-constant ...", listed after the
    others; a method without predictions for the task; an undefined metric).
    ``reference`` None: the first method that starts with ``tqa:``, else the first method.
    ``test``: "wilcoxon" (above) or "bootstrap": :func:`paired_bootstrap` over videos of the
    pooled out-of-fold predictions (``n_boot`` resamples; delta is then the pooled
    difference, n_pairs the paired videos) — usable with one seed, where 5 (seed, fold)
    pairs cannot give a Wilcoxon p below 0.0625. The CI stays the t-interval over folds x
    seeds either way.
    """
    if test not in ("wilcoxon", "bootstrap"):
        raise ValueError(f"test must be 'wilcoxon' or 'bootstrap', got {test!r}")
    scores = fold_scores(oof, metric, class_bounds)
    methods = list(dict.fromkeys(oof["method"]))
    if reference is None:
        reference = next((m for m in methods if m.startswith(MODEL_PREFIX)), methods[0])
    if reference not in methods:
        raise ValueError(f"reference method {reference!r} not in the results ({methods})")
    flat = near_constant_tasks(oof, near_zero_std)
    has_pred = oof.assign(_ok=np.isfinite(oof["pred"].to_numpy(float)))
    has_pred = has_pred.groupby(["method", "task"])["_ok"].any()
    wide = scores.pivot_table(
        index=["task", "seed", "fold"], columns="method", values="value", dropna=False
    )
    rows = []
    for task in [t for t in TASKS if t in set(oof["task"])]:
        w = wide.loc[task] if task in wide.index.get_level_values(0) else None
        for m in methods:
            vals = w[m].to_numpy(float) if w is not None and m in w else np.array([])
            mean, lo, hi = t_interval(vals, ci)
            row = {
                "method": m,
                "task": task,
                "metric": metric,
                "n_runs": int(np.isfinite(vals).sum()),
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
                "delta": math.nan,
                "p_value": math.nan,
                "n_pairs": 0,
                "test": "",
                "verdict": "reference" if m == reference else "n/a",
                "note": "",
            }
            if m != reference and w is not None and reference in w:
                ref = w[reference].to_numpy(float)
                ok = np.isfinite(vals) & np.isfinite(ref)
                if test == "bootstrap":
                    delta, p, n = paired_bootstrap(
                        oof, m, reference, task, metric, n_boot, boot_seed, class_bounds
                    )
                    row["delta"] = delta
                    label = f"paired bootstrap over videos ({int(n_boot)} resamples)"
                else:
                    p, n = paired_wilcoxon(vals, ref)
                    row["delta"] = float(np.mean(vals[ok] - ref[ok])) if ok.any() else math.nan
                    label = "Wilcoxon signed-rank over paired (seed, fold) test folds"
                row["p_value"], row["n_pairs"] = p, n
                row["test"] = label if n else ""
                row["verdict"] = verdict(row["delta"], p, metric, alpha)
            if task in flat:
                row["note"] = f"labels near-constant (std {flat[task]:.3g}): not comparable"
            elif not has_pred.get((m, task), False):
                row["note"] = "no prediction for this task"
            elif not np.isfinite(vals).any():
                row["note"] = f"{metric} undefined (constant prediction)"
            rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["_flat"] = out["note"] != ""
        out = out.sort_values("_flat", kind="stable").drop(columns="_flat")
    return out.reset_index(drop=True)


def comparison_table(
    oof: pd.DataFrame,
    metrics: Sequence[str],
    reference: str | None = None,
    **kwargs,
) -> pd.DataFrame:
    """:func:`compare` for each metric, stacked (the study's model-vs-baselines table)."""
    return pd.concat([compare(oof, reference, m, **kwargs) for m in metrics], ignore_index=True)


def comparison_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """Markdown: one section per metric; "mean [95 % CI]", delta, p and verdict per row."""
    lines = []
    for metric, g in table.groupby("metric", sort=False):
        arrow = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
        lines += [f"### {metric} ({arrow})", ""]
        lines += ["| method | task | mean [95 % CI] | delta vs ref | p | verdict | note |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for r in g.itertuples(index=False):
            cell = _fmt(r.mean, digits)
            if np.isfinite(r.ci_low):
                cell += f" [{_fmt(r.ci_low, digits)}, {_fmt(r.ci_high, digits)}]"
            delta = f"{r.delta:+.{digits}f}" if np.isfinite(r.delta) else ""
            p = f"{r.p_value:.3g}" if np.isfinite(r.p_value) else ""
            lines.append(
                f"| {r.method} | {r.task} | {cell} | {delta} | {p} | {r.verdict} | {r.note} |"
            )
        paired = g[g["n_pairs"] > 0]
        if len(paired):
            lines += [
                "",
                f"Paired test: {paired['test'].iloc[0]} ({int(paired['n_pairs'].max())} pairs); "
                "verdict at the level cv.alpha.",
            ]
        lines.append("")
    return "\n".join(lines)


def _fmt(v: float, digits: int) -> str:
    return f"{v:.{digits}f}" if np.isfinite(v) else "n/a"
