"""The per-task metric formulas of chapter 3.3 on 1-D ``y_true`` / ``y_pred`` (valid pairs
only; edge cases as in :mod:`tqa.study.metrics`): errors, correlations, agreement (CCC), and
the 3-class accuracy / QWK."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats

from tqa.core.schema import MISSING
from tqa.study.metrics.names import DEFAULT_CLASS_BOUNDS, MIN_CORR_N


# --------------------------------------------------------------------------- masking
def valid_pairs(
    y_true: Iterable[float], y_pred: Iterable[float], missing: float = MISSING
) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` restricted to pairs with a present, finite target and prediction."""
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    keep = np.isfinite(t) & np.isfinite(p) & (t != missing)
    return t[keep], p[keep]


def constant(x: np.ndarray) -> bool:
    """True for an empty or constant array (correlations are undefined there)."""
    return x.size == 0 or bool(np.all(x == x[0]))


# --------------------------------------------------------------------------- errors
def mse(y_true, y_pred) -> float:
    """Mean squared error."""
    t, p = valid_pairs(y_true, y_pred)
    return float(np.mean((p - t) ** 2)) if t.size else math.nan


def rmse(y_true, y_pred) -> float:
    """Root mean squared error (score units)."""
    value = mse(y_true, y_pred)
    return math.sqrt(value) if np.isfinite(value) else math.nan


def mae(y_true, y_pred) -> float:
    """Mean absolute error (score units)."""
    t, p = valid_pairs(y_true, y_pred)
    return float(np.mean(np.abs(p - t))) if t.size else math.nan


def medae(y_true, y_pred) -> float:
    """Median absolute error (score units)."""
    t, p = valid_pairs(y_true, y_pred)
    return float(np.median(np.abs(p - t))) if t.size else math.nan


def r2(y_true, y_pred) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN for n < 2 or constant targets)."""
    t, p = valid_pairs(y_true, y_pred)
    if t.size < 2 or constant(t):
        return math.nan
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return 1.0 - ss_res / ss_tot


# --------------------------------------------------------------------------- correlations
def corr_ready(y_true, y_pred) -> tuple[np.ndarray, np.ndarray] | None:
    """Valid pairs fit for a correlation (n >= 3, neither side constant), else None."""
    t, p = valid_pairs(y_true, y_pred)
    if t.size < MIN_CORR_N or constant(t) or constant(p):
        return None
    return t, p


def pearson(y_true, y_pred) -> float:
    """Pearson linear correlation (PLCC without mapping)."""
    pair = corr_ready(y_true, y_pred)
    if pair is None:
        return math.nan
    t, p = pair
    tc, pc = t - t.mean(), p - p.mean()
    return float(np.clip(np.sum(tc * pc) / math.sqrt(np.sum(tc**2) * np.sum(pc**2)), -1.0, 1.0))


def spearman(y_true, y_pred) -> float:
    """Spearman rank correlation (SROCC), average ranks for ties."""
    pair = corr_ready(y_true, y_pred)
    if pair is None:
        return math.nan
    t, p = pair
    return pearson(stats.rankdata(t), stats.rankdata(p))


def kendall_tau(y_true, y_pred) -> float:
    """Kendall's tau-b (tie-corrected), as scipy.stats.kendalltau."""
    pair = corr_ready(y_true, y_pred)
    if pair is None:
        return math.nan
    t, p = pair
    return float(stats.kendalltau(t, p).statistic)


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient (Lin 1989), population moments.

    CCC = 2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))^2): Pearson penalised
    for bias and scale shift, i.e. agreement rather than association.
    """
    t, p = valid_pairs(y_true, y_pred)
    if t.size < MIN_CORR_N:
        return math.nan
    mt, mp = t.mean(), p.mean()
    # exact 0 for a constant side (avoids float residue of mean() on a constant array)
    cov = 0.0 if constant(t) or constant(p) else float(np.mean((t - mt) * (p - mp)))
    denom = float(t.var() + p.var() + (mt - mp) ** 2)
    return 2.0 * cov / denom if denom > 0 else math.nan


# --------------------------------------------------------------------------- classes
def to_classes(scores: np.ndarray, bounds: Sequence[float] = DEFAULT_CLASS_BOUNDS) -> np.ndarray:
    """Class index per score: bins [min, b0), [b0, b1), ..., [b_last, max] -> 0..len(bounds)."""
    return np.digitize(
        np.asarray(scores, dtype=float), np.asarray(bounds, dtype=float), right=False
    )


def accuracy_3class(y_true, y_pred, bounds: Sequence[float] = DEFAULT_CLASS_BOUNDS) -> float:
    """Share of pairs whose predicted class (bins of ``bounds``) equals the true class."""
    t, p = valid_pairs(y_true, y_pred)
    if not t.size:
        return math.nan
    return float(np.mean(to_classes(t, bounds) == to_classes(p, bounds)))


def confusion(y_true, y_pred, bounds: Sequence[float] = DEFAULT_CLASS_BOUNDS) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class, K = len(bounds) + 1."""
    t, p = valid_pairs(y_true, y_pred)
    k = len(bounds) + 1
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (to_classes(t, bounds), to_classes(p, bounds)), 1)
    return cm


def qwk(y_true, y_pred, bounds: Sequence[float] = DEFAULT_CLASS_BOUNDS) -> float:
    """Quadratic weighted kappa (Cohen 1968) on the classes of ``bounds``.

    kappa = 1 - sum(W * O) / sum(W * E), W_ij = (i - j)^2 / (K - 1)^2, O the observed
    confusion matrix, E the outer product of its marginals / n.
    """
    cm = confusion(y_true, y_pred, bounds).astype(float)
    n = cm.sum()
    if n == 0:
        return math.nan
    k = cm.shape[0]
    idx = np.arange(k)
    w = (idx[:, None] - idx[None, :]) ** 2 / float((k - 1) ** 2)
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / n
    denom = float(np.sum(w * expected))
    if denom <= 0:
        return math.nan
    return 1.0 - float(np.sum(w * cm)) / denom
