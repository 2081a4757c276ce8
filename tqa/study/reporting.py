"""Writing report artefacts: figures with captions, tables as CSV + Markdown, provenance.

Every figure is ``<report>/figures/<name>.png`` with its caption in ``<name>.txt``; every
table is ``<report>/tables/<name>.md`` (what a reader browses in git) with its data in
``<report>/data/<name>.csv`` (what a program reads). The split lets a stage whose numbers
carry float noise from training keep ``data/`` out of git as a DVC-cached output while its
Markdown and figures stay tracked (issue 23; docs/corpus.md). :func:`provenance` is the line
each report carries saying which data and which extractors produced its numbers.
"""

from __future__ import annotations

import importlib.util
import io
import re
import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.transforms import offset_copy

from tqa.core.atomic import atomic_path, write_csv, write_text
from tqa.core.params import ROOT
from tqa.core.precision import FLOAT_FORMAT, rounded_frame

REPORTS = ROOT / "reports"


#: Figure rules (issue "figures that tell the truth"): at most this wide, at this dpi, with
#: no text smaller than MIN_FONT_PT.
MAX_WIDTH_PX = 1600
DPI = 100
MIN_FONT_PT = 9.0
_PROVENANCE = re.compile(
    r"Data: (?P<root>[^ .(]+(?:\.[^ .(]+)*)(?P<synthetic> \(embedded[^)]*\))?\. "
    r"Extractors: (?P<extractors>[^\n]*?)\.?$"
)


def footer_text(caption: str) -> str:
    """The provenance footer of a figure: data root and extractors, from the provenance
    sentence of its caption (:func:`provenance`); '' when the caption has none."""
    m = _PROVENANCE.search(caption.strip())
    if not m:
        return ""
    synthetic = " (synthetic sample, not EmotionTalk)" if m.group("synthetic") else ""
    return f"data: {m.group('root')}{synthetic} | extractors: {m.group('extractors')}"


def enforce_figure_rules(fig, footer: str = "") -> None:
    """Raise every text of ``fig`` to :data:`MIN_FONT_PT`, cap its width at
    :data:`MAX_WIDTH_PX` / :data:`DPI` inches, and add the provenance ``footer`` (wrapped)."""
    width_in, height_in = fig.get_size_inches()
    max_in = MAX_WIDTH_PX / DPI - 0.4  # room for the tight bounding box
    if width_in > max_in:
        fig.set_size_inches(max_in, height_in * max_in / width_in)
    for text in fig.findobj(
        match=lambda a: hasattr(a, "get_fontsize") and hasattr(a, "set_fontsize")
    ):
        if text.get_fontsize() < MIN_FONT_PT:
            text.set_fontsize(MIN_FONT_PT)
    if footer:
        chars = max(40, int(fig.get_size_inches()[0] * DPI / 6.5))  # ~6.5 px per char at 9 pt
        fig.text(
            0.0, 0.0, textwrap.fill(footer, chars), fontsize=MIN_FONT_PT, color="0.35",
            ha="left", va="top",
            transform=offset_copy(fig.transFigure, fig=fig, y=-8, units="points"),
        )  # fmt: skip


def save_figure(
    fig, name: str, caption: str, reports_dir: str | Path | None = None, dpi: int = DPI
) -> Path:
    """Save a matplotlib figure as PNG (readable size, provenance footer taken from the
    caption) with a one-line caption file beside it."""
    out = Path(reports_dir or REPORTS) / "figures" / f"{name}.png"
    enforce_figure_rules(fig, footer_text(caption))
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, bbox_inches="tight", format="png")
    width = int.from_bytes(buf.getvalue()[16:20], "big")  # PNG IHDR width
    if width > MAX_WIDTH_PX:  # the tight box grew past the cap: save smaller
        dpi = int(dpi * MAX_WIDTH_PX / width)
        buf = io.BytesIO()
        fig.savefig(buf, dpi=dpi, bbox_inches="tight", format="png")
    with atomic_path(out, suffix=".png") as tmp:
        tmp.write_bytes(buf.getvalue())
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
    """Save a table as ``data/<name>.csv`` (floats to :data:`tqa.core.precision.SIGNIFICANT`
    significant digits: above float noise, issue 23) and ``tables/<name>.md`` (caption as its
    first line) under ``reports_dir``; returns the CSV's path."""
    root = Path(reports_dir or REPORTS)
    base = root / "tables" / name
    csv = data_path(root, name)
    df = rounded_frame(df)
    write_csv(csv, df, index=index, float_format=FLOAT_FORMAT)
    md = (
        df.to_markdown(index=index, floatfmt=floatfmt)
        if _has_tabulate()
        else _plain_markdown(df, index)
    )
    write_text(base.with_suffix(".md"), (f"{caption.strip()}\n\n" if caption else "") + md + "\n")
    return csv


def data_path(reports_dir: str | Path, name: str, suffix: str = ".csv") -> Path:
    """``<reports_dir>/data/<name><suffix>``: where a report's machine-readable table goes."""
    return Path(reports_dir) / "data" / f"{name}{suffix}"


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
