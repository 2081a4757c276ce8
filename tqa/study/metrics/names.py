"""Which metrics there are (chapter 3.3): names in table order, their direction, named sets
for tables, the default 3-class bounds, and the parsing of a metric list or preset."""

from __future__ import annotations

from collections.abc import Sequence

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


def class_bounds(params_eval: dict | None) -> tuple[float, ...]:
    """``eval.class_bounds`` of an ``eval`` params section, else :data:`DEFAULT_CLASS_BOUNDS`."""
    return tuple((params_eval or {}).get("class_bounds", DEFAULT_CLASS_BOUNDS))
