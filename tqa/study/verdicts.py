"""The model-vs-baselines verdicts in plain words (``verdicts.md`` of notebook 06).

Written from the comparison table of :func:`tqa.study.protocol.model_vs_baselines` alone:
where tqa's default model loses to a baseline, where it wins, the best method per task, the
oracle ceiling (issue 26), the nested selection vs the chapter's configuration, and the tasks
that are not comparable. Each section is one function; :func:`verdicts_markdown` joins them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tqa.study.baselines import ORACLE
from tqa.study.metrics import LOWER_IS_BETTER
from tqa.study.selection import SELECTED
from tqa.study.stacking import STACK


def losses_to_baselines(
    table: pd.DataFrame, reference: str, baselines: Sequence[str]
) -> pd.DataFrame:
    """Rows of a model-vs-baselines table where a baseline is significantly better than
    ``reference`` (informative tasks only)."""
    t = table[(table["method"].isin(list(baselines))) & (table["note"] == "")]
    return t[t["verdict"] == "better"]


def verdicts_markdown(
    table: pd.DataFrame,
    reference: str,
    baselines: Sequence[str],
    selected: str = SELECTED,
    primary_metric: str = "pearson",
) -> str:
    """Plain-words summary: where the model loses to a baseline, ties, wins; the oracle
    ceiling; the selected model vs the chapter configuration; tasks not comparable."""
    inf = table[table["note"] == ""]
    lines = [
        *_header(table, reference),
        *_losses(table, reference, baselines),
        *_wins(inf, baselines),
        *_best(inf, primary_metric),
        *_ceiling(table, inf, reference, primary_metric),
        *_selection(inf, selected, primary_metric),
        *_not_comparable(table),
    ]
    return "\n".join(lines) + "\n"


def _header(table: pd.DataFrame, reference: str) -> list[str]:
    tests = table.loc[table["test"] != "", "test"]
    return [
        "# Verdicts in plain words",
        "",
        f"Reference: **{reference}**"
        + (" (tqa's default model, a stack)" if reference == STACK else "")
        + ". Generated from `model_vs_baselines_comparison.csv`; test: "
        + (tests.iloc[0] if len(tests) else "-")
        + ".",
        "",
    ]


def _losses(table: pd.DataFrame, reference: str, baselines: Sequence[str]) -> list[str]:
    loses = losses_to_baselines(table, reference, baselines)
    lines = ["## Where the model loses to a baseline", ""]
    if loses.empty:
        lines.append("Nowhere: no baseline is significantly better on any informative task.")
    for r in loses.itertuples(index=False):
        lines.append(
            f"- **{r.task}**, {r.metric}: {r.method} {r.mean:.3f} vs the model "
            f"{_ref_mean(table, reference, r.task, r.metric):.3f} (p = {r.p_value:.3g})."
        )
    return lines


def _wins(inf: pd.DataFrame, baselines: Sequence[str]) -> list[str]:
    lines = ["", "## Where the model beats a baseline", ""]
    wins = inf[inf["method"].isin(list(baselines)) & (inf["verdict"] == "worse")]
    if wins.empty:
        lines.append("Nowhere.")
    for (task, metric), g in wins.groupby(["task", "metric"], sort=False):
        lines.append(f"- {task}, {metric}: better than {', '.join(g['method'])}.")
    return lines


def _best(inf: pd.DataFrame, primary_metric: str) -> list[str]:
    """The best method per task, the oracle ceiling left out (it reads the truth)."""
    lines = ["", f"## Best method per informative task ({primary_metric})", ""]
    prim = inf[(inf["metric"] == primary_metric) & (inf["method"] != ORACLE)]
    higher = primary_metric not in LOWER_IS_BETTER
    for task, g in prim.groupby("task", sort=False):
        g = g.dropna(subset=["mean"])
        if g.empty:
            continue
        best = g.loc[g["mean"].idxmax() if higher else g["mean"].idxmin()]
        lines.append(f"- {task}: {best['method']} ({best['mean']:.3f}).")
    return lines


def _ceiling(
    table: pd.DataFrame, inf: pd.DataFrame, reference: str, primary_metric: str
) -> list[str]:
    ceiling = inf[(inf["method"] == ORACLE) & (inf["metric"] == primary_metric)]
    if not len(ceiling):
        return []
    lines = ["", f"## Ceiling: {ORACLE} ({primary_metric})", "",
             "A model on the injected defect levels themselves (what perfect detectors "
             "could give; not a competitor, never counted above):", ""]  # fmt: skip
    for r in ceiling.itertuples(index=False):
        ref = _ref_mean(table, reference, r.task, primary_metric)
        share = ref / r.mean if r.mean and np.isfinite(r.mean) else float("nan")
        lines.append(f"- {r.task}: {r.mean:.3f} (the model reaches {share:.0%} of it).")
    return lines


def _selection(inf: pd.DataFrame, selected: str, primary_metric: str) -> list[str]:
    sel = inf[(inf["method"] == selected) & (inf["metric"] == primary_metric)]
    if not len(sel):
        return []
    lines = ["", "## Nested model selection vs the chapter's configuration", ""]
    for r in sel.itertuples(index=False):
        lines.append(f"- {r.task}: {r.verdict} (delta {r.delta:+.3f}, p = {r.p_value:.3g}).")
    return lines


def _not_comparable(table: pd.DataFrame) -> list[str]:
    flat = sorted(set(table.loc[table["note"].str.contains("near-constant"), "task"]))
    if not flat:
        return []
    return ["", "Not comparable (labels near-constant, reported apart, never averaged in): "
            f"{', '.join(flat)}."]  # fmt: skip


def _ref_mean(table: pd.DataFrame, reference: str, task: str, metric: str) -> float:
    r = table[
        (table["method"] == reference) & (table["task"] == task) & (table["metric"] == metric)
    ]
    return float(r["mean"].iloc[0]) if len(r) else float("nan")
