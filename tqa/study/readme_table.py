"""The README's headline results table, generated from ``reports/`` (never typed by hand).

``headline_table(reports_dir)`` turns what the study wrote — ``metrics.json`` (main model
and baselines on the test split, chapter 3.4.1), ``tables/strategy_runs.csv`` (one row per
strategy, seed and task: the seed spread), ``tables/model_vs_baselines_pearson.csv`` (the
chapter's reported EmotionTalk values, quoted, not reproduced) and ``data_summary.json``
(near-constant tasks) — into Markdown: one row per task, tqa vs the best baseline on
Pearson and RMSE, and a sentence naming every task where a baseline beats tqa.

``update_readme(path)`` replaces the text between ``<!-- results:start -->`` and
``<!-- results:end -->`` in README.md with that table (``make readme``)::

    python -m tqa.study.readme_table [--reports reports] [--readme README.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from tqa.core.atomic import write_text
from tqa.core.params import ROOT
from tqa.core.schema import TASKS

START = "<!-- results:start -->"
END = "<!-- results:end -->"

#: Column of ``model_vs_baselines_pearson.csv`` holding the chapter's reported values.
CHAPTER_PREFIX = "reported in the chapter"


class ReadmeTableError(ValueError):
    """A reports file or README.md cannot be used; the message names the file."""


def _num(value: Any) -> float:
    """A metric value as float; None, '', 'n/a' and non-numbers are NaN."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ReadmeTableError(f"{path}: not found (run `make repro` first)") from None
    except json.JSONDecodeError as exc:
        raise ReadmeTableError(f"{path}: not valid JSON ({exc})") from None


def _read_csv(path: Path) -> list[dict[str, str]] | None:
    """Rows of an optional CSV table, or None when the file is absent."""
    if not path.exists():
        return None
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def seed_std(runs: list[dict[str, str]] | None, strategy: str, metric: str) -> dict[str, float]:
    """Sample std (ddof=1) over seeds of ``metric`` per task for ``strategy``; NaN if < 2 seeds."""
    out: dict[str, float] = {}
    for task in TASKS:
        values = [
            _num(r.get(metric))
            for r in runs or []
            if r.get("config") == strategy and r.get("task") == task
        ]
        values = [v for v in values if not math.isnan(v)]
        out[task] = statistics.stdev(values) if len(values) >= 2 else math.nan
    return out


def best_baseline(
    baselines: dict[str, dict], task: str, metric: str, higher_is_better: bool
) -> tuple[str | None, float]:
    """(name, value) of the best baseline on ``metric`` for ``task``; (None, NaN) if none."""
    best: tuple[str | None, float] = (None, math.nan)
    for name, tasks in baselines.items():
        v = _num((tasks.get(task) or {}).get(metric))
        if math.isnan(v):
            continue
        if best[0] is None or (v > best[1] if higher_is_better else v < best[1]):
            best = (name, v)
    return best


def chapter_pearson(rows: list[dict[str, str]] | None) -> dict[str, float]:
    """The chapter's reported Pearson per task from ``model_vs_baselines_pearson.csv``."""
    out = {t: math.nan for t in TASKS}
    for r in rows or []:
        col = next((c for c in r if c and c.startswith(CHAPTER_PREFIX)), None)
        if col and r.get("task") in out:
            out[r["task"]] = _num(r[col])
    return out


def _with_std(mean: float, std: float) -> str:
    if math.isnan(mean) or math.isnan(std):
        return _fmt(mean)
    return f"{mean:.3f} ± {std:.3f}"


def headline_table(reports_dir: str | os.PathLike) -> str:
    """Markdown headline results (test split) from ``reports_dir``; see the module docstring."""
    reports = Path(reports_dir)
    metrics_path = reports / "metrics.json"
    metrics = _read_json(metrics_path)
    try:
        main = metrics["main_model"]
        strategy = str(main["strategy"])
        model = main["tasks"]
        baselines = metrics["baselines"]
    except (KeyError, TypeError) as exc:
        raise ReadmeTableError(f"{metrics_path}: no key {exc} (written by notebook 06)") from None
    runs = _read_csv(reports / "tables" / "strategy_runs.csv")
    std = {m: seed_std(runs, strategy, m) for m in ("pearson", "rmse")}
    chapter = chapter_pearson(_read_csv(reports / "tables" / "model_vs_baselines_pearson.csv"))
    summary_path = reports / "data_summary.json"
    summary = _read_json(summary_path) if summary_path.exists() else {}

    rows, losses = [], []
    for task in TASKS:
        cells = [f"`{task}`"]
        for metric, higher in (("pearson", True), ("rmse", False)):
            mine = _num((model.get(task) or {}).get(metric))
            name, theirs = best_baseline(baselines, task, metric, higher)
            cells.append(_with_std(mine, std[metric][task]))
            cells.append("n/a" if name is None else f"{_fmt(theirs)} ({name})")
            if name is not None and not math.isnan(mine):
                if (theirs > mine) if higher else (theirs < mine):
                    gap = abs(theirs - mine)
                    within = gap <= std[metric][task]  # False when the std is NaN
                    note = ", within one seed std" if within else ""
                    losses.append(
                        f"{task} {metric} ({name} {_fmt(theirs)} vs tqa {_fmt(mine)}{note})"
                    )
        cells.append(_fmt(chapter[task]) if not math.isnan(chapter[task]) else "")
        rows.append("| " + " | ".join(cells) + " |")

    n_seeds = main.get("n_seeds", "?")
    lines = [
        f"Test split; tqa = the `{strategy}` weighting strategy, mean ± std over {n_seeds} "
        "seeds; best baseline = the best of "
        + ", ".join(f"`{b}`" for b in baselines)
        + " on that metric (baselines: one fit each). "
        + str(metrics.get("provenance", "")).strip(),
        "",
        "| task | tqa Pearson | best baseline Pearson | tqa RMSE | best baseline RMSE "
        "| chapter's Pearson on EmotionTalk (quoted, not reproduced) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if losses:
        lines.append("**Where tqa loses to a baseline:** " + "; ".join(losses) + ".")
    else:
        lines.append("**tqa beats every baseline on every task on Pearson and RMSE.**")
    flat = summary.get("near_zero_variance") or []
    if flat:
        stds = summary.get("tasks", {})
        described = ", ".join(
            f"`{t}` (label std {_fmt(_num(stds.get(t, {}).get('std')))})" for t in flat
        )
        lines += [
            "",
            f"Near-constant labels on this data: {described}; correlations on "
            "such a task are noise, and the mean predictor is its fair RMSE reference.",
        ]
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, block: str, source: str = "README.md") -> str:
    """``text`` with everything between START and END replaced by ``block``."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < 0 or j < i or text.count(START) != 1 or text.count(END) != 1:
        raise ReadmeTableError(
            f"{source}: needs exactly one {START} followed by one {END} line pair"
        )
    return text[: i + len(START)] + "\n" + block.strip("\n") + "\n" + text[j:]


def update_readme(
    path: str | os.PathLike | None = None, reports_dir: str | os.PathLike | None = None
) -> bool:
    """Rewrite the results block of README.md (atomically); return whether it changed."""
    path = Path(path) if path else ROOT / "README.md"
    reports = Path(reports_dir) if reports_dir else ROOT / "reports"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReadmeTableError(f"{path}: not found") from None
    new = replace_between_markers(text, headline_table(reports), source=str(path))
    if new == text:
        return False
    write_text(path, new)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tqa.study.readme_table",
        description="Regenerate README.md's headline results table from reports/.",
    )
    ap.add_argument("--reports", default=None, help="reports folder (default: reports/)")
    ap.add_argument("--readme", default=None, help="README to update (default: README.md)")
    ap.add_argument("--print", action="store_true", help="print the table, write nothing")
    args = ap.parse_args(argv)
    try:
        if args.print:
            print(headline_table(args.reports or ROOT / "reports"), end="")
            return 0
        changed = update_readme(args.readme, args.reports)
    except ReadmeTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.readme or 'README.md'}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
