"""The VQEG 4-parameter logistic mapping (FR-TV Phase II practice) and the metrics taken
after it: PLCC and RMSE of VQA / THQA papers (chapter 3.3)."""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict

import numpy as np
from scipy import optimize

from tqa.study.metrics.formulas import constant, corr_ready, pearson, valid_pairs


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """VQEG 4-parameter logistic f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2."""
    z = np.clip(-(x - b3) / max(abs(b4), 1e-12), -500.0, 500.0)
    return (b1 - b2) / (1.0 + np.exp(z)) + b2


def _sse(t: np.ndarray, p: np.ndarray, popt: np.ndarray) -> float:
    r = t - logistic4(p, *popt)
    return float(np.sum(r * r)) if np.all(np.isfinite(r)) else math.inf


def _curve_fit(p: np.ndarray, t: np.ndarray, p0: list[float]) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = optimize.curve_fit(logistic4, p, t, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning, FloatingPointError):
        return None
    return popt if np.all(np.isfinite(popt)) else None


#: Recent fits by the exact bytes of their pairs: PLCC and RMSE after the mapping are taken
#: on the same pairs one after the other, and a fit costs ~10 ms (up to 20000 evaluations).
_FITS: OrderedDict[bytes, tuple[np.ndarray, bool]] = OrderedDict()
_FITS_KEPT = 64


def fit_logistic4(y_true, y_pred) -> tuple[np.ndarray, bool]:
    """:func:`_fit_logistic4`, memoised on the exact values of the valid pairs (same result)."""
    t, p = valid_pairs(y_true, y_pred)
    t, p = np.ascontiguousarray(t, dtype=float), np.ascontiguousarray(p, dtype=float)
    key = hashlib.blake2b(t.tobytes() + b"|" + p.tobytes(), digest_size=20).digest()
    if key in _FITS:
        _FITS.move_to_end(key)
    else:
        _FITS[key] = _fit_logistic4(t, p)
        if len(_FITS) > _FITS_KEPT:
            _FITS.popitem(last=False)
    popt, ok = _FITS[key]
    return popt.copy(), ok


def _fit_logistic4(y_true, y_pred) -> tuple[np.ndarray, bool]:
    """Fit :func:`logistic4` mapping predictions to targets; ``(params, ok)``.

    Two starts, the fit with the smaller squared error kept (least squares has local
    optima): (1) b1 = max(t), b2 = min(t), b3 = mean(p), b4 = std(p) on the raw
    predictions; (2) the start common in VQA code, b4 = 0.5 (and b3 = 0) on standardised
    predictions z = (p - mean) / std, mapped back to raw units (b3 = mean + std b3_z,
    b4 = std b4_z). ``ok`` is False when neither start converges to finite values.
    """
    t, p = valid_pairs(y_true, y_pred)
    mu, sd = float(p.mean()), float(p.std()) or 1.0
    p0 = [float(t.max()), float(t.min()), mu, sd]
    fits = []
    raw = _curve_fit(p, t, p0)
    if raw is not None:
        fits.append(raw)
    z = _curve_fit((p - mu) / sd, t, [float(t.max()), float(t.min()), 0.0, 0.5])
    if z is not None:
        fits.append(np.array([z[0], z[1], mu + sd * z[2], sd * z[3]]))
    if not fits:
        return np.asarray(p0), False
    return min(fits, key=lambda f: _sse(t, p, f)), True


def plcc_logistic(y_true, y_pred) -> float:
    """PLCC after the 4-parameter logistic mapping (VQEG FR-TV Phase II practice).

    The monotone logistic absorbs a non-linear but monotone relation between
    predictions and ratings before Pearson is taken. Needs n >= 5 (4 parameters);
    for smaller n, or when the fit fails / the mapped predictions are constant, the
    result falls back to the linear PLCC (Pearson of the raw predictions, which is
    what a linear mapping gives). The mapping must keep the predictor's direction
    (b1 >= b2, increasing): a decreasing fit would turn an inversely related predictor
    into a positive PLCC, so it also falls back to the linear PLCC. With few pairs the
    4 free parameters can overfit: read it next to Pearson/Spearman, never alone.
    """
    pair = corr_ready(y_true, y_pred)
    if pair is None:
        return math.nan
    t, p = pair
    linear = pearson(t, p)
    if t.size < 5:
        return linear
    popt, ok = fit_logistic4(t, p)
    if not ok or popt[0] < popt[1]:
        return linear
    mapped = logistic4(p, *popt)
    if not np.all(np.isfinite(mapped)) or constant(mapped) or np.ptp(mapped) < 1e-9:
        return linear
    return pearson(t, mapped)


def rmse_logistic(y_true, y_pred) -> float:
    """RMSE after the 4-parameter logistic mapping (score units): the RMSE of VQA/THQA papers.

    The predictions are mapped onto the rating scale by :func:`fit_logistic4` (fitted on
    the same pairs, VQEG practice) before the error is taken, so a predictor on another
    scale is not penalised for the scale alone. Falls back to the RMSE of the best linear
    map (least squares) when n < 5, the fit fails or is decreasing, as
    :func:`plcc_logistic` falls back to the linear PLCC; NaN for n < 3 or a constant side.
    """
    pair = corr_ready(y_true, y_pred)
    if pair is None:
        return math.nan
    t, p = pair
    mapped = None
    if t.size >= 5:
        popt, ok = fit_logistic4(t, p)
        if ok and popt[0] >= popt[1]:
            mapped = logistic4(p, *popt)
    if mapped is None or not np.all(np.isfinite(mapped)):
        slope, intercept = np.polyfit(p, t, 1)
        mapped = slope * p + intercept
    return float(np.sqrt(np.mean((t - mapped) ** 2)))
