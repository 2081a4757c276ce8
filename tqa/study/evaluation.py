"""Error analysis and agreement with ratings (chapter 3.4.3-3.4.4), and ``tqa evaluate``.

Inputs everywhere: targets ``(N, 5)`` with -1.0 for missing, predictions ``(N, 5)``
(NaN where a model does not predict a task), ``video_ids`` (N), in TASKS order.

* :func:`residuals`: long table video_id, task, true, pred, residual (= pred - true).
* :func:`confusion_matrices`: 3-class confusion per task (bins of ``eval.class_bounds``).
* :func:`bland_altman`: bias and 95 % limits of agreement (Bland & Altman 1986).
* :func:`agreement_table`: CCC, QWK, Pearson, bias, limits of agreement per task.
* :func:`worst_k`: the k largest mean |error| videos joined with their degradation params.
* :func:`error_vs_degradation` / :func:`prediction_vs_degradation`: Spearman of |error|
  (resp. each predicted score) with every numeric degradation parameter.
* :func:`error_by_group`: MAE per generator profile / identity.
* :func:`write_reports_index`: ``reports/README.md`` listing every figure and table.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tqa.core.atomic import write_csv, write_json, write_text
from tqa.core.params import ParamsError, add_params_arguments, params_from_args, resolve
from tqa.core.schema import MISSING, TASKS
from tqa.data.labels import load_dataset
from tqa.data.splits import read_split
from tqa.study.metrics import (
    DEFAULT_CLASS_BOUNDS,
    ccc,
    confusion,
    evaluate_tasks,
    pearson,
    qwk,
    spearman,
    valid_pairs,
)
from tqa.study.reporting import REPORTS, provenance

log = logging.getLogger(__name__)

#: z of the two-sided 95 % normal interval used for limits of agreement.
LOA_Z: float = 1.96
#: Name of the ground-truth degradation table the sample corpus writes beside labels.csv.
DEGRADATIONS_FILE: str = "degradations.csv"


def _bounds(params_eval: dict | None) -> tuple[float, ...]:
    return tuple((params_eval or {}).get("class_bounds", DEFAULT_CLASS_BOUNDS))


# --------------------------------------------------------------------------- residuals
def residuals(
    y_true: np.ndarray, y_pred: np.ndarray, video_ids: Sequence[str], tasks: Sequence[str] = TASKS
) -> pd.DataFrame:
    """Long table (video_id, task, true, pred, residual = pred - true, abs_error), valid pairs
    only."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    frames = []
    for k, task in enumerate(tasks):
        keep = np.isfinite(y_true[:, k]) & np.isfinite(y_pred[:, k]) & (y_true[:, k] != MISSING)
        frames.append(
            pd.DataFrame(
                {
                    "video_id": np.asarray(video_ids, dtype=object)[keep],
                    "task": task,
                    "true": y_true[keep, k],
                    "pred": y_pred[keep, k],
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df["residual"] = df["pred"] - df["true"]
    df["abs_error"] = df["residual"].abs()
    return df


def residual_summary(res: pd.DataFrame) -> pd.DataFrame:
    """Per task: n, mean / std / quantiles of the residual, share with |error| > 0.5 and > 1."""
    g = res.groupby("task", sort=False)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "mean": g["residual"].mean(),
            "std": g["residual"].std(),
            "q05": g["residual"].quantile(0.05),
            "median": g["residual"].median(),
            "q95": g["residual"].quantile(0.95),
            "share_abs_gt_0.5": g["abs_error"].apply(lambda s: float((s > 0.5).mean())),
            "share_abs_gt_1.0": g["abs_error"].apply(lambda s: float((s > 1.0).mean())),
        }
    )
    return out.reindex([t for t in TASKS if t in out.index]).reset_index()


def confusion_matrices(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    params_eval: dict | None = None,
    tasks: Sequence[str] = TASKS,
) -> dict[str, np.ndarray]:
    """Task -> (K, K) counts (rows true class, columns predicted class)."""
    b = _bounds(params_eval)
    return {
        t: confusion(np.asarray(y_true)[:, k], np.asarray(y_pred)[:, k], b)
        for k, t in enumerate(tasks)
    }


def class_labels(
    params_eval: dict | None = None, score_min: float = 1.0, score_max: float = 5.0
) -> list[str]:
    """Readable names of the bins: ['[1,3)', '[3,4)', '[4,5]']."""
    edges = [score_min, *_bounds(params_eval), score_max]
    return [
        f"[{edges[i]:g},{edges[i + 1]:g}{']' if i == len(edges) - 2 else ')'}"
        for i in range(len(edges) - 1)
    ]


# --------------------------------------------------------------------------- agreement
def bland_altman(y_true, y_pred) -> dict[str, float]:
    """Bias (mean of pred - true), its SD (ddof=1) and limits bias ± 1.96 SD (Bland & Altman
    1986)."""
    t, p = valid_pairs(y_true, y_pred)
    d = p - t
    if d.size == 0:
        return {"n": 0, "bias": math.nan, "sd": math.nan, "loa_low": math.nan, "loa_high": math.nan}
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    bias = float(d.mean())
    return {
        "n": int(d.size),
        "bias": bias,
        "sd": sd,
        "loa_low": bias - LOA_Z * sd,
        "loa_high": bias + LOA_Z * sd,
    }


def agreement_table(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    params_eval: dict | None = None,
    tasks: Sequence[str] = TASKS,
) -> pd.DataFrame:
    """Per task: n, CCC, QWK, Pearson and the Bland-Altman bias / limits of agreement."""
    b = _bounds(params_eval)
    rows = []
    for k, task in enumerate(tasks):
        t, p = np.asarray(y_true, float)[:, k], np.asarray(y_pred, float)[:, k]
        ba = bland_altman(t, p)
        rows.append(
            {
                "task": task,
                "n": ba["n"],
                "ccc": ccc(t, p),
                "qwk": qwk(t, p, b),
                "pearson": pearson(t, p),
                "bias": ba["bias"],
                "loa_low": ba["loa_low"],
                "loa_high": ba["loa_high"],
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- degradations
def load_degradations(root: str | Path) -> pd.DataFrame | None:
    """``<root>/degradations.csv`` (ground truth of the sample corpus), or None when absent."""
    path = Path(resolve(root)) / DEGRADATIONS_FILE
    if not path.exists():
        return None
    df = pd.read_csv(path, dtype={"video_id": str})
    if "video_id" not in df.columns:
        raise ValueError(f"{path}: no 'video_id' column (columns: {list(df.columns)})")
    return df


def numeric_columns(df: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-constant columns (degradation parameters worth correlating),
    minus ``video_id``, task columns and ``exclude`` (identifiers such as a row index or
    a render seed: ``eval.degradation_exclude``)."""
    cols = []
    for c in df.columns:
        if c == "video_id" or c in exclude or c in TASKS:
            continue
        s = pd.to_numeric(df[c], errors="coerce")
        if (
            s.notna().sum() >= 3
            and s.dropna().nunique() > 1
            and pd.api.types.is_numeric_dtype(df[c])
        ):
            cols.append(c)
    return cols


def _spearman_row(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    keep = np.isfinite(x) & np.isfinite(y)
    n = int(keep.sum())
    rho = spearman(x[keep], y[keep])
    if not np.isfinite(rho):
        return math.nan, math.nan, n
    return rho, float(stats.spearmanr(x[keep], y[keep]).pvalue), n


def select_degradations(degradations: pd.DataFrame, params_eval: dict | None) -> pd.DataFrame:
    """``video_id`` + the injected impairments listed in ``eval.degradation_params`` (columns
    absent from the file are skipped); without that list, every column (then
    ``eval.degradation_exclude`` applies). Descriptors such as pitch or fps are not
    degradations: correlating them with the error only adds false leads at n ~ 20."""
    wanted = (params_eval or {}).get("degradation_params")
    if not wanted:
        return degradations
    return degradations[["video_id", *[c for c in wanted if c in degradations.columns]]]


def near_constant_tasks(
    labels: np.ndarray, threshold: float, tasks: Sequence[str] = TASKS, missing: float = MISSING
) -> list[str]:
    """Tasks whose present labels (``labels`` (N, T), ``missing`` = absent) have a std
    (ddof=1) below ``threshold`` score units (``data.near_zero_std``; chapter 3.1.2: lip_sync):
    their correlations are unstable and are shown apart, not averaged with the rest."""
    out = []
    for k, task in enumerate(tasks):
        v = np.asarray(labels, float)[:, k]
        v = v[np.isfinite(v) & (v != missing)]
        if v.size >= 2 and float(np.std(v, ddof=1)) < threshold:
            out.append(task)
    return out


def error_vs_degradation(
    res: pd.DataFrame, degradations: pd.DataFrame, exclude: Sequence[str] = ()
) -> pd.DataFrame:
    """Spearman rho (and p) of |error| with each numeric degradation column, per task."""
    deg = degradations.set_index("video_id")
    rows = []
    for task, g in res.groupby("task", sort=False):
        sub = deg.reindex(g["video_id"])
        for col in numeric_columns(degradations, exclude):
            rho, pval, n = _spearman_row(
                pd.to_numeric(sub[col], errors="coerce").to_numpy(float),
                g["abs_error"].to_numpy(float),
            )
            rows.append(
                {"task": task, "parameter": col, "spearman_abs_error": rho, "p_value": pval, "n": n}
            )
    return pd.DataFrame(rows)


def prediction_vs_degradation(
    y_pred: np.ndarray,
    video_ids: Sequence[str],
    degradations: pd.DataFrame,
    tasks: Sequence[str] = TASKS,
    exclude: Sequence[str] = (),
) -> pd.DataFrame:
    """Spearman rho of each predicted score with each injected degradation level (task x
    parameter)."""
    deg = degradations.set_index("video_id").reindex(list(video_ids))
    rows = []
    for k, task in enumerate(tasks):
        for col in numeric_columns(degradations, exclude):
            rho, pval, n = _spearman_row(
                pd.to_numeric(deg[col], errors="coerce").to_numpy(float),
                np.asarray(y_pred, float)[:, k],
            )
            rows.append({"task": task, "parameter": col, "spearman": rho, "p_value": pval, "n": n})
    return pd.DataFrame(rows)


def worst_k(
    res: pd.DataFrame,
    k: int = 10,
    degradations: pd.DataFrame | None = None,
    meta: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``k`` videos with the largest mean |error| over their rated tasks, with per-task
    residuals, metadata (group, generator) and degradation parameters joined on video_id."""
    wide = res.pivot(index="video_id", columns="task", values="residual")
    wide = wide[[t for t in TASKS if t in wide.columns]].add_prefix("residual_")
    wide.insert(0, "mean_abs_error", res.groupby("video_id")["abs_error"].mean())
    out = wide.sort_values("mean_abs_error", ascending=False).head(int(k)).reset_index()
    if meta is not None:
        cols = [c for c in ("video_id", "group", "generator") if c in meta.columns]
        out = out.merge(meta[cols], on="video_id", how="left")
    if degradations is not None:
        extra = [c for c in degradations.columns if c not in out.columns or c == "video_id"]
        out = out.merge(degradations[extra], on="video_id", how="left")
    return out


def error_by_group(res: pd.DataFrame, meta: pd.DataFrame, column: str) -> pd.DataFrame:
    """MAE, bias and n per (``column`` value, task); ``column`` e.g. 'generator' or 'group'."""
    if column not in meta.columns:
        raise KeyError(f"no column {column!r} in metadata (columns: {list(meta.columns)})")
    df = res.merge(meta[["video_id", column]], on="video_id", how="left")
    df[column] = df[column].fillna("(none)").astype(str)
    g = df.groupby([column, "task"], sort=True)
    out = pd.DataFrame(
        {"n": g.size(), "mae": g["abs_error"].mean(), "bias": g["residual"].mean()}
    ).reset_index()
    out["task"] = pd.Categorical(
        out["task"], [t for t in TASKS if t in set(out["task"])], ordered=True
    )
    return out.sort_values([column, "task"]).reset_index(drop=True).astype({"task": str})


# --------------------------------------------------------------------------- reports index
#: Sections of reports/README.md in reading order: (folder prefix under reports/, heading,
#: the research question its artefacts answer). Each notebook stage writes reports/<NN_name>/.
REPORT_SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("", "The data", "What is in the dataset, and how was it made?"),
    (
        "01_",
        "01 Data analysis",
        "Are the labels usable: variance, missing rates, task correlation?",
    ),
    ("02_", "02 Features", "Did extraction work: coverage, NaN rates, scales, sync offset?"),
    ("03_", "03 Preprocessing and PCA", "How many dimensions does each modality keep?"),
    ("04_", "04 Model", "What is the model and how large is each part?"),
    ("05_", "05 Training", "Do the fits converge, and how do the task weights move?"),
    (
        "06_",
        "06 Strategies and baselines",
        "Which weighting wins, and does the model beat baselines?",
    ),
    ("07_", "07 Ablations", "Which modalities and paths matter?"),
    ("08_", "08 Error analysis", "Where does the main model fail, and on which degradations?"),
    ("09_", "09 Configurations", "How sensitive is the model to its size and PCA target?"),
    ("10_", "10 Scoring your videos", "What does `tqa score` give on sample videos?"),
)


def _caption(path: Path) -> str:
    """A figure's ``.txt`` caption or a table's Markdown first line, else ''."""
    if path.suffix == ".png":
        cap = path.with_suffix(".txt")
        return cap.read_text(encoding="utf-8").strip() if cap.exists() else ""
    md = path.with_suffix(".md")
    first = md.read_text(encoding="utf-8").splitlines()[0].strip() if md.exists() else ""
    return "" if first.startswith("|") else first


def _artefact_lines(rdir: Path, folder: Path, short: Any) -> list[str]:
    """Links to every file of ``folder`` (figures with captions, tables with their Markdown)."""
    lines = []
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.name == "README.md" or f.name.startswith("."):
            continue
        if f.suffix == ".txt" and f.with_suffix(".png").exists():
            continue  # a figure's caption: shown with the figure
        if f.suffix == ".md" and f.with_suffix(".csv").exists():
            continue  # a table's Markdown copy: linked with its CSV
        rel = f.relative_to(rdir).as_posix()
        md = f.with_suffix(".md")
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
    ]
    # the DVC headline metrics: <repo>/metrics/ beside reports/ (reports/metrics/ in a manual run)
    metrics_dir = next((d for d in (rdir.parent / "metrics", rdir / "metrics") if d.is_dir()), None)
    if metrics_dir is not None:
        lines += [
            "## Headline metrics (`dvc metrics show`)",
            "",
            "Per task: the main model's test Pearson (`tqa_r`) with its bootstrap CI "
            "(`ci_lo`, `ci_hi`) and the best baseline (`base`, `base_r`). All other numbers are "
            "in the tables below.",
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


# --------------------------------------------------------------------------- headline metrics
#: Keys of one headline metrics file (one file per task, so `dvc metrics show` prints one
#: short row per task): the main model's test Pearson with its bootstrap CI, and the best
#: baseline (by test Pearson) with its Pearson. Everything else is in reports tables.
HEADLINE_KEYS: tuple[str, ...] = ("tqa_r", "ci_lo", "ci_hi", "base_r", "base")


def headline_metrics(
    summary: pd.DataFrame,
    baseline_rows: pd.DataFrame,
    strategy: str,
    ci_table: pd.DataFrame | None = None,
    digits: int = 2,
) -> dict[str, dict[str, Any]]:
    """task -> {tqa_r, ci_lo, ci_hi, base_r, base}: the DVC headline metrics (chapter 3.4.1).

    summary: rows of :func:`tqa.study.studies.summarize` (config, task, metric, mean);
    ``tqa_r`` is the mean over seeds of ``strategy``. ci_table: :func:`tqa.study.metrics.
    evaluate_tasks` output with ``pearson_lo``/``pearson_hi`` (one seed, bootstrap). Numbers
    are rounded to ``digits`` decimals (a test split of ~20 videos resolves nothing finer),
    so an unchanged computation rewrites identical bytes. NaN (a constant task) -> None.
    """

    def num(v: Any) -> float | None:
        v = _num(v)
        return None if v is None else round(float(v), digits) + 0.0

    out: dict[str, dict[str, Any]] = {}
    for task in TASKS:
        s = summary[
            (summary["config"] == strategy)
            & (summary["task"] == task)
            & (summary["metric"] == "pearson")
        ]
        row: dict[str, Any] = {"tqa_r": num(s["mean"].iloc[0]) if len(s) else None}
        has_ci = ci_table is not None and "pearson_lo" in ci_table and task in ci_table.index
        row["ci_lo"] = num(ci_table.loc[task, "pearson_lo"]) if has_ci else None
        row["ci_hi"] = num(ci_table.loc[task, "pearson_hi"]) if has_ci else None
        b = baseline_rows[baseline_rows["task"] == task] if len(baseline_rows) else baseline_rows
        b = b[b["pearson"].notna()] if len(b) else b
        if len(b):
            best = b.loc[b["pearson"].idxmax()]
            row["base_r"], row["base"] = num(best["pearson"]), str(best["config"])
        else:
            row["base_r"], row["base"] = None, None
        out[task] = row
    return out


def write_headline_metrics(metrics: dict[str, dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """One ``<out_dir>/<task>.json`` per task (atomic); returns the paths."""
    paths = []
    for task, row in metrics.items():
        path = Path(out_dir) / f"{task}.json"
        write_json(path, {k: row.get(k) for k in HEADLINE_KEYS})
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- metrics.json
def metrics_json_payload(
    params: dict,
    summary: pd.DataFrame,
    baseline_rows: pd.DataFrame,
    strategy: str,
    n_seeds: int,
    metrics: Sequence[str] | None = None,
) -> dict:
    """Nested dict for ``reports/metrics.json`` (DVC metrics): the main model (``strategy``,
    mean over seeds), every strategy in ``summary`` (rows of :func:`tqa.study.studies.summarize`,
    config = strategy name) and each baseline, per task, plus provenance strings."""
    metrics = list(metrics or ["pearson", "spearman", "rmse", "mae", "ccc", "qwk"])

    def per_task(cfg: str) -> dict:
        out = {}
        for task in TASKS:
            s = summary[
                (summary["config"] == cfg)
                & (summary["task"] == task)
                & summary["metric"].isin(metrics)
            ]
            out[task] = {m: _num(v) for m, v in zip(s["metric"], s["mean"])}
        return out

    main = per_task(strategy)
    strategies = {cfg: per_task(cfg) for cfg in dict.fromkeys(summary["config"])}
    base: dict = {}
    for name, g in baseline_rows.groupby("config", sort=False):
        base[name] = {
            r["task"]: {m: _num(r[m]) for m in metrics if m in r} for _, r in g.iterrows()
        }
    return {
        "provenance": provenance(params),
        "data_root": str(params["data"]["root"]),
        "extractors": {
            m: params["features"].get(m) for m in ("visual", "audio", "landmarks", "au", "sync")
        },
        "main_model": {
            "strategy": strategy,
            "n_seeds": int(n_seeds),
            "split": "test",
            "tasks": main,
        },
        "strategies": strategies,
        "baselines": base,
    }


def _num(v) -> float | None:
    """JSON-safe number: NaN -> None (DVC shows it as '-')."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


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
                    out, {t: {k: _num(v) for k, v in row.items()} for t, row in table.iterrows()}
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
    labels = load_dataset(
        resolve(params["data"]["root"]),
        params,
        check_media=False,
        check_files=False,
        progress=False,
    ).labels.set_index("video_id")
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
