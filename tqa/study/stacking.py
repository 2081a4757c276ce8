"""tqa's default model: the chapter's Transformer stacked with regressors on pooled features.

Why: on a few hundred rated videos the Transformer alone is the weakest predictor tqa fits
(issue 25: it loses to ridge, trees and a per-generator lookup once the test portraits are
new). Stacking (Wolpert 1992; Breiman 1996, :mod:`tqa.study.blend`) lets each task take
what each learner sees: per task, non-negative weights over the components' predictions.

For one outer (seed, fold) of the grouped k-fold (:mod:`tqa.study.crossval`):

1. :func:`inner_splits`: the outer training part (train + val) is cut again into
   ``eval.stack.inner_folds`` grouped folds; each inner fold gets its own validation part
   (whole groups, :func:`tqa.study.folds.fold_split`). The outer test fold stays "test" in
   every inner split: no fit and no weight ever reads it.
2. Every component (``eval.stack.components``: ``transformer`` = the configured model,
   ``tqa:<eval.main_strategy>``; any baseline name, e.g. ``ridge``, ``random_forest``,
   ``extra_trees``, ``gradient_boosting``) predicts each inner test fold from a fit on the
   rest: the inner out-of-fold matrix (n_train, C) per task.
3. :func:`tqa.study.blend.fit_blend` per task on that matrix (the NNLS blend of all
   components, or one component alone, whichever predicts the inner folds better when
   cross-validated over them); the blend is applied to the
   components' outer fits (the same runs as the methods of those names: cached, not
   refitted), which predict the outer test fold.

Every fit goes to the shared run cache, so a rerun refits nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.study.baselines import POOLED_REGRESSORS, learned_tasks
from tqa.study.blend import Blend, fit_blend
from tqa.study.folds import fold_split, kfold_assignments

#: Method name of the stacked default model (``tqa:`` prefix of every tqa model method).
STACK = "tqa:stack"
#: Component name of the configured Transformer in ``eval.stack.components``.
TRANSFORMER = "transformer"
#: Defaults of ``eval.stack`` (params.yaml holds the real ones): the Transformer and every
#: regressor whose fits a scoring bundle can keep (:data:`~tqa.study.baselines.POOLED_REGRESSORS`).
STACK_DEFAULTS: dict = {
    "components": [TRANSFORMER, *POOLED_REGRESSORS],
    "inner_folds": 3,
    "small_data_inner_folds": None,
    "small_data_values": 0,
    "blend": "nnls",
    "bags": 50,
    "routed": True,
}
#: ``eval.stack.blend``: the NNLS blend of all components, the inner-CV choice between it
#: and each component alone, their calibrated equal-weight mean, or the NNLS weights
#: averaged over bootstrap resamples (:func:`tqa.study.blend.fit_blend`).
BLENDS: tuple[str, ...] = ("nnls", "select", "mean", "bagged")

#: (split (N,)) -> (N, 5) predictions of the Transformer fitted on that split.
ModelFn = Callable[[np.ndarray, str], np.ndarray]
#: (baseline names, split (N,)) -> name -> (N, 5) predictions, fitted on the
#: training and validation parts (:data:`tqa.study.baselines.FIT_PARTS`).
PooledFn = Callable[[Sequence[str], np.ndarray], dict[str, np.ndarray]]


def stack_params(params: dict, features: FeatureSet | None = None) -> dict:
    """``eval.stack`` over :data:`STACK_DEFAULTS`; ValueError for an empty component list
    or fewer than 2 inner folds.

    ``features`` given: ``inner_folds`` is the count for these training data
    (:func:`inner_fold_count`), so every caller that cuts inner splits reads one number.
    """
    sp = {**STACK_DEFAULTS, **((params.get("eval") or {}).get("stack") or {})}
    sp["components"] = [str(c) for c in sp["components"] or []]
    if not sp["components"]:
        raise ValueError("eval.stack.components is empty")
    if sp["small_data_inner_folds"] is None:
        sp["small_data_inner_folds"] = sp["inner_folds"]
    for key in ("inner_folds", "small_data_inner_folds"):
        if int(sp[key]) < 2:
            raise ValueError(f"eval.stack.{key} must be >= 2, got {sp[key]}")
    if features is not None:
        sp["inner_folds"] = inner_fold_count(sp, features)
    if sp["blend"] not in BLENDS:
        raise ValueError(f"eval.stack.blend must be one of {BLENDS}, got {sp['blend']!r}")
    if int(sp["bags"]) < 1:
        raise ValueError(f"eval.stack.bags must be >= 1, got {sp['bags']}")
    return sp


def feature_values(features: FeatureSet) -> int:
    """Values the Transformer reads from ``features``: videos x grid frames x columns, summed
    over streams (before its PCA). A deterministic proxy for a fit's cost, which grows with
    the streams (one encoder and cross-modal block each) and their width."""
    return int(sum(int(np.prod(arr.shape)) for arr in features.streams.values()))


def inner_fold_count(sp: dict, features: FeatureSet) -> int:
    """Inner folds of the stack for ``features``: ``small_data_inner_folds`` when the data
    hold at most ``small_data_values`` values (:func:`feature_values`), else ``inner_folds``.

    Why two counts: each inner fold costs one Transformer fit. With 2 inner folds the
    components' out-of-fold predictions come from fits on half the training part, which
    under-rates the components that gain most from data (tree ensembles) and over-weights
    the Transformer; 5 inner folds fit on 80 %. On THQA portraits 1-10 (400 videos x 150 grid
    frames x 21 columns: 1.26 M values) 5 inner folds raised the stack's SRCC from 0.621 to
    0.638 over 10 seeds (reports/thqa_dev_cv_10_seeds*.md); on the sample corpus (240 videos
    x 150 frames x 1603 columns in 5 streams: 57.7 M values) they would add ~4 min to
    ``make repro`` (docs/model.md).
    """
    small = feature_values(features) <= int(sp["small_data_values"])
    return int(sp["small_data_inner_folds"] if small else sp["inner_folds"])


def component_params(params: dict) -> dict:
    """``params`` for the pooled components: ``eval.baselines.routed`` set from
    ``eval.stack.routed``, so a task that ``model.task_modalities`` routes (audio_quality:
    the audio stream alone) is routed in every component of the blend, not only in the
    Transformer (:func:`tqa.study.pooled.task_routes`)."""
    ev = dict(params.get("eval") or {})
    routed = bool(stack_params(params)["routed"])
    ev["baselines"] = {**(ev.get("baselines") or {}), "routed": routed}
    return {**params, "eval": ev}


def inner_splits(
    video_ids: Sequence[str],
    groups: Sequence[object] | None,
    split: np.ndarray,
    k: int,
    val_fraction: float,
    seed: int,
) -> Iterator[np.ndarray]:
    """(N,) train / val / test per inner fold of the outer training part (train + val).

    The outer test rows are "test" in every inner split; the inner test fold is "test"
    too. ``groups`` None: every video is its own group. Fewer groups than ``k`` in the
    training part: as many inner folds as groups (at least 2, else ValueError).
    """
    split = np.asarray(split, dtype=object)
    rows = np.flatnonzero(split != "test")
    ids = [str(video_ids[i]) for i in rows]
    g = None if groups is None else [groups[i] for i in rows]
    n_groups = len(set(map(str, g))) if g is not None else len(ids)
    k = min(int(k), n_groups)
    if k < 2:
        raise ValueError(f"the stacked model needs >= 2 training groups, found {n_groups}")
    assign = kfold_assignments(ids, g, k, seed)
    for j in range(k):
        out = np.full(len(split), "test", dtype=object)
        out[rows] = fold_split(assign, j, val_fraction, seed)
        yield out


def stacked_predictions(
    labels: np.ndarray,
    split: np.ndarray,
    inner: Sequence[np.ndarray],
    components: Sequence[str],
    model_fn: ModelFn,
    pooled_fn: PooledFn,
    blend: str = "nnls",
    bounds: tuple[float, float] | None = None,
    bags: int = STACK_DEFAULTS["bags"],
) -> tuple[np.ndarray, list[Blend | None]]:
    """``(pred (N, 5), blend per task)`` of the stacked model for one outer split.

    ``inner``: :func:`inner_splits`; ``model_fn`` / ``pooled_fn`` fit (or load from the
    run cache) the Transformer and the pooled-feature components on a split; ``blend``: one
    of :data:`BLENDS`; ``bounds``: the score range
    (:func:`~tqa.study.baselines.score_bounds`) the blend is clipped to, as every component
    is (a blend with an intercept can step outside it when the inner predictions are few);
    ``bags``: the bootstrap resamples of the ``bagged`` blend (``eval.stack.bags``).
    A task without 2 present training labels gets NaN and no blend.
    """
    labels = np.asarray(labels, dtype=float)
    n = len(split)
    pooled = [c for c in components if c != TRANSFORMER]
    oof = np.full((n, len(components), len(TASKS)), np.nan)
    inner_fold = np.full(n, -1)
    for j, s in enumerate(inner):
        test = (s == "test") & (np.asarray(split) != "test")
        inner_fold[test] = j
        comp = _component_preds(components, pooled, s, f"inner{j}", model_fn, pooled_fn, labels)
        for c, name in enumerate(components):
            oof[test, c, :] = comp[name][test]
    outer = _component_preds(components, pooled, np.asarray(split), "outer", model_fn, pooled_fn,
                             labels)  # fmt: skip
    outer_p = np.stack([outer[c] for c in components], axis=1)  # (N, C, 5)
    blends: list[Blend | None] = []
    train = np.asarray(split) != "test"
    for k in range(len(TASKS)):
        y = np.where(train & np.isfinite(labels[:, k]) & (labels[:, k] != MISSING),
                     labels[:, k], np.nan)  # fmt: skip
        if np.isfinite(y).sum() < 2:
            blends.append(None)
            continue
        folds = inner_fold[train] if blend == "select" else None
        blends.append(fit_blend(oof[train, :, k], y[train], components, folds,
                                average=blend == "mean",
                                bags=int(bags) if blend == "bagged" else 0))  # fmt: skip
    return apply_blends(blends, outer_p, bounds), blends


def apply_blends(
    blends: Sequence[Blend | None],
    preds: np.ndarray,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    """(N, 5) predictions of the stacked model: each task's blend (TASKS order; None: NaN)
    applied to the components' predictions ``preds`` (N, C, 5, components in the blends'
    order), clipped to ``bounds`` when given. The one rule of the k-fold
    (:func:`stacked_predictions`), a scoring bundle and a refitted fold
    (:mod:`tqa.study.method_refit`)."""
    out = np.full((preds.shape[0], len(TASKS)), np.nan)
    for k, b in enumerate(blends):
        if b is not None:
            out[:, k] = b.predict(preds[:, :, k])
    return out if bounds is None else np.clip(out, *bounds)


def _component_preds(
    components: Sequence[str],
    pooled: Sequence[str],
    split: np.ndarray,
    label: str,
    model_fn: ModelFn,
    pooled_fn: PooledFn,
    labels: np.ndarray,
) -> dict[str, np.ndarray]:
    """name -> (N, 5) predictions of each component fitted on ``split``. The Transformer's
    head of a task without a label in the "train" part (its only training rows) is NaN, so
    the blend gives it no weight: it was never trained, whatever it outputs."""
    out = dict(pooled_fn(pooled, split)) if pooled else {}
    if TRANSFORMER in components:
        pred = np.array(model_fn(split, label), dtype=float)
        pred[:, ~learned_tasks(labels, split, ("train",))] = np.nan
        out[TRANSFORMER] = pred
    return out


def blend_table(blends: dict[tuple[int, int], list[Blend | None]]) -> pd.DataFrame:
    """Tidy weights: ``seed, fold, task, component, weight, choice`` (+ one ``intercept``
    row per blend; ``choice``: "nnls" or the component chosen alone)."""
    rows = []
    for (seed, fold), per_task in blends.items():
        for task, b in zip(TASKS, per_task, strict=True):
            if b is None:
                continue
            for c, w in zip(b.components, b.weights, strict=True):
                rows.append({"seed": seed, "fold": fold, "task": task, "component": c,
                             "weight": w, "choice": b.choice})  # fmt: skip
            rows.append({"seed": seed, "fold": fold, "task": task, "component": "intercept",
                         "weight": b.intercept, "choice": b.choice})  # fmt: skip
    return pd.DataFrame(rows, columns=["seed", "fold", "task", "component", "weight", "choice"])
