"""Writing report artefacts: figures with captions, tables as CSV + Markdown, provenance.

Every figure is ``reports/figures/<name>.png`` with its caption in ``<name>.txt``; every
table is ``reports/tables/<name>.csv`` and ``<name>.md``. :func:`provenance` is the line
each report carries saying which data and which extractors produced its numbers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from tqa.core.atomic import atomic_path, write_csv, write_text
from tqa.core.params import ROOT

REPORTS = ROOT / "reports"


def save_figure(
    fig, name: str, caption: str, reports_dir: str | Path | None = None, dpi: int = 120
) -> Path:
    """Save a matplotlib figure as PNG with a one-line caption file beside it."""
    out = Path(reports_dir or REPORTS) / "figures" / f"{name}.png"
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    write_text(out.with_suffix(".txt"), caption.strip() + "\n")
    return out


def save_table(
    df: pd.DataFrame,
    name: str,
    caption: str = "",
    reports_dir: str | Path | None = None,
    index: bool = False,
    floatfmt: str = ".4g",
) -> Path:
    """Save a table as CSV and as a Markdown file (caption as its first line)."""
    base = Path(reports_dir or REPORTS) / "tables" / name
    write_csv(base.with_suffix(".csv"), df, index=index)
    md = (
        df.to_markdown(index=index, floatfmt=floatfmt)
        if _has_tabulate()
        else _plain_markdown(df, index)
    )
    write_text(base.with_suffix(".md"), (f"{caption.strip()}\n\n" if caption else "") + md + "\n")
    return base.with_suffix(".csv")


def provenance(params: dict, extractors: dict | None = None) -> str:
    """One line naming the data and extractors behind a report's numbers."""
    root = params.get("data", {}).get("root", "?")
    synthetic = (
        " (embedded synthetic sample corpus, simulated labels — not EmotionTalk)"
        if "sample" in str(root)
        else ""
    )
    feats = params.get("features", {})
    ex = extractors or {m: feats.get(m) for m in ("visual", "audio", "landmarks", "au", "sync")}
    ex_txt = ", ".join(f"{k}={v}" for k, v in ex.items())
    return f"Data: {root}{synthetic}. Extractors: {ex_txt}."


def _has_tabulate() -> bool:
    return importlib.util.find_spec("tabulate") is not None


def _plain_markdown(df: pd.DataFrame, index: bool) -> str:
    """Markdown table without the optional `tabulate` dependency."""
    frame = df.reset_index() if index else df

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    sep = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, sep, *rows])
