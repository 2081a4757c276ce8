"""Error analysis and agreement with ratings (chapter 3.4.3-3.4.4), and ``tqa evaluate``.

Inputs everywhere: targets ``(N, 5)`` with -1.0 for missing, predictions ``(N, 5)``
(NaN where a model does not predict a task), ``video_ids`` (N), in TASKS order.

The analyses live in modules of their own and are importable from here too (the notebooks
read them as ``evaluation.<name>``):

* :mod:`tqa.study.error_analysis`: :func:`residuals` (long table video_id, task, true, pred,
  residual = pred - true), :func:`confusion_matrices` (3-class confusion per task, bins of
  ``eval.class_bounds``), :func:`worst_k` (the k largest mean |error| videos joined with their
  degradation params), :func:`error_by_group` (MAE per generator profile / identity).
* :mod:`tqa.study.agreement`: :func:`bland_altman` (bias and 95 % limits of agreement, Bland &
  Altman 1986), :func:`agreement_table` (CCC, QWK, Pearson, bias, limits per task).
* :mod:`tqa.study.degradations`: :func:`error_vs_degradation` /
  :func:`prediction_vs_degradation` (Spearman of |error|, resp. each predicted score, with
  every numeric degradation parameter).
* :mod:`tqa.study.headline`: the DVC headline metrics and ``reports/metrics.json``.

This module: :func:`write_reports_index` (``reports/README.md`` listing every figure and
table) and the ``tqa evaluate`` command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from tqa.core.atomic import write_csv, write_json, write_text
from tqa.core.params import ParamsError, add_params_arguments, params_from_args, resolve
from tqa.core.schema import TASKS
from tqa.data.splits import read_split
from tqa.study.agreement import LOA_Z, agreement_table, bland_altman
from tqa.study.degradations import (
    DEGRADATIONS_FILE,
    error_vs_degradation,
    load_degradations,
    numeric_columns,
    prediction_vs_degradation,
    select_degradations,
)
from tqa.study.error_analysis import (
    class_labels,
    confusion_matrices,
    error_by_group,
    near_constant_tasks,
    residual_summary,
    residuals,
    worst_k,
)
from tqa.study.headline import (
    HEADLINE_KEYS,
    headline_metrics,
    json_number,
    metrics_json_payload,
    write_headline_metrics,
)
from tqa.study.inputs import labels_dataset
from tqa.study.metrics import evaluate_tasks
from tqa.study.narrative import headline_description
from tqa.study.reporting import REPORTS, provenance

#: Re-exported analyses (notebooks and tests read them as ``evaluation.<name>``).
__all__ = [
    "DEGRADATIONS_FILE",
    "HEADLINE_KEYS",
    "LOA_Z",
    "REPORT_SECTIONS",
    "agreement_table",
    "bland_altman",
    "class_labels",
    "confusion_matrices",
    "error_by_group",
    "error_vs_degradation",
    "evaluate_predictions_file",
    "headline_metrics",
    "load_degradations",
    "main",
    "metrics_json_payload",
    "near_constant_tasks",
    "numeric_columns",
    "prediction_vs_degradation",
    "residual_summary",
    "residuals",
    "select_degradations",
    "worst_k",
    "write_headline_metrics",
    "write_reports_index",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- reports index
#: Sections of reports/README.md in reading order: (notebook number, "" for the data; title;
#: the research question its artefacts answer). Each notebook stage writes reports/<NN_name>/.
_SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("", "The data", "What is in the dataset, and how was it made?"),
    ("01", "Data analysis", "Are the labels usable: variance, missing rates, task correlation?"),
    ("02", "Features", "Did extraction work: coverage, NaN rates, scales, sync offset?"),
    ("03", "Preprocessing and PCA", "How many dimensions does each modality keep?"),
    ("04", "Model", "What is the model and how large is each part?"),
    ("05", "Training", "Do the fits converge, and how do the task weights move?"),
    ("06", "Strategies and baselines", "Which weighting wins, and does the model beat baselines?"),
    ("07", "Ablations", "Which modalities and paths matter?"),
    ("08", "Error analysis", "Where does the main model fail, and on which degradations?"),
    ("09", "Configurations", "How sensitive is the model to its size and PCA target?"),
    ("10", "Scoring your videos", "What does `tqa score` give on sample videos?"),
)
#: :data:`_SECTIONS` as (folder prefix under reports/, heading, question), e.g. ``("01_",
#: "01 Data analysis", ...)``; the data's section has no prefix (its files are at the top).
REPORT_SECTIONS: tuple[tuple[str, str, str], ...] = tuple(
    (f"{nn}_", f"{nn} {title}", question) if nn else ("", title, question)
    for nn, title, question in _SECTIONS
)


def _caption(path: Path) -> str:
    """A figure's ``.txt`` caption or a table's Markdown first line, else ''."""
    if path.suffix == ".png":
        cap = path.with_suffix(".txt")
        return cap.read_text(encoding="utf-8").strip() if cap.exists() else ""
    md = _markdown_of(path)
    first = md.read_text(encoding="utf-8").splitlines()[0].strip() if md.exists() else ""
    return "" if first.startswith("|") else first


def _markdown_of(csv: Path) -> Path:
    """A table's Markdown: ``<report>/tables/<name>.md`` for ``<report>/data/<name>.csv``
    (:func:`tqa.study.reporting.save_table`), else the ``.md`` beside the CSV."""
    if csv.parent.name == "data":
        md = csv.parent.parent / "tables" / f"{csv.stem}.md"
        if md.exists():
            return md
    return csv.with_suffix(".md")


def _data_of(md: Path) -> Path | None:
    """The CSV of a table's Markdown (the inverse of :func:`_markdown_of`), None if none."""
    candidates = [md.with_suffix(".csv")]
    if md.parent.name == "tables":
        candidates.insert(0, md.parent.parent / "data" / f"{md.stem}.csv")
    return next((c for c in candidates if c.exists() and _markdown_of(c) == md), None)


def _artefact_lines(rdir: Path, folder: Path, short: Any) -> list[str]:
    """Links to every file of ``folder`` (figures with captions, tables with their Markdown)."""
    lines = []
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.name == "README.md" or f.name.startswith("."):
            continue
        if f.suffix == ".txt" and f.with_suffix(".png").exists():
            continue  # a figure's caption: shown with the figure
        if f.suffix == ".md" and _data_of(f) is not None:
            continue  # a table's Markdown copy: linked with its CSV
        rel = f.relative_to(rdir).as_posix()
        md = _markdown_of(f)
        extra = (
            f" ([md]({md.relative_to(rdir).as_posix()}))"
            if f.suffix == ".csv" and md.exists()
            else ""
        )
        cap = short(_caption(f)) if f.suffix in (".png", ".csv") else ""
        lines.append(f"- [`{rel}`]({rel}){extra}" + (f": {cap}" if cap else ""))
    return lines


def write_reports_index(params: dict, reports_dir: str | Path | None = None) -> Path:
    """Write ``reports/README.md``: every artefact grouped by notebook / research question.

    Lists, per section of :data:`REPORT_SECTIONS`, the executed notebooks
    (``notebooks/<NN>*.ipynb``), every figure with its caption and every table, JSON and
    training history under ``reports/<NN_name>/``; then the headline metrics, the data card,
    the benchmarks and loose files. The provenance is stated once, at the top.
    """
    rdir = Path(reports_dir or REPORTS)
    prov = provenance(params)

    def short(caption: str) -> str:  # the provenance is stated once, at the top
        return caption.replace(prov, "").strip() or "(no caption)"

    lines = [
        "# Reports",
        "",
        "Generated by `dvc repro` (stage `reports_index`); do not edit by hand.",
        "",
        "**Provenance** (of every figure and table below unless its caption says otherwise). "
        + prov,
        "",
        "Numbers here are measured on the data named above. Numbers quoted from the thesis "
        "chapter (EmotionTalk) appear only in columns labelled as reported in the chapter, never "
        "as our results.",
        "",
        "Each table is linked by its CSV (`data/`) with its Markdown (`tables/`). The `data/` "
        "folders of notebooks 05-10 (and their training histories) are DVC-cached outputs, "
        "not in git: `make repro` writes them (float noise of training reaches their 6th "
        "digit on another CPU; docs/corpus.md).",
        "",
    ]
    # the DVC headline metrics: <repo>/metrics/ beside reports/ (reports/metrics/ in a manual run)
    metrics_dir = next((d for d in (rdir.parent / "metrics", rdir / "metrics") if d.is_dir()), None)
    if metrics_dir is not None:
        lines += [
            "## Headline metrics (`dvc metrics show`)",
            "",
            headline_description(params),  # protocol, folds, seeds: from the params
            "",
        ]
        for f in sorted(metrics_dir.glob("*.json")):
            rel = Path(os.path.relpath(f, rdir)).as_posix()
            row = json.loads(f.read_text(encoding="utf-8"))
            lines.append(f"- [`{rel}`]({rel}): " + ", ".join(f"{k}={v}" for k, v in row.items()))
        lines.append("")
    # the k-fold study's plain-words verdicts (notebook 06) first: where the model loses
    for verdicts in sorted(rdir.glob("*/tables/verdicts.md")) + sorted(
        rdir.glob("tables/verdicts.md")
    ):
        body = verdicts.read_text(encoding="utf-8").splitlines()
        lines += [*("#" + ln if ln.startswith("#") else ln for ln in body), ""]
        break
    listed: set[Path] = set()
    folders = sorted(d for d in rdir.iterdir() if d.is_dir()) if rdir.is_dir() else []
    nb_dir = rdir / "notebooks"
    for prefix, title, question in REPORT_SECTIONS:
        if prefix:
            mine = [d for d in folders if d.name.startswith(prefix)]
            notebooks = sorted(nb_dir.glob(f"{prefix}*.ipynb")) if nb_dir.is_dir() else []
            body: list[str] = []
        else:  # the data: card + corpus figures, and anything written at the top level
            mine = [d for d in (rdir / "figures", rdir / "tables") if d.is_dir()]
            notebooks = []
            body = [
                f"- [`{n}`]({n})" + (f": {cap}" if cap else "")
                for n, cap in (
                    (
                        "data_card.md",
                        "how the corpus was made, what it is not, measured statistics",
                    ),
                    ("extraction_summary.json", "feature extraction: videos cached, failed"),
                )
                if (rdir / n).exists()
            ]
        body += [
            f"- executed notebook [`{n.relative_to(rdir).as_posix()}`]"
            f"({n.relative_to(rdir).as_posix()})"
            for n in notebooks
        ]
        for d in mine:
            listed.add(d)
            body += _artefact_lines(rdir, d, short)
        if body:
            lines += [f"## {title}", "", f"*{question}*", "", *body, ""]
    rest = [
        d for d in folders if d not in listed and d.name not in ("notebooks", "metrics", "studies")
    ]
    other = [f"- [`{n}`]({n})" for n in ("benchmarks.md",) if (rdir / n).exists()]
    for d in rest:
        other += _artefact_lines(rdir, d, short)
    if other:
        lines += ["## Benchmarks and other files", "", *other, ""]
    out = rdir / "README.md"
    write_text(out, "\n".join(lines).rstrip("\n") + "\n")
    return out


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``tqa evaluate``: score a predictions CSV against labels, or rebuild reports/README.md."""
    ap = argparse.ArgumentParser(prog="tqa evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", help="CSV with video_id and the five task columns")
    ap.add_argument(
        "--splits",
        default="test",
        help="comma-separated splits to score (default test; 'all' = every row)",
    )
    ap.add_argument(
        "--bootstrap",
        type=int,
        default=None,
        help="bootstrap resamples for CIs (default eval.bootstrap)",
    )
    ap.add_argument("--out", help="write the task x metric table here (.csv or .json)")
    ap.add_argument("--index", action="store_true", help="rebuild reports/README.md")
    add_params_arguments(ap)
    args = ap.parse_args(argv)
    try:
        params = params_from_args(args)
    except ParamsError as exc:
        print(f"ERROR: tqa evaluate: {exc}", file=sys.stderr)
        return 1
    if not args.predictions and not args.index:
        ap.error("nothing to do: give --predictions and/or --index")
    if args.predictions:
        table = evaluate_predictions_file(args.predictions, params, args.splits, args.bootstrap)
        with pd.option_context("display.width", 200, "display.max_columns", 40):
            print(table.round(4).to_string())
        if args.out:
            out = Path(args.out)
            if out.suffix == ".json":
                write_json(
                    out,
                    {t: {k: json_number(v) for k, v in row.items()} for t, row in table.iterrows()},
                )
            else:
                write_csv(out, table.reset_index())
    if args.index:
        print(write_reports_index(params))
    return 0


def evaluate_predictions_file(
    path: str | Path, params: dict, splits: str = "test", bootstrap: int | None = None
) -> pd.DataFrame:
    """Task x metric table of a predictions CSV against ``data.root``'s labels (and the split
    file)."""
    pred = pd.read_csv(path, dtype={"video_id": str})
    missing_cols = [c for c in ("video_id", *TASKS) if c not in pred.columns]
    if missing_cols:
        raise ValueError(f"{path}: missing column(s) {missing_cols}")
    labels = labels_dataset(params, progress=False).labels.set_index("video_id")
    unknown = sorted(set(pred["video_id"]) - set(labels.index))
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} video ids not in labels, e.g. {unknown[:3]}")
    if splits != "all":
        sp = read_split(resolve(params["split"]["out"])).set_index("video_id")["split"]
        pred = pred[pred["video_id"].map(sp).isin(splits.split(","))]
        if pred.empty:
            raise ValueError(f"{path}: no rows in split(s) {splits}")
    y = labels.loc[pred["video_id"], list(TASKS)].to_numpy(float)
    n_boot = params["eval"].get("bootstrap", 0) if bootstrap is None else bootstrap
    return evaluate_tasks(
        y,
        pred[list(TASKS)].to_numpy(float),
        params["eval"],
        bootstrap=n_boot,
        seed=int(params.get("seed", 0)),
    )
