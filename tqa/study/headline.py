"""The study's headline numbers for DVC (chapter 3.4.1): one short ``metrics/<task>.json``
per task (the main model's test Pearson with its CI, the best baseline), and the nested
``reports/metrics.json`` (every strategy and baseline per task)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tqa.core.atomic import write_json
from tqa.core.schema import TASKS
from tqa.study.reporting import provenance

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
        v = json_number(v)
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
            out[task] = {m: json_number(v) for m, v in zip(s["metric"], s["mean"])}
        return out

    main = per_task(strategy)
    strategies = {cfg: per_task(cfg) for cfg in dict.fromkeys(summary["config"])}
    base: dict = {}
    for name, g in baseline_rows.groupby("config", sort=False):
        base[name] = {
            r["task"]: {m: json_number(r[m]) for m in metrics if m in r} for _, r in g.iterrows()
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


def json_number(v) -> float | None:
    """JSON-safe number: NaN -> None (DVC shows it as '-')."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
