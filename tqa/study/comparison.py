"""Comparing methods on out-of-fold predictions: per (method, task) a score, an interval, a test.

Step 4 of the k-fold protocol (:mod:`tqa.study.crossval` runs steps 1 to 3): :func:`compare`
takes the out-of-fold table of :func:`tqa.study.crossval.run_cv` and gives per (method,
task) the metric of every (seed, fold) test fold (:func:`fold_scores`), its mean and 95 %
t-interval over folds x seeds (:func:`t_interval`), and a paired test against a reference
method: a Wilcoxon signed-rank test on the same (seed, fold) pairs (:func:`paired_wilcoxon`)
or a paired bootstrap over videos (:func:`paired_bootstrap`), with a verdict in words
(:func:`verdict`). Tasks whose labels are near-constant (:func:`near_constant_tasks`) are
flagged in a ``note`` column and sorted apart. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from tqa.core.schema import TASKS
from tqa.study.crossval import MODEL_PREFIX
from tqa.study.metrics import LOWER_IS_BETTER, metric_functions


def fold_scores(
    oof: pd.DataFrame, metric: str, class_bounds: Sequence[float] = (3.0, 4.0)
) -> pd.DataFrame:
    """``metric`` on each (method, task, seed, fold) test fold: ``[..., value, n]``.

    Only pairs with a present label and a finite prediction count (n).
    """
    fn = metric_functions(class_bounds)[metric]
    rows = []
    for (method, task, seed, fold), g in oof.groupby(
        ["method", "task", "seed", "fold"], sort=False
    ):
        ok = g["y"].notna() & np.isfinite(g["pred"].to_numpy(float))
        y, p = g.loc[ok, "y"].to_numpy(float), g.loc[ok, "pred"].to_numpy(float)
        value = fn(y, p) if len(y) else math.nan
        rows.append(
            {
                "method": method,
                "task": task,
                "seed": seed,
                "fold": fold,
                "value": value,
                "n": len(y),
            }
        )
    return pd.DataFrame(rows, columns=["method", "task", "seed", "fold", "value", "n"])


def t_interval(values: Sequence[float], ci: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: Student-t interval of the mean of the finite ``values``.

    mean +- t_{(1+ci)/2, n-1} s / sqrt(n), s the sample std (ddof 1); NaN bounds for n < 2.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + ci) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> tuple[float, int]:
    """``(p, n)``: two-sided Wilcoxon signed-rank test of a - b over the pairs finite on both.

    Differences are rounded to 12 decimals (float noise must not break ties). p = 1.0
    when every difference is 0; NaN for fewer than 2 pairs. (With k = 5 folds and
    one seed the smallest possible p is 0.0625: use several seeds for a usable test.)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    # rounded: rank metrics on small folds take few values, so equal |differences| must tie
    # exactly, not differ by float noise (which would change the ranks and the p-value)
    d = np.round(a[ok] - b[ok], 12)
    if d.size < 2:
        return math.nan, int(d.size)
    if np.all(d == 0):
        return 1.0, int(d.size)
    return float(stats.wilcoxon(d).pvalue), int(d.size)


#: Metrics :func:`boot_values` computes for all resamples at once.
_VECTOR_METRICS = frozenset({"pearson", "spearman", "rmse", "mae", "ccc"})


def boot_values(metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(B,) ``metric`` of each row of (B, n) targets ``y`` and predictions ``p`` at once.

    As :mod:`tqa.study.metrics` (Pearson; Spearman = Pearson of average ranks; RMSE; MAE;
    Lin's CCC with population moments); a correlation with a constant side is NaN. Only
    for the metrics of ``_VECTOR_METRICS``; the bootstrap's resamples in one pass.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if metric == "rmse":
        return np.sqrt(np.mean((p - y) ** 2, axis=1))
    if metric == "mae":
        return np.mean(np.abs(p - y), axis=1)
    if metric == "spearman":
        y, p = stats.rankdata(y, axis=1), stats.rankdata(p, axis=1)
    yc, pc = y - y.mean(axis=1, keepdims=True), p - p.mean(axis=1, keepdims=True)
    const = (np.ptp(y, axis=1) == 0) | (np.ptp(p, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "ccc":
            cov = np.where(const, 0.0, np.mean(yc * pc, axis=1))
            den = y.var(axis=1) + p.var(axis=1) + (y.mean(axis=1) - p.mean(axis=1)) ** 2
            return np.where(den > 0, 2 * cov / den, np.nan)
        r = np.sum(yc * pc, axis=1) / np.sqrt(np.sum(yc**2, axis=1) * np.sum(pc**2, axis=1))
    return np.where(const, np.nan, np.clip(r, -1.0, 1.0))


def paired_bootstrap(
    oof: pd.DataFrame,
    method: str,
    reference: str,
    task: str,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    class_bounds: Sequence[float] = (3.0, 4.0),
) -> tuple[float, float, int]:
    """``(delta, p, n_videos)``: paired bootstrap over videos of ``metric`` on the pooled
    out-of-fold predictions, ``method`` minus ``reference``.

    Per seed, the videos with a label and a finite prediction from both methods are
    resampled with replacement ``n_boot`` times (the same resamples for both methods: paired);
    the metric of each method on each resample, their difference, averaged over seeds.
    delta: the observed difference (full sample, mean over seeds); p: two-sided,
    2 min(P*(d <= 0), P*(d >= 0)) over the bootstrap differences (Efron & Tibshirani 1993,
    ch. 16), at least 1 / n_boot. NaN when fewer than 3 paired videos.
    """
    fn = metric_functions(class_bounds)[metric]
    sub = oof[(oof["task"] == task) & oof["method"].isin([method, reference])]
    rng = np.random.default_rng(seed)
    deltas, diffs, n_min = [], [], None
    for _, g in sub.groupby("seed", sort=True):
        w = g.pivot_table(index="video_id", columns="method", values="pred", dropna=False)
        y = g.drop_duplicates("video_id").set_index("video_id")["y"].reindex(w.index)
        if method not in w or reference not in w:
            continue
        ok = (y.notna() & np.isfinite(w[method]) & np.isfinite(w[reference])).to_numpy()
        yy = y.to_numpy(float)[ok]
        a, b = w[method].to_numpy(float)[ok], w[reference].to_numpy(float)[ok]
        if yy.size < 3:
            continue
        n_min = yy.size if n_min is None else min(n_min, yy.size)
        deltas.append(fn(yy, a) - fn(yy, b))
        idx = rng.integers(0, yy.size, (int(n_boot), yy.size))
        if metric in _VECTOR_METRICS:
            diffs.append(
                boot_values(metric, yy[idx], a[idx]) - boot_values(metric, yy[idx], b[idx])
            )
        else:
            diffs.append([fn(yy[i], a[i]) - fn(yy[i], b[i]) for i in idx])
    if not deltas:
        return math.nan, math.nan, 0
    d = np.nanmean(np.asarray(diffs, dtype=float), axis=0)
    d = d[np.isfinite(d)]
    delta = float(np.nanmean(deltas))
    if d.size == 0 or not np.isfinite(delta):
        return delta, math.nan, int(n_min or 0)
    if np.all(d == 0) and delta == 0:
        return 0.0, 1.0, int(n_min)
    p = 2 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0)))
    return delta, float(min(1.0, max(p, 1.0 / d.size))), int(n_min)


def verdict(delta: float, p: float, metric: str, alpha: float = 0.05) -> str:
    """'better' / 'worse' (than the reference, at level alpha) or 'no detectable difference'."""
    if not (np.isfinite(delta) and np.isfinite(p)):
        return "n/a"
    if p >= alpha or delta == 0:
        return "no detectable difference"
    better = delta < 0 if metric in LOWER_IS_BETTER else delta > 0
    return "better" if better else "worse"


def near_constant_tasks(oof: pd.DataFrame, threshold: float = 0.1) -> dict[str, float]:
    """Task -> label std (ddof 1, one value per video) for tasks with std below ``threshold``."""
    y = oof.dropna(subset=["y"]).drop_duplicates(["video_id", "task"])
    std = y.groupby("task", sort=False)["y"].std(ddof=1)
    return {t: float(s) for t, s in std.items() if not (s >= threshold)}


def compare(
    oof: pd.DataFrame,
    reference: str | None = None,
    metric: str = "pearson",
    *,
    ci: float = 0.95,
    alpha: float = 0.05,
    class_bounds: Sequence[float] = (3.0, 4.0),
    near_zero_std: float = 0.1,
    test: str = "wilcoxon",
    n_boot: int = 1000,
    boot_seed: int = 0,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Method x task table of ``metric`` over folds x seeds, each method vs ``reference``.

    Columns: method, task, metric, n_runs (folds x seeds with a value), mean, ci_low,
    ci_high (:func:`t_interval`), delta (mean of the paired differences method -
    reference), p_value, n_pairs and test (:func:`paired_wilcoxon` on the same (seed,
    fold) test folds), verdict (:func:`verdict`; "reference" on the reference's rows),
    note (tasks with near-constant labels: "labels near-constant ...", listed after the
    others; a method without predictions for the task; an undefined metric).
    ``reference`` None: the first method that starts with ``tqa:``, else the first method.
    ``test``: "wilcoxon" (above) or "bootstrap": :func:`paired_bootstrap` over videos of the
    pooled out-of-fold predictions (``n_boot`` resamples; delta is then the pooled
    difference, n_pairs the paired videos) — usable with one seed, where 5 (seed, fold)
    pairs cannot give a Wilcoxon p below 0.0625. The CI stays the t-interval over folds x
    seeds either way. ``scores``: the per-fold values to use instead of :func:`fold_scores`'
    (:func:`tqa.study.within.within_fold_scores`; Wilcoxon only).
    """
    if test not in ("wilcoxon", "bootstrap"):
        raise ValueError(f"test must be 'wilcoxon' or 'bootstrap', got {test!r}")
    if scores is not None and test != "wilcoxon":
        raise ValueError("per-fold scores given: the paired test is the Wilcoxon one")
    if scores is None:
        scores = fold_scores(oof, metric, class_bounds)
    methods = list(dict.fromkeys(oof["method"]))
    reference = _reference(methods, reference)
    flat = near_constant_tasks(oof, near_zero_std)
    has_pred = oof.assign(_ok=np.isfinite(oof["pred"].to_numpy(float)))
    has_pred = has_pred.groupby(["method", "task"])["_ok"].any()
    wide = scores.pivot_table(
        index=["task", "seed", "fold"], columns="method", values="value", dropna=False
    )
    paired = _PairedTest(oof, reference, metric, test, alpha, class_bounds, n_boot, boot_seed)
    rows = []
    for task in [t for t in TASKS if t in set(oof["task"])]:
        w = wide.loc[task] if task in wide.index.get_level_values(0) else None
        for m in methods:
            vals = w[m].to_numpy(float) if w is not None and m in w else np.array([])
            row = _interval_row(m, task, metric, vals, ci, reference)
            if m != reference and w is not None and reference in w:
                row.update(paired(m, task, vals, w[reference].to_numpy(float)))
            row["note"] = _note(task, m, vals, metric, flat, has_pred)
            rows.append(row)
    return _notes_last(pd.DataFrame(rows))


def _reference(methods: list[str], reference: str | None) -> str:
    """``reference``, checked; None: the first model method (``tqa:...``), else the first."""
    if reference is None:
        reference = next((m for m in methods if m.startswith(MODEL_PREFIX)), methods[0])
    if reference not in methods:
        raise ValueError(f"reference method {reference!r} not in the results ({methods})")
    return reference


def _interval_row(
    method: str, task: str, metric: str, vals: np.ndarray, ci: float, reference: str
) -> dict:
    """A row of :func:`compare` with the t-interval filled and the paired test still empty."""
    mean, lo, hi = t_interval(vals, ci)
    return {
        "method": method,
        "task": task,
        "metric": metric,
        "n_runs": int(np.isfinite(vals).sum()),
        "mean": mean,
        "ci_low": lo,
        "ci_high": hi,
        "delta": math.nan,
        "p_value": math.nan,
        "n_pairs": 0,
        "test": "",
        "verdict": "reference" if method == reference else "n/a",
        "note": "",
    }


class _PairedTest:
    """:func:`compare`'s test of one method against the reference on one task: delta,
    p_value, n_pairs, test and verdict of its row."""

    def __init__(self, oof, reference, metric, test, alpha, class_bounds, n_boot, boot_seed):
        self.oof, self.reference, self.metric, self.test = oof, reference, metric, test
        self.alpha, self.class_bounds = alpha, class_bounds
        self.n_boot, self.boot_seed = n_boot, boot_seed

    def __call__(self, method: str, task: str, vals: np.ndarray, ref: np.ndarray) -> dict:
        if self.test == "bootstrap":
            delta, p, n = paired_bootstrap(
                self.oof, method, self.reference, task, self.metric, self.n_boot,
                self.boot_seed, self.class_bounds,
            )  # fmt: skip
            label = f"paired bootstrap over videos ({int(self.n_boot)} resamples)"
        else:
            ok = np.isfinite(vals) & np.isfinite(ref)
            p, n = paired_wilcoxon(vals, ref)
            delta = float(np.mean(vals[ok] - ref[ok])) if ok.any() else math.nan
            label = "Wilcoxon signed-rank over paired (seed, fold) test folds"
        return {
            "delta": delta,
            "p_value": p,
            "n_pairs": n,
            "test": label if n else "",
            "verdict": verdict(delta, p, self.metric, self.alpha),
        }


def _note(
    task: str,
    method: str,
    vals: np.ndarray,
    metric: str,
    flat: dict[str, float],
    has_pred: pd.Series,
) -> str:
    """Why a row of :func:`compare` is not a plain score ("" when it is)."""
    if task in flat:
        return f"labels near-constant (std {flat[task]:.3g}): not comparable"
    if not has_pred.get((method, task), False):
        return "no prediction for this task"
    if not np.isfinite(vals).any():
        return f"{metric} undefined (constant prediction)"
    return ""


def _notes_last(out: pd.DataFrame) -> pd.DataFrame:
    """The rows with a note after the others, each part in its order."""
    if len(out):
        out["_flat"] = out["note"] != ""
        out = out.sort_values("_flat", kind="stable").drop(columns="_flat")
    return out.reset_index(drop=True)


def comparison_table(
    oof: pd.DataFrame,
    metrics: Sequence[str],
    reference: str | None = None,
    **kwargs,
) -> pd.DataFrame:
    """:func:`compare` for each metric, stacked (the study's model-vs-baselines table)."""
    return pd.concat([compare(oof, reference, m, **kwargs) for m in metrics], ignore_index=True)


def comparison_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """Markdown: one section per metric; "mean [95 % CI]", delta, p and verdict per row."""
    lines = []
    for metric, g in table.groupby("metric", sort=False):
        arrow = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
        lines += [f"### {metric} ({arrow})", ""]
        lines += ["| method | task | mean [95 % CI] | delta vs ref | p | verdict | note |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for r in g.itertuples(index=False):
            cell = _fmt(r.mean, digits)
            if np.isfinite(r.ci_low):
                cell += f" [{_fmt(r.ci_low, digits)}, {_fmt(r.ci_high, digits)}]"
            delta = f"{r.delta:+.{digits}f}" if np.isfinite(r.delta) else ""
            p = f"{r.p_value:.3g}" if np.isfinite(r.p_value) else ""
            lines.append(
                f"| {r.method} | {r.task} | {cell} | {delta} | {p} | {r.verdict} | {r.note} |"
            )
        paired = g[g["n_pairs"] > 0]
        if len(paired):
            lines += [
                "",
                f"Paired test: {paired['test'].iloc[0]} ({int(paired['n_pairs'].max())} pairs); "
                "verdict at the level cv.alpha.",
            ]
        lines.append("")
    return "\n".join(lines)


def _fmt(v: float, digits: int) -> str:
    return f"{v:.{digits}f}" if np.isfinite(v) else "n/a"
