"""Metrics over tasks: the name -> function registry, percentile bootstrap CIs, the task x
metric table (:func:`evaluate_tasks`) and a batch accumulator (:class:`MetricCollection`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from tqa.core.schema import TASKS
from tqa.study.metrics import formulas as F
from tqa.study.metrics.logistic import plcc_logistic, rmse_logistic
from tqa.study.metrics.names import DEFAULT_CLASS_BOUNDS, METRICS

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def metric_functions(class_bounds: Sequence[float] = DEFAULT_CLASS_BOUNDS) -> dict[str, MetricFn]:
    """Name -> ``fn(y_true, y_pred)`` for every metric in :data:`METRICS`."""
    b = tuple(class_bounds)
    return {
        "mse": F.mse,
        "rmse": F.rmse,
        "mae": F.mae,
        "medae": F.medae,
        "r2": F.r2,
        "pearson": F.pearson,
        "spearman": F.spearman,
        "kendall_tau": F.kendall_tau,
        "ccc": F.ccc,
        "plcc_logistic": plcc_logistic,
        "rmse_logistic": rmse_logistic,
        "accuracy_3class": lambda t, p: F.accuracy_3class(t, p, b),
        "qwk": lambda t, p: F.qwk(t, p, b),
    }


# --------------------------------------------------------------------------- bootstrap
def bootstrap_ci(
    metric_fn: MetricFn, y_true, y_pred, n: int = 1000, ci: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``(point, low, high)``: percentile bootstrap CI (Efron & Tibshirani 1993).

    Valid pairs are resampled with replacement ``n`` times; replicates where the metric
    is undefined (NaN, e.g. a constant resample) are ignored; all-NaN gives NaN bounds.
    """
    t, p = F.valid_pairs(y_true, y_pred)
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
        t, p = F.valid_pairs(y_true[:, k], y_pred[:, k])
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
