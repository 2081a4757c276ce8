"""Stacked regression: per-task non-negative blend weights over component predictions.

tqa's default model (:mod:`tqa.study.stacking`) blends the chapter's Transformer with
regressors on pooled features. The blend is Breiman's stacked regression (L. Breiman,
"Stacked regressions", Machine Learning 24, 1996; after D. Wolpert, "Stacked
generalization", 1992): the weights are fitted by non-negative least squares on
*out-of-fold* predictions of the components (never on predictions of rows a component
was trained on), here with a free intercept: centred targets on centred predictions, so a
component that only shifts the scale gets no weight and all-zero weights predict the mean.

On a few hundred videos the NNLS weights themselves are noisy (a weak component can take
weight in one fold), so :func:`fit_blend` chooses, per task, between the NNLS blend of all
components and each single component (calibrated by the same one-column NNLS) by
cross-validating that choice over the inner folds of the out-of-fold predictions: the
blender is itself a model selected on held-out rows (the meta-level selection of Wolpert's
stacked generalization), at the cost of a few least-squares fits and no extra model fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls


@dataclass(frozen=True)
class Blend:
    """One task's blend: ``pred = intercept + sum_j weights[j] * component_j``."""

    components: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    choice: str = "nnls"  # "nnls" (all), "mean" (equal weights), "bagged" or one component

    def predict(self, preds: np.ndarray) -> np.ndarray:
        """(N,) blend of ``preds`` (N, C) in :attr:`components` order."""
        p = np.asarray(preds, dtype=float)
        if p.ndim != 2 or p.shape[1] != len(self.components):
            raise ValueError(f"blend of {len(self.components)} components got preds {p.shape}")
        w = np.asarray(self.weights, dtype=float)
        used = w > 0  # a zero-weight component may be NaN (e.g. a head with no labels)
        return self.intercept + p[:, used] @ w[used]

    def as_dict(self) -> dict:
        return {
            "components": list(self.components),
            "weights": [float(w) for w in self.weights],
            "intercept": float(self.intercept),
            "choice": self.choice,
        }


def fit_blend(
    inner_preds: np.ndarray,
    y: np.ndarray,
    components: Sequence[str],
    folds: np.ndarray | None = None,
    average: bool = False,
    bags: int = 0,
) -> Blend:
    """The blend of (n, C) out-of-fold ``inner_preds`` for targets ``y`` (n,).

    ``folds`` (n,): the inner fold of each row. Given, the blend is the candidate — the
    centred-NNLS blend of all usable components, or one component alone (calibrated) —
    with the lowest mean squared error when each inner fold's rows are predicted by the
    candidate fitted on the other folds' rows; None: the NNLS blend of all. Rows with a
    non-finite target are dropped; a component with a non-finite prediction on the
    remaining rows gets weight 0. ValueError when fewer than 2 rows remain.

    ``average``: instead, the equal-weight mean of the usable components, calibrated (one
    scale and an intercept, by the same centred NNLS): no per-component weight is estimated,
    the combination that often beats estimated weights when the rows that estimate them are
    few (the "forecast combination puzzle": Clemen 1989, Smith & Wallis 2009).

    ``bags`` > 0: instead, the NNLS weights averaged over ``bags`` bootstrap resamples of
    the rows (Breiman's bagging, "Bagging predictors", Machine Learning 24, 1996, applied to
    the blender), the intercept refitted on all rows: a component that wins a resample by
    chance keeps a share, not all, so the weights vary less between training parts. Seeded
    (:data:`BAG_SEED`): the same rows give the same blend.
    """
    p = np.asarray(inner_preds, dtype=float)
    y = np.asarray(y, dtype=float)
    if p.ndim != 2 or p.shape != (len(y), len(components)):
        raise ValueError(f"inner predictions {p.shape} do not match {len(y)} targets x "
                         f"{len(components)} components")  # fmt: skip
    rows = np.isfinite(y)
    p, y = p[rows], y[rows]
    if len(y) < 2:
        raise ValueError(f"a blend needs at least 2 labelled rows, got {len(y)}")
    usable = np.flatnonzero(np.isfinite(p).all(axis=0))
    if average:
        w = np.zeros(len(components))
        scale, intercept = _nnls(p[:, usable].mean(axis=1, keepdims=True), y)
        w[usable] = float(scale[0]) / len(usable) if len(usable) else 0.0
        return Blend(tuple(components), tuple(float(v) for v in w), float(intercept), "mean")
    if bags > 0:
        w = np.zeros(len(components))
        w[usable] = _bagged_nnls(p[:, usable], y, int(bags))
        intercept = _intercept(p[:, usable], y, w[usable])
        return Blend(tuple(components), tuple(float(v) for v in w), intercept, "bagged")
    candidates = {"nnls": usable, **{components[c]: np.array([c]) for c in usable}}
    choice = "nnls"
    if folds is not None and len(usable) > 1:
        f = np.asarray(folds)[rows]
        cv = {name: _cv_mse(p[:, cols], y, f) for name, cols in candidates.items()}
        choice = min(cv, key=lambda name: (cv[name], name != "nnls"))  # ties: the blend
    w = np.zeros(len(components))
    w_used, intercept = _nnls(p[:, candidates[choice]], y)
    w[candidates[choice]] = w_used
    return Blend(tuple(components), tuple(float(v) for v in w), float(intercept), choice)


#: Seed of the bootstrap resamples of :func:`fit_blend` with ``bags``.
BAG_SEED = 0


def _bagged_nnls(p: np.ndarray, y: np.ndarray, bags: int) -> np.ndarray:
    """(C,) mean of the centred-NNLS weights of ``bags`` bootstrap resamples of the rows."""
    rng = np.random.default_rng(BAG_SEED)
    w = np.zeros(p.shape[1])
    for _ in range(bags):
        rows = rng.integers(0, len(y), len(y))
        w += _nnls(p[rows], y[rows])[0]
    return w / bags


def _nnls(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Centred NNLS: (weights (C,) >= 0, intercept) of ``y ~ intercept + p @ weights``."""
    y_mean = float(y.mean())
    if p.shape[1] == 0:
        return np.zeros(0), y_mean
    w, _ = nnls(p - p.mean(axis=0), y - y_mean)
    return w, _intercept(p, y, w)


def _intercept(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """The intercept of weights ``w`` on centred data: mean(y) - mean(p) @ w."""
    return float(y.mean()) - float(p.mean(axis=0) @ w)


def _cv_mse(p: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Mean squared error of the centred NNLS of ``p`` when each fold is predicted from a fit
    on the others (a fold whose complement has < 2 rows is skipped)."""
    err, n = 0.0, 0
    for f in np.unique(folds):
        test = folds == f
        if (~test).sum() < 2:
            continue
        w, b = _nnls(p[~test], y[~test])
        err += float(((b + p[test] @ w - y[test]) ** 2).sum())
        n += int(test.sum())
    return err / n if n else float("inf")
