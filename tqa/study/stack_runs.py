"""The stacked default model's runs inside the k-fold engine (:mod:`tqa.study.crossval`).

Per outer (seed, fold) the stack (:mod:`tqa.study.stacking`) fits its components on the
outer split and on inner splits cut from its non-test rows: the Transformer through
:func:`tqa.study.studies.run_one`, the pooled components through
:func:`tqa.study.baseline_runs.baseline_runs`, all kept in the shared run cache.
"""

from __future__ import annotations

import numpy as np

from tqa.core.schema import FeatureSet
from tqa.study.baseline_runs import baseline_runs, fold_hash
from tqa.study.baselines import score_bounds
from tqa.study.parallel_fits import FitJob
from tqa.study.stacking import (
    TRANSFORMER,
    component_params,
    inner_splits,
    stack_params,
    stacked_predictions,
)
from tqa.study.studies import main_strategy, run_key, run_one


class StackRuns:
    """The stacked default model's fits inside :func:`tqa.study.crossval.fold_predictions`
    (inner splits, Transformer jobs for the worker pool, run-cache-backed component
    predictions)."""

    def __init__(
        self,
        params: dict,
        ids: list[str],
        groups,
        val_fraction: float,
        base: str,
        features: FeatureSet | None = None,
    ):
        self.params, self.ids, self.groups = params, ids, groups
        self.pooled_params = component_params(params)  # routed tasks stay routed in the blend
        self.val_fraction, self.base = val_fraction, base
        sp = stack_params(params, features)  # features: the inner-fold count of this data
        self.components, self.k = list(sp["components"]), int(sp["inner_folds"])
        self.blend, self.bags = str(sp["blend"]), int(sp["bags"])
        self.strategy = main_strategy(params)

    def splits(self, seed: int, split: np.ndarray) -> list[np.ndarray]:
        return list(inner_splits(self.ids, self.groups, split, self.k, self.val_fraction, seed))

    def labelled_splits(self, seed: int, split: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The outer split and every inner one, named as in the run table."""
        inner = [(f"inner{j}", s) for j, s in enumerate(self.splits(seed, split))]
        return [("outer", np.asarray(split)), *inner]

    def fhash(self, split: np.ndarray) -> str:
        return fold_hash(self.base, split)

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

    def pooled_jobs(self, plans) -> list:
        """The pooled components' runs of every outer and inner split
        (:data:`tqa.study.baseline_runs.BaselineJob`), for
        :func:`tqa.study.baseline_runs.prefit_baseline_runs`."""
        pooled = [c for c in self.components if c != TRANSFORMER]
        if not pooled:
            return []
        return [(pooled, s, seed, self.fhash(s), self.pooled_params)
                for seed, fold, split, _ in plans
                for _, s in self.labelled_splits(seed, split)]  # fmt: skip

    def predict(self, seed, fold, split, features, labels, meta, store, fit_fn):
        def model_fn(s: np.ndarray, label: str) -> np.ndarray:
            _, pred, _ = run_one(
                "cv", f"seed{seed}/fold{fold}/{label}", {}, self.strategy, seed, features,
                labels, s, self.params, store, fit_fn, self.fhash(s),
            )  # fmt: skip
            return np.asarray(pred, dtype=float)

        def pooled_fn(names, s: np.ndarray) -> dict[str, np.ndarray]:
            return baseline_runs(
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
            self.blend, score_bounds(self.params), self.bags,
        )  # fmt: skip
