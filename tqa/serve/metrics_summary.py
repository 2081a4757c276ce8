"""The per-folder summary of `tqa metrics`: mean +- 95 % CI per group, as Markdown and LaTeX.

Every :data:`tqa.features.video_metrics.METRICS` column (and, with ``--ground-truth``, every
:data:`tqa.features.reference_metrics.REFERENCE_METRICS` one) is summarised as measured; a column
whose better direction is ``|x| lower`` (the sync offsets) also gets a row of its mean
absolute value, ``abs(<column>)`` (better: lower), because the signed mean hides the
magnitude: a generator whose videos read +3 and -3 frames has a mean offset of 0.

``summary.tex`` is the table a paper takes: one row per summary row with a direction, one
column per folder, the best folder's mean in bold (higher or lower by the row's direction;
ties all bold). Bold marks the best mean, not a tested difference: the paired comparison
(``paired.md``, :mod:`tqa.serve.metrics_paired`) tests differences between folders.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tqa.features.reference_metrics import metric_columns
from tqa.serve.metrics_paired import cell


@dataclass(frozen=True)
class SummaryRow:
    """One row of the summary: its name, the column it reads, |x| or x, unit, direction."""

    name: str
    column: str
    absolute: bool
    unit: str
    better: str


def summary_rows(columns: Iterable[str] = ()) -> list[SummaryRow]:
    """Every metric column of a table with ``columns`` (:func:`metric_columns`: METRICS, and
    the ground-truth columns it holds) as measured, each ``|x| lower`` one followed by
    ``abs(<column>)``."""
    rows = []
    for m, d in metric_columns(columns).items():
        rows.append(SummaryRow(m, m, False, d.unit, d.better))
        if d.better.startswith("|x|"):
            rows.append(SummaryRow(f"abs({m})", m, True, d.unit, "lower"))
    return rows


def mean_ci(x: pd.Series | np.ndarray, level: float = 0.95) -> tuple[float, float, int]:
    """(mean, half-width of the Student-t CI, n) over finite values; half-width NaN if n < 2."""
    v = pd.to_numeric(pd.Series(x), errors="coerce").astype(float).to_numpy()
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    if n < 2:
        return float(v.mean()), math.nan, 1
    half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
    return float(v.mean()), float(half), n


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per group and summary row (:func:`summary_rows`): ``metric`` (the row's name), mean,
    ci95 (half-width), n (finite values of ``ok`` rows)."""
    ok = df[df["status"] == "ok"]
    recs = []
    for group in dict.fromkeys(df["group"]):
        g = ok[ok["group"] == group]
        for r in summary_rows(df.columns):
            v = pd.to_numeric(g[r.column], errors="coerce").astype(float) if len(g) else []
            mean, half, n = mean_ci(np.abs(v) if r.absolute else v)
            recs.append({"group": group, "metric": r.name, "mean": mean, "ci95": half, "n": n})
    return pd.DataFrame(recs)


def _digits(mean: float) -> int:
    return 2 if abs(mean) >= 1 else 3


def _fmt(mean: float, half: float) -> str:
    if not np.isfinite(mean):
        return "–"
    k = _digits(mean)
    return f"{mean:.{k}f}" + (f" ± {half:.{k}f}" if np.isfinite(half) else "")


def _counts(df: pd.DataFrame) -> dict[str, int]:
    groups = list(dict.fromkeys(df["group"]))
    return {g: int(((df["group"] == g) & (df["status"] == "ok")).sum()) for g in groups}


def summary_markdown(df: pd.DataFrame, summary: pd.DataFrame) -> str:
    """Markdown: one row per summary row, one column per group (mean ± 95 % CI), direction
    stated."""
    counts = _counts(df)
    head = " | ".join(f"{g} (n={n})" for g, n in counts.items())
    lines = [
        "# No-reference metrics per folder",
        "",
        "Mean ± 95 % CI (Student t) over the videos of each folder; `better`: the direction of "
        "a better video (`info`: descriptive, no direction); `abs(...)`: the mean of the "
        "absolute value (a signed mean of +3 and -3 reads 0). DNSMOS and BRISQUE are each "
        "model's own human calibration (P.835/P.808 listening tests; LIVE IQA); the sync "
        "columns are tqa's weight-free estimate, **not** SyncNet's LSE-C/LSE-D (those are the "
        "`lse_*` columns, filled only when SyncNet weights are configured).",
        "",
        f"| metric | unit | better | {head} |",
        "|---|---|---|" + "---|" * len(counts),
    ]
    s = summary.set_index(["metric", "group"])
    for r in summary_rows(df.columns):
        cells = [_fmt(s.loc[(r.name, g), "mean"], s.loc[(r.name, g), "ci95"]) for g in counts]
        lines.append(f"| {r.name} | {r.unit} | {cell(r.better)} | " + " | ".join(cells) + " |")
    bad = df[df["status"] != "ok"]
    if len(bad):
        lines += ["", "Not measured:", ""]
        lines += [f"- {r.video} ({r.group}): {r.status}: {r.error}" for r in bad.itertuples()]
    lines += ["", "Columns:", ""]
    defs = metric_columns(df.columns).items()
    lines += [f"- `{m}` ({d.unit}, better: {d.better}): {d.what}" for m, d in defs]
    return "\n".join(lines) + "\n"


#: LaTeX special characters and their escapes (text mode).
_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (for a table cell)."""
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def best_groups(means: pd.Series, better: str) -> list[str]:
    """The groups whose finite mean is the best by ``better`` ("higher" / "lower"); all of
    them on a tie, none when no mean is finite."""
    m = means.astype(float)
    m = m[np.isfinite(m)]
    if not len(m):
        return []
    best = m.max() if better == "higher" else m.min()
    return list(m.index[m == best])


def summary_latex(df: pd.DataFrame, summary: pd.DataFrame) -> str:
    """``summary.tex``: a booktabs tabular (module docstring), the rows with a direction and at
    least one finite mean."""
    counts = _counts(df)
    s = summary.set_index(["metric", "group"])
    head = " & ".join(latex_escape(f"{g}") + f" ($n={n}$)" for g, n in counts.items())
    lines = [
        "% tqa metrics: mean $\\pm$ 95 % CI (Student t) over each folder's videos; bold: the",
        "% best mean of the row by its direction (not a test: paired.md compares folders).",
        "% Needs \\usepackage{booktabs}.",
        "\\begin{tabular}{l" + "r" * len(counts) + "}",
        "\\toprule",
        f"Metric & {head} \\\\",
        "\\midrule",
    ]
    for r in summary_rows(df.columns):
        if r.better not in ("higher", "lower"):
            continue
        means = pd.Series({g: s.loc[(r.name, g), "mean"] for g in counts})
        if not np.isfinite(means.astype(float)).any():
            continue
        bold = set(best_groups(means, r.better))
        arrow = "$\\uparrow$" if r.better == "higher" else "$\\downarrow$"
        cells = []
        for g in counts:
            mean, half = s.loc[(r.name, g), "mean"], s.loc[(r.name, g), "ci95"]
            if not np.isfinite(mean):
                cells.append("--")
                continue
            k = _digits(mean)
            text = f"{mean:.{k}f}"
            text = f"\\textbf{{{text}}}" if g in bold else text
            cells.append(text + (f" $\\pm$ {half:.{k}f}" if np.isfinite(half) else ""))
        lines.append(f"{latex_escape(r.name)} {arrow} & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
