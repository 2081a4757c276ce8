"""A k-fold method refitted on one outer split, as a function of features: for analyses that
must predict *other* inputs than the ones the run cache holds predictions for.

The run cache (:mod:`tqa.study.run_cache`) keeps each fit's predictions, not the fitted
model. :mod:`tqa.study.importance` needs a fold's fit to predict permuted features, so it
refits the method here on the same split with the same seed:

* a pooled regressor: :func:`tqa.study.baselines.fit_pooled_models`, the baseline's fit;
* ``tqa:stack``: the chapter's configuration refitted on the outer split (the run that
  :class:`tqa.study.stack_runs.StackRuns` caches as ``outer``), the pooled components on
  the same split with the stack's routing (:func:`tqa.study.stacking.component_params`),
  and the blend per task that the k-fold fitted on the inner folds (passed in, not
  refitted), applied by :func:`tqa.study.stacking.apply_blends`, as the k-fold applies it.

A test checks that the refitted stack predicts the test fold as the k-fold did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tqa.core.schema import TASKS, FeatureSet
from tqa.study.baselines import (
    POOLED_REGRESSORS,
    fit_pooled_models,
    learned_tasks,
    predict_pooled_models,
    score_bounds,
)
from tqa.study.blend import Blend
from tqa.study.stacking import (
    STACK,
    TRANSFORMER,
    apply_blends,
    component_params,
    stack_params,
)
from tqa.study.studies import _default_fit, main_strategy

#: features (M videos) -> predictions (M, 5).
Predictor = Callable[[FeatureSet], np.ndarray]
#: Methods :func:`refit_method` can refit: every pooled regressor and the stacked model.
REFITTABLE: tuple[str, ...] = (*POOLED_REGRESSORS, STACK)


def refit_method(
    method: str,
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    seed: int,
    blends: Sequence[Blend | None] | None = None,
) -> Predictor:
    """The predictor of ``method`` fitted on ``split`` (train / val / test) with ``seed``.

    ``blends``: for ``tqa:stack``, its blend per task (in TASKS order) from the k-fold's
    ``blends_out`` for this (seed, fold); ValueError without them."""
    labels = np.asarray(labels, dtype=float)
    if method in POOLED_REGRESSORS:
        models = fit_pooled_models(method, fs, labels, split, params, seed)
        return lambda sub: predict_pooled_models(models, sub, params, method)
    if method != STACK:
        raise ValueError(f"cannot refit {method!r}: one of {list(REFITTABLE)}")
    if blends is None or len(blends) != len(TASKS):
        raise ValueError("tqa:stack needs its blend per task from the k-fold (blends_out)")
    components = list(stack_params(params)["components"])
    pooled_params = component_params(params)
    pooled = {c: fit_pooled_models(c, fs, labels, split, pooled_params, seed)
              for c in components if c != TRANSFORMER}  # fmt: skip
    model = None
    untrained = ~learned_tasks(labels, split, ("train",))
    if TRANSFORMER in components:
        fit = _default_fit()
        model = fit(fs, labels, split, params, strategy=main_strategy(params), seed=int(seed),
                    out_dir=None, progress=False)  # fmt: skip
    bounds = score_bounds(params)

    def predict(sub: FeatureSet) -> np.ndarray:
        comp = {c: predict_pooled_models(m, sub, pooled_params, c) for c, m in pooled.items()}
        if model is not None:
            pred = np.array(model.predict(sub), dtype=float)
            pred[:, untrained] = np.nan  # a head never trained gets no weight
            comp[TRANSFORMER] = pred
        return apply_blends(blends, np.stack([comp[c] for c in components], axis=1), bounds)

    return predict
