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

The package, by concept: :mod:`~tqa.study.metrics.names` (which metrics, presets, class
bounds), :mod:`~tqa.study.metrics.formulas` (errors, correlations, CCC, classes),
:mod:`~tqa.study.metrics.logistic` (the VQEG logistic mapping and the metrics after it),
:mod:`~tqa.study.metrics.tables` (registry, bootstrap CIs, the task x metric table). Every
public name is importable from ``tqa.study.metrics``.
"""

from tqa.study.metrics.formulas import (
    accuracy_3class,
    ccc,
    confusion,
    kendall_tau,
    mae,
    medae,
    mse,
    pearson,
    qwk,
    r2,
    rmse,
    spearman,
    to_classes,
    valid_pairs,
)
from tqa.study.metrics.logistic import fit_logistic4, logistic4, plcc_logistic, rmse_logistic
from tqa.study.metrics.names import (
    DEFAULT_CLASS_BOUNDS,
    FIT_METRIC_DECIMALS,
    LOWER_IS_BETTER,
    METRICS,
    MIN_CORR_N,
    TABLE_PRESETS,
    class_bounds,
    metric_names,
)
from tqa.study.metrics.tables import (
    MetricCollection,
    MetricFn,
    bootstrap_ci,
    evaluate_tasks,
    metric_functions,
)

__all__ = [
    "DEFAULT_CLASS_BOUNDS",
    "FIT_METRIC_DECIMALS",
    "LOWER_IS_BETTER",
    "METRICS",
    "MIN_CORR_N",
    "TABLE_PRESETS",
    "MetricCollection",
    "MetricFn",
    "accuracy_3class",
    "bootstrap_ci",
    "ccc",
    "class_bounds",
    "confusion",
    "evaluate_tasks",
    "fit_logistic4",
    "kendall_tau",
    "logistic4",
    "mae",
    "medae",
    "metric_functions",
    "metric_names",
    "mse",
    "pearson",
    "plcc_logistic",
    "qwk",
    "r2",
    "rmse",
    "rmse_logistic",
    "spearman",
    "to_classes",
    "valid_pairs",
]
