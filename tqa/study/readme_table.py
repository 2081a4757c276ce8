"""The README's headline results table, generated from the study's reports (never typed by hand).

``headline_table(reports_dir, metrics_dir)`` reads what notebook 06 wrote under the grouped
k-fold x seeds protocol (``split.protocol: kfold``, :mod:`tqa.study.crossval`, chapter 3.4.1):

* ``06_strategy_comparison/data/model_vs_baselines_comparison.csv`` (required): per
  (method, task, metric) the mean and 95 % t-interval over the (seed, fold) test folds, and
  each method's paired test and verdict against the reference, tqa's default model
  ``tqa:stack`` (:mod:`tqa.study.stacking`); the chapter's configuration
  ``tqa:<eval.main_strategy>`` gets its own column; ``tqa:selected`` is the
  nested-selection model;
* ``06_strategy_comparison/data/strategy_metrics.json``: the provenance line (data,
  extractors); ``06_strategy_comparison/data/strategy_runs.csv``: the seeds;
  ``06_strategy_comparison/data/model_vs_baselines_pearson.csv``: the chapter's reported
  EmotionTalk Pearson (quoted, not reproduced); ``<metrics_dir>/<task>.json``: the DVC
  headline (pooled out-of-fold Pearson). All optional: a missing one drops its column/line.

It writes Markdown: one row per informative task (model, selected model, best baseline by
mean, the table's verdict of the model vs that baseline), the same for RMSE, near-constant
tasks listed apart (never averaged in), and one sentence naming every task where a baseline
beats the model and where no difference is detectable. Verdicts are read from the table,
never recomputed: a baseline row's verdict "better" (than the model) is the model's "worse".

``update_readme(path)`` replaces the text between ``<!-- results:start -->`` and
``<!-- results:end -->`` in README.md with that block (``make readme``)::

    python -m tqa.study.readme_table [--reports reports] [--metrics metrics] [--readme README.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from tqa.core.atomic import write_text
from tqa.core.params import ROOT
from tqa.core.schema import TASKS

START = "<!-- results:start -->"
END = "<!-- results:end -->"

#: Notebook 06's report folder (relative to reports/) and the files read from it.
STAGE = "06_strategy_comparison"
COMPARISON = f"{STAGE}/data/model_vs_baselines_comparison.csv"
STRATEGY_METRICS = f"{STAGE}/data/strategy_metrics.json"
STRATEGY_RUNS = f"{STAGE}/data/strategy_runs.csv"
CHAPTER_TABLE = f"{STAGE}/data/model_vs_baselines_pearson.csv"
#: The same table as notebook 06 writes it into its ``tables/`` (tracked in git, unlike the
#: CSVs above): what a fresh clone checks README.md against.
TRACKED_TABLE = "readme_table.md"
#: Column of ``model_vs_baselines_pearson.csv`` holding the chapter's reported values.
CHAPTER_PREFIX = "reported in the chapter"
#: Method name prefix of the model and the nested-selection model (tqa.study.crossval).
MODEL_PREFIX = "tqa:"
SELECTED = "tqa:selected"
#: The ceiling row (tqa.study.baselines.ORACLE): a model on the injected defect levels.
ORACLE = "oracle_defects"
#: tqa's default model (tqa.study.stacking.STACK).
STACK = "tqa:stack"
#: Columns the comparison table must have (tqa.study.comparison.compare).
REQUIRED = ("method", "task", "metric", "n_runs", "mean", "ci_low", "ci_high", "p_value",
            "test", "verdict", "note")  # fmt: skip
#: A baseline's verdict against the model, said from the model's side.
FLIP = {"better": "worse", "worse": "better"}
NO_DIFF = "no detectable difference"


class ReadmeTableError(ValueError):
    """A reports file or README.md cannot be used; the message names the file."""


def _num(value: Any) -> float:
    """A metric value as float; None, '', 'n/a' and non-numbers are NaN."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _read_json(path: Path) -> dict | None:
    """An optional JSON report, or None when absent; invalid JSON is an error."""
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ReadmeTableError(f"{path}: not valid JSON ({exc})") from None


def _read_csv(path: Path) -> list[dict[str, str]] | None:
    """Rows of an optional CSV table, or None when the file is absent."""
    if not path.exists():
        return None
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_comparison(path: Path) -> list[dict[str, str]]:
    """Rows of the model-vs-baselines comparison CSV; one-line errors name the file."""
    rows = _read_csv(path)
    if rows is None:
        raise ReadmeTableError(
            f"{path}: not found (notebook 06 writes it under split.protocol: kfold; "
            "run `make repro` first)"
        )
    if not rows:
        raise ReadmeTableError(f"{path}: no rows")
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise ReadmeTableError(f"{path}: no column {missing[0]!r} (written by notebook 06)")
    if not any(r["verdict"] == "reference" for r in rows):
        raise ReadmeTableError(f"{path}: no row with verdict 'reference' (the model)")
    return rows


def _cell(row: dict[str, str] | None) -> str:
    """'mean [ci_low, ci_high]' of a comparison row ('n/a' when absent)."""
    if row is None:
        return "n/a"
    mean, lo, hi = _num(row["mean"]), _num(row["ci_low"]), _num(row["ci_high"])
    if math.isnan(lo) or math.isnan(hi):
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def best_baseline(rows: list[dict[str, str]], task: str, metric: str) -> dict[str, str] | None:
    """The baseline row (method not ``tqa:...``) with the best mean on ``metric`` for
    ``task`` (highest, lowest for rmse/mae); None when no baseline has a value."""
    lower = metric in ("rmse", "mae")
    best = None
    for r in rows:
        if r["task"] != task or r["metric"] != metric or not is_baseline(r["method"]):
            continue
        v = _num(r["mean"])
        if math.isnan(v):
            continue
        if best is None or (v < _num(best["mean"]) if lower else v > _num(best["mean"])):
            best = r
    return best


def is_baseline(method: str) -> bool:
    """A competitor row: not a tqa model and not the oracle ceiling (a model on the
    injected defect levels, :data:`tqa.study.baselines.ORACLE`)."""
    return not method.startswith(MODEL_PREFIX) and method != ORACLE


def model_verdict(baseline_row: dict[str, str] | None) -> str:
    """The model vs a baseline, read from the baseline's row (whose verdict is against the
    model): 'better' <-> 'worse'; 'no detectable difference' and 'n/a' unchanged."""
    if baseline_row is None:
        return "n/a"
    v = baseline_row["verdict"]
    return FLIP.get(v, v)


def chapter_method(rows, reference: str) -> str | None:
    """The chapter's configuration in the table: a plain ``tqa:<strategy>`` row that is
    neither the reference nor the nested-selection model (None when absent)."""
    skip = (reference, SELECTED, STACK)
    plain = [r["method"] for r in rows if r["method"].startswith(MODEL_PREFIX)
             and "/" not in r["method"] and r["method"] not in skip]  # fmt: skip
    return plain[0] if plain else None


def _metric_table(rows, reference: str, tasks: list[str], metric: str) -> tuple[list[str], dict]:
    """Markdown lines of one metric's table and task -> (best baseline row, model verdict)."""
    by = {(r["method"], r["task"]): r for r in rows if r["metric"] == metric}
    has_sel = any(m == SELECTED for m, _ in by)
    chapter = chapter_method(rows, reference)
    head = f"| task | tqa {metric} [95 % CI] |" + (" chapter |" if chapter else "")
    head += " selected |" if has_sel else ""
    head += f" best baseline {metric} [95 % CI] | tqa vs that baseline |"
    has_oracle = any(m == ORACLE for m, _ in by)
    head += " ceiling (oracle) |" if has_oracle else ""
    lines = [head, "|" + "---|" * (4 + has_sel + bool(chapter) + has_oracle)]
    out = {}
    for task in tasks:
        best = best_baseline(rows, task, metric)
        verdict = model_verdict(best)
        out[task] = (best, verdict)
        cells = [f"`{task}`", _cell(by.get((reference, task)))]
        if chapter:
            cells.append(_cell(by.get((chapter, task))))
        if has_sel:
            cells.append(_cell(by.get((SELECTED, task))))
        cells.append("n/a" if best is None else f"{_cell(best)} ({best['method']})")
        p = _num(best["p_value"]) if best else math.nan
        cells.append(verdict + ("" if math.isnan(p) else f" (p = {p:.3g})"))
        if has_oracle:
            o = by.get((ORACLE, task))
            cells.append("n/a" if o is None else _fmt(_num(o["mean"])))
        lines.append("| " + " | ".join(cells) + " |")
    return lines, out


def _protocol_line(rows, reference: str, runs: list[dict[str, str]] | None) -> str:
    """'k folds x s seeds, <test>' from the table's n_runs and the seeds of strategy_runs."""
    n_runs = max((int(_num(r["n_runs"])) for r in rows if r["method"] == reference
                  and not math.isnan(_num(r["n_runs"]))), default=0)  # fmt: skip
    seeds = {r.get("seed") for r in runs or [] if r.get("seed") not in (None, "")}
    test = next((r["test"] for r in rows if r["test"]), "no paired test")
    if seeds and n_runs % len(seeds) == 0:
        design = f"{n_runs // len(seeds)} folds x {len(seeds)} seed{'s' * (len(seeds) > 1)}"
    else:
        design = f"{n_runs} (seed, fold) test folds"
    return f"grouped k-fold, {design}; paired test: {test}"


def headline_table(
    reports_dir: str | os.PathLike, metrics_dir: str | os.PathLike | None = None
) -> str:
    """Markdown headline results from ``reports_dir`` (and ``metrics_dir``, default the
    ``metrics`` folder beside it); see the module docstring."""
    reports = Path(reports_dir)
    metrics = Path(metrics_dir) if metrics_dir is not None else reports.parent / "metrics"
    rows = read_comparison(reports / COMPARISON)
    reference = next(r["method"] for r in rows if r["verdict"] == "reference")
    flat = {r["task"]: r["note"] for r in rows if "near-constant" in r["note"]}
    tasks = [t for t in TASKS if t not in flat and any(r["task"] == t for r in rows)]
    present = list(dict.fromkeys(r["metric"] for r in rows))
    info = _read_json(reports / STRATEGY_METRICS) or {}
    prov = str(info.get("provenance", "")).strip() or "Data and extractors: not recorded."
    baselines = sorted({r["method"] for r in rows if is_baseline(r["method"])})
    design = _protocol_line(rows, reference, _read_csv(reports / STRATEGY_RUNS))
    chapter = chapter_method(rows, reference)

    lines = [
        f"Out-of-fold study ({design})."
        f" tqa = `{reference}`"
        + (
            " (tqa's default model: a stack of the chapter's Transformer and pooled-feature "
            "regressors, weights from inner cross-validation)"
            if reference == STACK
            else " (the chapter's configuration)"
        )
        + (f", chapter = `{chapter}` (the chapter's configuration)" if chapter else "")
        + (
            f", selected = `{SELECTED}` (nested selection)"
            if any(r["method"] == SELECTED for r in rows)
            else ""
        )  # fmt: skip
        + "; best baseline = the best mean of "
        + ", ".join(f"`{b}`" for b in baselines)
        + "; verdicts from `model_vs_baselines_comparison.csv`"
        + (
            "; ceiling (oracle) = `oracle_defects`, a random forest on the corpus's injected "
            "defect levels (what perfect detectors could give, not a competitor)"
            if any(r["method"] == ORACLE for r in rows)
            else ""
        )
        + ". "
        + prov,
        "",
    ]
    verdicts: dict[str, dict] = {}
    for metric in [m for m in ("pearson", "rmse") if m in present]:
        table, verdicts[metric] = _metric_table(rows, reference, tasks, metric)
        lines += [*table, ""]
    chapter = _chapter_line(reports / CHAPTER_TABLE, tasks)
    headline = _headline_line(metrics, tasks)
    lines += [x for x in (chapter, headline) if x]
    if chapter or headline:
        lines.append("")

    worse = [
        f"{r['task']} {r['metric']} ({r['method']})"
        for r in rows
        if r["task"] in tasks and r["verdict"] == "better"
        and is_baseline(r["method"]) and r["metric"] in ("pearson", "rmse")
    ]  # fmt: skip
    tied = [f"{t} {m}" for m, per in verdicts.items() for t, (_, v) in per.items() if v == NO_DIFF]
    lines.append(
        "**A baseline beats tqa (verdict worse):** "
        + ("; ".join(worse) if worse else "nowhere")
        + ". **No detectable difference from the best baseline:** "
        + ("; ".join(tied) if tied else "nowhere")
        + "."
    )
    if flat:
        lines += [
            "",
            "Near-constant labels, not comparable (listed apart, never averaged in): "
            + "; ".join(f"`{t}` ({_flat_note(note)})" for t, note in flat.items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


def _flat_note(note: str) -> str:
    """'label std X' from a near-constant note of :func:`tqa.study.comparison.compare`."""
    m = re.search(r"\(std ([^)]+)\)", note)
    return f"label std {m.group(1)}" if m else note


def _chapter_line(path: Path, tasks: list[str]) -> str:
    """The chapter's reported EmotionTalk Pearson per task, quoted (not reproduced)."""
    vals = {}
    for r in _read_csv(path) or []:
        col = next((c for c in r if c and c.startswith(CHAPTER_PREFIX)), None)
        if col and r.get("task") in tasks and not math.isnan(_num(r[col])):
            vals[r["task"]] = _num(r[col])
    if not vals:
        return ""
    return "Chapter's Pearson on EmotionTalk (quoted, not reproduced): " + ", ".join(
        f"{t} {_fmt(v)}" for t, v in vals.items()
    ) + "."  # fmt: skip


def _headline_line(metrics: Path, tasks: list[str]) -> str:
    """The DVC headline (``<metrics>/<task>.json``: pooled out-of-fold Pearson, tqa_r)."""
    vals = {}
    for t in tasks:
        v = _num((_read_json(metrics / f"{t}.json") or {}).get("tqa_r"))
        if not math.isnan(v):
            vals[t] = v
    if not vals:
        return ""
    return f"DVC headline (`{metrics.name}/<task>.json`, pooled out-of-fold Pearson): " + ", ".join(
        f"{t} {_fmt(v)}" for t, v in vals.items()
    ) + "."  # fmt: skip


def replace_between_markers(text: str, block: str, source: str = "README.md") -> str:
    """``text`` with everything between START and END replaced by ``block``."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < 0 or j < i or text.count(START) != 1 or text.count(END) != 1:
        raise ReadmeTableError(
            f"{source}: needs exactly one {START} followed by one {END} line pair"
        )
    return text[: i + len(START)] + "\n" + block.strip("\n") + "\n" + text[j:]


def update_readme(
    path: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    metrics_dir: str | os.PathLike | None = None,
) -> bool:
    """Rewrite the results block of README.md (atomically); return whether it changed."""
    path = Path(path) if path else ROOT / "README.md"
    reports = Path(reports_dir) if reports_dir else ROOT / "reports"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReadmeTableError(f"{path}: not found") from None
    block = headline_table(reports, metrics_dir)
    new = replace_between_markers(text, block, source=str(path))
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
    ap.add_argument("--metrics", default=None, help="headline metrics (default: metrics/)")
    ap.add_argument("--readme", default=None, help="README to update (default: README.md)")
    ap.add_argument("--print", action="store_true", help="print the table, write nothing")
    args = ap.parse_args(argv)
    try:
        if args.print:
            print(headline_table(args.reports or ROOT / "reports", args.metrics), end="")
            return 0
        changed = update_readme(args.readme, args.reports, args.metrics)
    except ReadmeTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.readme or 'README.md'}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
