"""Which single knob moves a model? One-knob variants tested against the configuration.

One of the diagnosis's three questions (:mod:`tqa.study.diagnosis`): ``tqa cv``-style
out-of-fold scores of one-knob variants of the configuration (``tqa:<strategy>/key=value``),
each tested against the configuration itself (:func:`tqa.study.comparison.compare`: paired
Wilcoxon over (seed, fold) test folds, or a paired bootstrap over videos).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from tqa.core.schema import FeatureSet
from tqa.study.comparison import compare
from tqa.study.crossval import MODEL_PREFIX, cv_params, run_cv
from tqa.study.studies import ResultsStore, main_strategy


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
