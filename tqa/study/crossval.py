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
4. :func:`tqa.study.comparison.compare`: per (method, task) the metric of every (seed, fold)
   test fold, its mean and 95 % t-interval over folds x seeds, and a paired Wilcoxon
   signed-rank test against a reference method on the same (seed, fold) pairs, with a
   verdict in words (:mod:`tqa.study.comparison`).

No I/O besides the results store. The stacked default model's runs:
:mod:`tqa.study.stack_runs`; baseline runs: :mod:`tqa.study.baseline_runs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd
import yaml
from tqdm.auto import tqdm

from tqa.core.params import merged
from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.study.baseline_runs import baseline_runs, fold_hash, prefit_baseline_runs
from tqa.study.baselines import BASELINES, FIT_PARTS, baseline_params, learned_tasks
from tqa.study.folds import fold_split, kfold_assignments
from tqa.study.parallel_fits import FitJob, prefit, worker_count
from tqa.study.stack_runs import StackRuns
from tqa.study.stacking import STACK, TRANSFORMER, stack_params
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
    "folds": 5, "group_column": "group", "val_fraction": 0.1, "seeds": None, "methods": None,
    "reference": None, "metrics": None, "alpha": 0.05, "test": "wilcoxon", "bootstrap": 1000,
    "out_dir": "reports/cv",
}  # fmt: skip


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


def present_labels(labels: np.ndarray) -> np.ndarray:
    """(N, 5) bool: the labels that are there (finite, not :data:`tqa.core.schema.MISSING`)."""
    return np.isfinite(labels) & (labels != MISSING)


def labelled_tasks(labels: np.ndarray) -> list[int]:
    """Indices of the tasks with at least one label."""
    present = present_labels(labels)
    return [t for t in range(len(TASKS)) if present[:, t].any()]


class FoldOptions(TypedDict, total=False):
    """Keyword options of :func:`fold_predictions` that :func:`run_cv` passes through."""

    k: int | None
    group_column: str | None
    val_fraction: float | None
    fit_fn: Callable | None
    progress: bool
    variants: Mapping[str, ModelSpec] | None
    blends_out: dict | None


def run_cv(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    store: ResultsStore | None = None,
    **options: Unpack[FoldOptions],
) -> pd.DataFrame:
    """Out-of-fold predictions of every method, per seed: columns :data:`OOF_COLUMNS`.

    features / labels (N, 5; -1.0 missing) / meta (N rows; ``group_column`` and, for
    ``generator_mean``, ``generator``) are row-aligned. methods: model methods
    (:func:`parse_method`: ``tqa:<strategy>``, ``tqa:<strategy>/<variant>``, or names of
    ``variants``) and baseline names (default :func:`default_methods`); seeds: default
    ``cv.seeds``, else ``train.seeds``; ``options`` as :func:`fold_predictions` (k /
    val_fraction default to ``cv.folds`` / ``cv.val_fraction``; ``group_column`` None: plain
    k-fold). ``store``: where finished (seed, fold, method) runs are kept (None: nothing
    kept; baselines only); a model variant's run key includes its overrides. Tasks without
    any label are left out; ``y`` is NaN where a video's label is missing; ``pred`` is NaN
    for a task that had no training label in that fold (a head that never saw a label
    predicts nothing).
    """
    methods = list(methods or default_methods(params, meta))
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    tasks = labelled_tasks(labels)
    frames = []
    for seed, fold, split, preds in fold_predictions(
        features, labels, meta, params, methods, seeds, store, **options
    ):
        frames += oof_frames(
            ids, labels, tasks, seed, fold, split, [(m, preds[m]) for m in methods]
        )
    return pd.concat(frames, ignore_index=True)[list(OOF_COLUMNS)]


def oof_frames(
    ids: Sequence[str],
    labels: np.ndarray,
    tasks: Sequence[int],
    seed: int,
    fold: int,
    split: np.ndarray,
    preds: Iterable[tuple[str, np.ndarray]],
) -> list[pd.DataFrame]:
    """The test-fold rows of one (seed, fold), columns :data:`OOF_COLUMNS`: one frame per
    (method, pred (N, 5)) of ``preds`` and task of ``tasks``, in that order."""
    present = present_labels(labels)
    test = np.flatnonzero(split == "test")
    return [
        pd.DataFrame(
            {
                "video_id": [ids[i] for i in test],
                "fold": fold,
                "seed": seed,
                "method": m,
                "task": TASKS[t],
                "y": np.where(present[test, t], labels[test, t], np.nan),
                "pred": pred[test, t],
            }
        )
        for m, pred in preds
        for t in tasks
    ]


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
    label in the fold are NaN. Arguments as :func:`run_cv`; k / val_fraction: default
    ``cv.folds`` / ``cv.val_fraction``; ``group_column`` None: plain k-fold; ``fit_fn``:
    the model's fit (default :func:`tqa.model.training.fit`); ``blends_out``: filled with
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
    _check_inputs(ids, labels, meta, group_column)
    specs, baselines = _method_kinds(methods, params, variants, store)
    groups = meta[group_column].tolist() if group_column else None
    base = inputs_hash(features, labels, np.full(len(ids), "-"))
    plans = _fold_plans(ids, groups, k, seeds, val_fraction, base)
    stack = (StackRuns(params, ids, groups, val_fraction, base, features)
             if STACK in methods else None)  # fmt: skip
    workers = worker_count(params)
    if store is not None and fit_fn is None and workers > 1:
        _prefit_all(plans, specs, baselines, stack, features, labels, meta, params, store,
                    workers, progress)  # fmt: skip
    for seed, fold, split, fhash in tqdm(plans, desc="cv (seed, fold)", disable=not progress):
        preds = baseline_runs(baselines, features, labels, split, meta, params, seed, fhash, store)
        if stack is not None:
            preds[STACK], blends = stack.predict(
                seed, fold, split, features, labels, meta, store, fit_fn
            )
            if blends_out is not None:
                blends_out[(seed, fold)] = blends
        for m, (strategy, overrides) in _model_specs(methods, specs):
            preds[m] = np.asarray(run_one("cv", f"seed{seed}/fold{fold}", overrides, strategy, seed,
                features, labels, split, params, store, fit_fn, fhash)[1], dtype=float)  # fmt: skip
        untrained_tasks_nan(preds, methods, specs, labels, split)
        yield seed, fold, split, preds


#: One (seed, fold) of the k-fold: (seed, fold, split (N,), inputs hash of the fold).
FoldPlan = tuple[int, int, np.ndarray, str]


def _check_inputs(
    ids: list[str], labels: np.ndarray, meta: pd.DataFrame, group_column: str | None
) -> None:
    """ValueError when features, labels and meta are not row-aligned or the group is missing."""
    if labels.shape != (len(ids), len(TASKS)) or len(meta) != len(ids):
        raise ValueError(
            f"inputs not aligned: {len(ids)} videos, labels {labels.shape}, meta {len(meta)} rows"
        )
    if group_column is not None and group_column not in meta.columns:
        raise ValueError(
            f"no column {group_column!r} in the labels for a grouped k-fold; "
            f"found {list(meta.columns)} (or run plain k-fold without a group)"
        )


def _fold_plans(
    ids: list[str], groups: list | None, k: int, seeds: list[int], val_fraction: float, base: str
) -> list[FoldPlan]:
    """Every (seed, fold) of the k-fold with its split and its inputs hash."""
    plans = []
    for seed in seeds:
        assign = kfold_assignments(ids, groups, k, seed)
        for fold in range(k):
            split = fold_split(assign, fold, val_fraction, seed)
            plans.append((seed, fold, split, fold_hash(base, split)))
    return plans


def _method_kinds(
    methods: list[str],
    params: dict,
    variants: Mapping[str, ModelSpec] | None,
    store: ResultsStore | None,
) -> tuple[dict[str, ModelSpec | None], list[str]]:
    """``(specs, baselines)``: each method but the stack -> its model spec (None: a
    baseline), and the baselines; ValueError when model methods have no store."""
    specs = {m: parse_method(m, params, variants) for m in methods if m != STACK}
    if store is None and (STACK in methods or any(v is not None for v in specs.values())):
        raise ValueError("run_cv: model methods need a ResultsStore (where fits are kept)")
    return specs, [m for m in methods if m != STACK and specs[m] is None]


def _model_specs(
    methods: list[str], specs: dict[str, ModelSpec | None]
) -> list[tuple[str, ModelSpec]]:
    """(method, (strategy, overrides)) of the model methods, in the order of ``methods``."""
    return [(m, spec) for m in methods if (spec := specs.get(m)) is not None]


def _prefit_all(
    plans: list[FoldPlan],
    specs: dict[str, ModelSpec | None],
    baselines: list[str],
    stack: StackRuns | None,
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    store: ResultsStore,
    workers: int,
    progress: bool,
) -> None:
    """Every model fit of the k-fold, ``workers`` processes at a time, into the run cache
    (the fold loop then reads them back); then the stack's pooled fits and the baselines of
    every (seed, fold), ``workers`` threads at a time (one queue, so both cores stay busy)."""
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
    pooled = stack.pooled_jobs(plans) if stack is not None else []
    outer = [(baselines, split, seed, fhash, params) for seed, _, split, fhash in plans
             if baselines]  # fmt: skip
    prefit_baseline_runs(pooled + outer, features, labels, meta, store, workers, progress,
                         desc="pooled and baseline fits")  # fmt: skip


def untrained_tasks_nan(
    preds: dict[str, np.ndarray],
    methods: Sequence[str],
    specs: Mapping[str, ModelSpec | None],
    labels: np.ndarray,
    split: np.ndarray,
) -> None:
    """Each method's prediction copied, NaN for a task it had no label to learn from
    (:func:`tqa.study.baselines.learned_tasks`).

    ``labels`` (N, 5); ``split`` (N,): the outer split. A Transformer method (``specs[m]`` a
    model spec) learns from the "train" part (its "val" part only early-stops it); a baseline
    and the stack (its pooled components and its blend) fit train + val
    (:data:`tqa.study.baselines.FIT_PARTS`), so a task labelled only in the val part is theirs
    to predict, not NaN.
    """
    for m in methods:
        parts = ("train",) if specs.get(m) is not None else FIT_PARTS
        trained = learned_tasks(labels, split, parts)
        preds[m] = preds[m].copy()
        preds[m][:, ~trained] = np.nan
