"""Paired comparison of folders in `tqa metrics`: generators that rendered the same inputs.

Talking-head generators are compared on the same portraits and audios (THQA: 8 generators x
the same 50 portrait-audio pairs), and a comparison that pairs each video with its twin
from the other generator removes the spread between inputs, which the per-folder mean +-
CI of ``summary.md`` keeps in. When two or more folders hold videos of the same name
(:func:`pair_key`: the file name without its extension and without the folder's own name,
so ``wav2lip/p1_a2.mp4`` pairs with ``sadtalker/p1_a2.mp4`` and ``1_a2_wav2lip.mp4`` in
``wav2lip/`` with ``1_a2_sadtalker.mp4`` in ``sadtalker/``), every folder is compared with a
reference folder (the first one given, or ``--reference``) over the pairs measured in both,
per metric with a direction (:data:`tqa.features.video_metrics.METRICS`, and the
ground-truth columns of ``--ground-truth``, :mod:`tqa.features.reference_metrics`):

* ``delta``: mean of the paired differences (folder - reference; for ``|x| lower`` columns,
  |folder| - |reference|) with its 95 % Student-t interval;
* ``share_better``: the share of pairs in which the folder's video is the better one by the
  column's direction (ties count one half);
* ``p``: the two-sided Wilcoxon signed-rank test of the differences (Wilcoxon 1945; scipy,
  through :func:`tqa.study.comparison.paired_wilcoxon`), and ``p_holm``: Holm's step-down
  adjustment over the columns with a direction of that folder's comparison (Holm 1979), so
  that comparing ~25 columns does not read one of them as a difference by chance;
* ``verdict``: "better" / "worse" where ``p_holm`` < alpha (params ``cv.alpha``), else "no
  detectable difference"; ``n/a`` under 2 pairs. ``info`` columns get the difference only.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import stats

from tqa.features.reference_metrics import metric_columns
from tqa.study.comparison import paired_wilcoxon

#: Fewest pairs for a comparison (a difference needs two to have a spread).
MIN_PAIRS = 2
#: Columns of :func:`paired_comparison`'s table.
COLUMNS = (
    "group", "reference", "metric", "unit", "better", "n_pairs", "mean_reference", "mean_group",
    "delta", "ci_low", "ci_high", "share_better", "p", "p_holm", "verdict",
)  # fmt: skip


def pair_key(stem: str, group: str) -> str:
    """The name a video is paired by: its file stem without the folder (group) name where
    that stands as a whole token (between separators or at an end; case-insensitive: folder
    ``a`` takes no letter out of ``data``), and without the separators left at its ends."""
    key = stem
    if group:
        token = rf"(?<![0-9A-Za-z]){re.escape(group)}(?![0-9A-Za-z])"
        key = re.sub(token, "", stem, flags=re.IGNORECASE)
        key = re.sub(r"[_\-. ]{2,}", "_", key).strip("_-. ")
    return (key or stem).lower()


def holm(p: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): the i-th smallest of m p-values times
    (m - i + 1), made non-decreasing in that order and capped at 1; NaN stays NaN and is not
    counted in m."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not ok.size:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adj = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adj, 1.0)
    return out


def paired_values(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(video x group table of the ``ok`` rows' pair keys -> row index, the groups in order);
    a key that two videos of one group share is left out of that group (ambiguous)."""
    groups = list(dict.fromkeys(df["group"]))
    ok = df[df["status"] == "ok"]
    keys = ok.apply(lambda r: pair_key(str(r["video"]), str(r["group"])), axis=1)
    frame = pd.DataFrame({"group": ok["group"], "key": keys, "row": ok.index})
    frame = frame[~frame.duplicated(["group", "key"], keep=False)]
    table = frame.pivot(index="key", columns="group", values="row") if len(frame) else frame
    return table, groups


def as_compared(value: np.ndarray, better: str) -> np.ndarray:
    """The column as compared: |x| for ``|x| lower``, else as it is."""
    return np.abs(value) if better.startswith("|x|") else value


def compare_pair(a: np.ndarray, b: np.ndarray, better: str) -> dict[str, float]:
    """Paired statistics of group values ``a`` against reference values ``b`` (the pairs
    finite in both), for a column whose better direction is ``better``."""
    a, b = as_compared(np.asarray(a, float), better), as_compared(np.asarray(b, float), better)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = int(ok.sum())
    rec = {"n_pairs": n, "mean_reference": math.nan, "mean_group": math.nan, "delta": math.nan}
    rec |= {"ci_low": math.nan, "ci_high": math.nan, "share_better": math.nan, "p": math.nan}
    if n == 0:
        return rec
    d = a - b
    rec |= {
        "mean_reference": float(b.mean()),
        "mean_group": float(a.mean()),
        "delta": float(d.mean()),
    }
    if n >= MIN_PAIRS:
        half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))
        rec |= {"ci_low": rec["delta"] - half, "ci_high": rec["delta"] + half}
        if better != "info":
            rec["p"] = paired_wilcoxon(a, b)[0]
    if better != "info":
        wins = (d < 0) if better.endswith("lower") else (d > 0)
        rec["share_better"] = float((wins.sum() + 0.5 * (d == 0).sum()) / n)
    return rec


def paired_comparison(
    df: pd.DataFrame, reference: str | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Every group against ``reference`` (default: the first group) over their paired videos
    (module docstring); an empty table when no two groups share :data:`MIN_PAIRS` names.
    ValueError naming the groups when ``reference`` is not one of them."""
    table, groups = paired_values(df)
    reference = groups[0] if reference is None and groups else reference
    if reference not in groups:
        raise ValueError(f"reference folder {reference!r} is not among the folders {groups}")
    recs = []
    for g in groups:
        if g == reference or reference not in table or g not in table:
            continue
        both = table[[reference, g]].dropna()
        if len(both) < MIN_PAIRS:
            continue
        ra, rb = both[g].astype(int).to_numpy(), both[reference].astype(int).to_numpy()
        part = []
        for m, d in metric_columns(df.columns).items():
            a = pd.to_numeric(df.loc[ra, m], errors="coerce").to_numpy(float)
            b = pd.to_numeric(df.loc[rb, m], errors="coerce").to_numpy(float)
            rec = compare_pair(a, b, d.better)
            if rec["n_pairs"] == 0:
                continue
            part.append({"group": g, "reference": reference, "metric": m, "unit": d.unit,
                         "better": d.better, **rec})  # fmt: skip
        adj = holm([r["p"] for r in part])
        for r, ph in zip(part, adj):
            r["p_holm"] = float(ph)
            r["verdict"] = _verdict(r, alpha)
        recs += part
    return pd.DataFrame(recs, columns=list(COLUMNS))


def _verdict(r: dict, alpha: float) -> str:
    """'better' / 'worse' / 'no detectable difference' (Holm-adjusted p at ``alpha``);
    'n/a' for a column without a direction or without a test."""
    if r["better"] == "info" or not np.isfinite(r["p_holm"]):
        return "n/a"
    if r["p_holm"] >= alpha or r["delta"] == 0:
        return "no detectable difference"
    lower = r["better"].endswith("lower")
    return "better" if (r["delta"] < 0) == lower else "worse"


def cell(text: str) -> str:
    """``text`` for a markdown table cell: its pipes escaped (``|x| lower`` would split it)."""
    return str(text).replace("|", "\\|")


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return f"{x:.2f}" if abs(x) >= 10 else f"{x:.3f}"


def p_text(x: float) -> str:
    """A p-value for a table cell: 3 significant digits, 1.2e-04 under 0.001, – for NaN."""
    return "–" if not np.isfinite(x) else (f"{x:.3g}" if x >= 0.001 else f"{x:.1e}")


def paired_markdown(paired: pd.DataFrame, alpha: float) -> str:
    """``paired.md``: one section per compared folder, one row per column."""
    ref = paired["reference"].iloc[0]
    lines = [
        "# Paired comparison of folders (same-named videos)",
        "",
        f"Each folder against `{ref}` over the videos both hold (paired by file name, the "
        "folder's own name left out of it). Δ: mean of the paired differences (folder - "
        f"`{ref}`; `|x| lower` columns compare |x|) with its 95 % Student-t interval; better: "
        "the share of pairs in which the folder's video is the better one (ties count one "
        "half); p: two-sided Wilcoxon signed-rank; p Holm: adjusted over the columns with a "
        f"direction (Holm 1979); verdict at p Holm < {alpha:g}. The sync columns are tqa's "
        "weight-free estimate, not SyncNet's.",
    ]
    for g, part in paired.groupby("group", sort=False):
        n = int(part["n_pairs"].max())
        lines += [
            "",
            f"## {g} vs {ref} ({n} pairs)",
            "",
            "| metric | better | n | mean " + ref + " | mean " + str(g) + " | Δ [95 % CI] | "
            "better in | p | p Holm | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in part.itertuples():
            ci = f" [{_num(r.ci_low)}, {_num(r.ci_high)}]" if np.isfinite(r.ci_low) else ""
            share = "–" if not np.isfinite(r.share_better) else f"{r.share_better:.0%}"
            lines.append(
                f"| {r.metric} | {cell(r.better)} | {r.n_pairs} | {_num(r.mean_reference)} | "
                f"{_num(r.mean_group)} | {_num(r.delta)}{ci} | {share} | {p_text(r.p)} | "
                f"{p_text(r.p_holm)} | {r.verdict} |"
            )
    return "\n".join(lines) + "\n"
