"""Ranks of three or more generators in `tqa metrics`: who is best, across all of them.

The paired comparison (:mod:`tqa.serve.metrics_paired`) sets every folder against one
reference: Demsar's "comparison with a control" (J. Demsar, "Statistical comparisons of
classifiers over multiple data sets", JMLR 7, 2006, section 3.2.2). When three or more
folders render the same inputs, a researcher also asks how they all order. Over the videos
that every folder holds (:func:`tqa.serve.metrics_paired.paired_values`' names), per metric
with a direction:

* each video's folders are ranked, 1 = the best by the column's direction (``|x| lower``
  columns by |x|; ties share their mean rank), and each folder's ranks averaged: its
  **mean rank** (Friedman 1937; what Demsar's critical-difference diagrams plot);
* **Friedman's test** that all folders rank alike (``scipy.stats.friedmanchisquare``, the
  chi-square approximation, which wants about 10 videos or more), and Holm's adjustment of
  its p over the metrics (Holm 1979; :func:`tqa.serve.metrics_paired.holm`).

A Friedman p under ``cv.alpha`` says the folders do not all rank alike on that metric, not
which pairs differ: ``paired.md`` tests each folder against the reference. Written as
``ranks.md`` / ``ranks.csv`` when three or more folders share two or more video names.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from tqa.features.reference_metrics import metric_columns
from tqa.serve.metrics_paired import as_compared, cell, holm, p_text, paired_values

#: Fewest folders and shared videos for a rank table.
MIN_GROUPS, MIN_VIDEOS = 3, 2
#: Columns of :func:`rank_table`.
COLUMNS = ("metric", "unit", "better", "group", "mean_rank", "n_videos", "chi2", "p", "p_holm")


def ranks_of(values: np.ndarray, better: str) -> np.ndarray:
    """(n, k) ranks of ``values`` (n videos x k folders) within each row, 1 = best by
    ``better`` ("higher", "lower", "|x| lower"), ties averaged."""
    v = as_compared(np.asarray(values, float), better)
    return stats.rankdata(-v if better == "higher" else v, axis=1)


def rank_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per metric with a direction and folder: the mean rank over the videos every folder
    holds (finite in all), with the metric's Friedman chi-square, p and Holm p; empty with
    fewer than :data:`MIN_GROUPS` folders or :data:`MIN_VIDEOS` shared videos."""
    table, groups = paired_values(df)
    if len(groups) < MIN_GROUPS or not all(g in table for g in groups):
        return pd.DataFrame(columns=list(COLUMNS))
    rows = table[groups].dropna().astype(int)
    if len(rows) < MIN_VIDEOS:
        return pd.DataFrame(columns=list(COLUMNS))
    recs = []
    for m, d in metric_columns(df.columns).items():
        if d.better == "info":
            continue
        vals = np.column_stack(
            [pd.to_numeric(df.loc[rows[g], m], errors="coerce").to_numpy(float) for g in groups]
        )
        vals = vals[np.isfinite(vals).all(axis=1)]
        if len(vals) < MIN_VIDEOS:
            continue
        r = ranks_of(vals, d.better)
        with warnings.catch_warnings():  # every video tied: scipy divides 0 by 0 (p NaN)
            warnings.simplefilter("ignore", RuntimeWarning)
            chi2, p = stats.friedmanchisquare(*as_compared(vals, d.better).T)
        chi2, p = (float(chi2), float(p)) if np.isfinite(p) else (math.nan, math.nan)
        for g, mean in zip(groups, r.mean(axis=0)):
            recs.append({"metric": m, "unit": d.unit, "better": d.better, "group": g,
                         "mean_rank": float(mean), "n_videos": len(vals), "chi2": chi2,
                         "p": p})  # fmt: skip
    out = pd.DataFrame(recs, columns=list(COLUMNS))
    if len(out):
        per_metric = out.drop_duplicates("metric")
        adj = dict(zip(per_metric["metric"], holm(per_metric["p"].to_numpy(float))))
        out["p_holm"] = out["metric"].map(adj)
    return out


def ranks_markdown(ranks: pd.DataFrame, alpha: float) -> str:
    """``ranks.md``: one row per metric, one column per folder (its mean rank; the best in
    bold), the videos ranked, Friedman's p and its Holm p."""
    groups = list(dict.fromkeys(ranks["group"]))
    lines = [
        "# Ranks of the folders (videos every folder holds)",
        "",
        "Per metric, each video's folders ranked (1 = best by the column's direction; `|x| "
        "lower` columns by |x|; ties share their mean rank), each folder's ranks averaged "
        "(bold: the lowest mean rank). p: Friedman's test that all folders rank alike "
        "(chi-square approximation: trust it from about 10 videos); p Holm: adjusted over the "
        f"metrics (Holm 1979); p Holm < {alpha:g} says the folders differ on that metric, not "
        "which pairs do (`paired.md` tests each folder against the reference; Demsar 2006).",
        "",
        "| metric | better | videos | " + " | ".join(groups) + " | p | p Holm |",
        "|---|---|---|" + "---|" * len(groups) + "---|---|",
    ]
    for m, part in ranks.groupby("metric", sort=False):
        mr = part.set_index("group")["mean_rank"]
        best = mr.min()
        cells = [f"**{mr[g]:.2f}**" if mr[g] == best else f"{mr[g]:.2f}" for g in groups]
        first = part.iloc[0]
        lines.append(
            f"| {m} | {cell(first['better'])} | {int(first['n_videos'])} | "
            + " | ".join(cells)
            + f" | {p_text(first['p'])} | {p_text(first['p_holm'])} |"
        )
    return "\n".join(lines) + "\n"
