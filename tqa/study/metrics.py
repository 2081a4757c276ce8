"""Evaluation metrics of chapter 3.3 (per task, over valid labels only).

Functional metrics take 1-D arrays ``y_true`` and ``y_pred`` (scores in [1, 5]) and
drop every pair whose target equals the missing marker (-1.0) or where either side
is NaN/inf, so a caller never has to mask by hand.

Defined edge cases (no exception, no runtime warning):

* no valid pair: every metric is NaN.
* error metrics (MSE, RMSE, MAE, MedAE) are computed for any n >= 1.
* R2 is NaN when n < 2 or when the targets are constant (R2 is undefined there;
  sklearn would report 0.0 or 1.0 by convention).
* correlation metrics (Pearson, Spearman, Kendall tau, logistic PLCC) are NaN when
  n < 3 or when either side is constant (e.g. a model that predicts one value).
* CCC (Lin 1989) is NaN when n < 3; with one side constant it is its closed form,
  0.0 (no agreement beyond chance), and NaN when both sides are constant.
* 3-class accuracy and QWK use the bins of ``eval.class_bounds`` (default
  [1,3), [3,4), [4,5]); QWK is NaN when the chance agreement term is 0 (e.g. both
  raters put everything into one class).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from tqa.core.schema import MISSING, TASKS

#: Metric names in table order (chapter 3.3 list, plus logistic PLCC).
METRICS: tuple[str, ...] = (
    "mse",
    "rmse",
    "mae",
    "medae",
    "r2",
    "pearson",
    "spearman",
    "kendall_tau",
    "ccc",
    "plcc_logistic",
    "rmse_logistic",
    "accuracy_3class",
    "qwk",
)
#: Metrics where lower is better (everything else: higher is better).
LOWER_IS_BETTER: frozenset[str] = frozenset({"mse", "rmse", "mae", "medae", "rmse_logistic"})
#: Decimals that mean something for metrics behind an iterative fit: the logistic fit stops
#: at curve_fit's tolerance (~1.5e-8 relative), and on an ill-conditioned fold (near-constant
#: predictions) the same predictions scored in two processes gave values 1e-7 apart.
FIT_METRIC_DECIMALS: dict[str, int] = {"plcc_logistic": 4, "rmse_logistic": 4}
#: Named metric sets for tables. ``vqa``: the four numbers of VQA / THQA papers for a
#: single-score (MOS) dataset: SRCC, PLCC and RMSE after the 4-parameter logistic
#: mapping (VQEG FR-TV Phase II), KRCC.
TABLE_PRESETS: dict[str, tuple[str, ...]] = {
    "vqa": ("spearman", "plcc_logistic", "kendall_tau", "rmse_logistic"),
    "study": ("pearson", "spearman", "rmse", "ccc"),
}
#: Default class bounds when no params are given: [1,3), [3,4), [4,5].
DEFAULT_CLASS_BOUNDS: tuple[float, ...] = (3.0, 4.0)
#: Minimum valid pairs for a correlation metric.
MIN_CORR_N: int = 3


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


def _constant(x: np.ndarray) -> bool:
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
    if t.size < 2 or _constant(t):
        return math.nan
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return 1.0 - ss_res / ss_tot


# --------------------------------------------------------------------------- correlations
def _corr_ready(y_true, y_pred) -> tuple[np.ndarray, np.ndarray] | None:
    t, p = valid_pairs(y_true, y_pred)
    if t.size < MIN_CORR_N or _constant(t) or _constant(p):
        return None
    return t, p


def pearson(y_true, y_pred) -> float:
    """Pearson linear correlation (PLCC without mapping)."""
    pair = _corr_ready(y_true, y_pred)
    if pair is None:
        return math.nan
    t, p = pair
    tc, pc = t - t.mean(), p - p.mean()
    return float(np.clip(np.sum(tc * pc) / math.sqrt(np.sum(tc**2) * np.sum(pc**2)), -1.0, 1.0))


def spearman(y_true, y_pred) -> float:
    """Spearman rank correlation (SROCC), average ranks for ties."""
    pair = _corr_ready(y_true, y_pred)
    if pair is None:
        return math.nan
    t, p = pair
    return pearson(stats.rankdata(t), stats.rankdata(p))


def kendall_tau(y_true, y_pred) -> float:
    """Kendall's tau-b (tie-corrected), as scipy.stats.kendalltau."""
    pair = _corr_ready(y_true, y_pred)
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
    cov = 0.0 if _constant(t) or _constant(p) else float(np.mean((t - mt) * (p - mp)))
    denom = float(t.var() + p.var() + (mt - mp) ** 2)
    return 2.0 * cov / denom if denom > 0 else math.nan


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


def fit_logistic4(y_true, y_pred) -> tuple[np.ndarray, bool]:
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
    pair = _corr_ready(y_true, y_pred)
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
    if not np.all(np.isfinite(mapped)) or _constant(mapped) or np.ptp(mapped) < 1e-9:
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
    pair = _corr_ready(y_true, y_pred)
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


def metric_names(spec: str | Sequence[str] | None, default: Sequence[str] = METRICS) -> list[str]:
    """Metric names of a preset name (:data:`TABLE_PRESETS`), a list, or ``default`` for None."""
    if spec is None:
        return list(default)
    if isinstance(spec, str):
        if spec in TABLE_PRESETS:
            return list(TABLE_PRESETS[spec])
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [m for m in spec if m not in METRICS]
    if unknown:
        raise ValueError(
            f"unknown metric(s) {unknown}; known: {list(METRICS)} or a preset {list(TABLE_PRESETS)}"
        )
    return list(spec)


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


# --------------------------------------------------------------------------- registry
MetricFn = Callable[[np.ndarray, np.ndarray], float]


def metric_functions(class_bounds: Sequence[float] = DEFAULT_CLASS_BOUNDS) -> dict[str, MetricFn]:
    """Name -> ``fn(y_true, y_pred)`` for every metric in :data:`METRICS`."""
    b = tuple(class_bounds)
    return {
        "mse": mse,
        "rmse": rmse,
        "mae": mae,
        "medae": medae,
        "r2": r2,
        "pearson": pearson,
        "spearman": spearman,
        "kendall_tau": kendall_tau,
        "ccc": ccc,
        "plcc_logistic": plcc_logistic,
        "rmse_logistic": rmse_logistic,
        "accuracy_3class": lambda t, p: accuracy_3class(t, p, b),
        "qwk": lambda t, p: qwk(t, p, b),
    }


# --------------------------------------------------------------------------- bootstrap
def bootstrap_ci(
    metric_fn: MetricFn, y_true, y_pred, n: int = 1000, ci: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``(point, low, high)``: percentile bootstrap CI (Efron & Tibshirani 1993).

    Valid pairs are resampled with replacement ``n`` times; replicates where the metric
    is undefined (NaN, e.g. a constant resample) are ignored; all-NaN gives NaN bounds.
    """
    t, p = valid_pairs(y_true, y_pred)
    point = metric_fn(t, p)
    if t.size == 0 or n <= 0:
        return point, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, t.size, size=(n, t.size))
    reps = np.array([metric_fn(t[i], p[i]) for i in idx], dtype=float)
    reps = reps[np.isfinite(reps)]
    if not reps.size:
        return point, math.nan, math.nan
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return point, float(lo), float(hi)


# --------------------------------------------------------------------------- per-task table
def evaluate_tasks(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    params_eval: dict | None = None,
    tasks: Sequence[str] = TASKS,
    metrics: Sequence[str] | None = None,
    bootstrap: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Task x metric table for (N, K) targets and predictions (-1.0 = missing target).

    ``params_eval`` is the ``eval`` section (``class_bounds``, ``ci``, ``ci_metrics``);
    ``bootstrap`` (default 0 = off) adds ``<metric>_lo`` / ``<metric>_hi`` columns for
    ``eval.ci_metrics``. Index: task; columns: ``n`` (valid pairs), then the metrics.
    """
    pe = params_eval or {}
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    if y_true.shape != y_pred.shape or y_true.shape[1] != len(tasks):
        raise ValueError(
            f"y_true {y_true.shape} / y_pred {y_pred.shape} do not match {len(tasks)} tasks"
        )
    fns = metric_functions(pe.get("class_bounds", DEFAULT_CLASS_BOUNDS))
    names = list(metrics or METRICS)
    ci_names = [
        m for m in pe.get("ci_metrics", ["pearson", "spearman", "rmse", "ccc"]) if m in names
    ]
    n_boot = int(bootstrap or 0)
    rows = []
    for k, task in enumerate(tasks):
        t, p = valid_pairs(y_true[:, k], y_pred[:, k])
        row: dict[str, float] = {"task": task, "n": int(t.size)}
        for m in names:
            row[m] = fns[m](t, p)
        if n_boot:
            for m in ci_names:
                _, lo, hi = bootstrap_ci(
                    fns[m], t, p, n=n_boot, ci=float(pe.get("ci", 0.95)), seed=seed + k
                )
                row[f"{m}_lo"], row[f"{m}_hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows).set_index("task")


class MetricCollection:
    """Accumulate (targets, predictions) batches, then :meth:`compute` the task table.

    A torchmetrics-style convenience: ``update`` per batch, ``compute`` once, ``reset``.
    """

    def __init__(self, params_eval: dict | None = None, tasks: Sequence[str] = TASKS) -> None:
        self.params_eval = params_eval or {}
        self.tasks = tuple(tasks)
        self.reset()

    def reset(self) -> None:
        self._true: list[np.ndarray] = []
        self._pred: list[np.ndarray] = []

    def update(self, y_true, y_pred) -> None:
        t = np.asarray(y_true, dtype=float).reshape(-1, len(self.tasks))
        p = np.asarray(y_pred, dtype=float).reshape(-1, len(self.tasks))
        if t.shape != p.shape:
            raise ValueError(f"batch shapes differ: {t.shape} vs {p.shape}")
        self._true.append(t)
        self._pred.append(p)

    def compute(self, bootstrap: int | None = None) -> pd.DataFrame:
        if not self._true:
            t = np.empty((0, len(self.tasks)))
            return evaluate_tasks(t, t, self.params_eval, self.tasks)
        return evaluate_tasks(
            np.concatenate(self._true),
            np.concatenate(self._pred),
            self.params_eval,
            self.tasks,
            bootstrap=bootstrap,
        )
