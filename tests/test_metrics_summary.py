"""The per-folder summary of `tqa metrics` (tqa.serve.metrics_summary): the |x| rows of the
sync offsets, the paper table's bold best and its escaping, against pandas."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tqa.features.video_metrics import METRICS
from tqa.serve.metrics_summary import (
    best_groups,
    latex_escape,
    summarize,
    summary_latex,
    summary_markdown,
    summary_rows,
)


def _table() -> pd.DataFrame:
    """3 folders x 4 videos; folder ``gen_b`` has offsets +3 / -3 (signed mean 0)."""
    rng = np.random.default_rng(0)
    rows = []
    offsets = {"real": [0, 1, 0, -1], "gen_b": [3, -3, 3, -3], "gen&c": [2, 2, 1, 2]}
    for g, offs in offsets.items():
        for i, o in enumerate(offs):
            r = dict.fromkeys(METRICS, np.nan) | {"group": g, "video": f"v{i}", "status": "ok"}
            r |= {
                "sync_offset": float(o),
                "sync_confidence": rng.uniform(0, 0.5),
                "brisque_face": rng.uniform(20, 60),
                "blink_rate": rng.uniform(5, 20),
            }
            rows.append(r)
    rows.append(
        {"group": "real", "video": "bad", "status": "failed", "error": "x", "sync_offset": 15.0}
    )
    return pd.DataFrame(rows)


def test_every_offset_column_gets_its_mean_absolute_value() -> None:
    names = [r.name for r in summary_rows()]
    absolute = [m for m, d in METRICS.items() if d.better.startswith("|x|")]
    assert absolute and all(names[names.index(m) + 1] == f"abs({m})" for m in absolute)
    df = _table()
    s = summarize(df).set_index(["metric", "group"])
    ok = df[df["status"] == "ok"]
    for g, part in ok.groupby("group"):
        assert s.loc[("sync_offset", g), "mean"] == pytest.approx(part["sync_offset"].mean())
        assert s.loc[("abs(sync_offset)", g), "mean"] == pytest.approx(
            part["sync_offset"].abs().mean()
        )
    assert s.loc[("sync_offset", "gen_b"), "mean"] == 0.0  # what the |x| row is for
    assert s.loc[("abs(sync_offset)", "gen_b"), "mean"] == 3.0
    md = summary_markdown(df, summarize(df))
    assert "| abs(sync_offset) | frames | lower | 0.500 ± " in md  # real: |0, 1, 0, -1|


def test_latex_table_bolds_the_best_mean_by_direction() -> None:
    df = _table()
    summary = summarize(df)
    tex = summary_latex(df, summary)
    assert tex.count(r"\begin{tabular}{lrrr}") == 1 and r"gen\&c ($n=4$)" in tex
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    means = summary.pivot(index="metric", columns="group", values="mean")
    shown = {}
    for line in body:
        name, *cells = re.split(r"(?<!\\) & ", line.removesuffix(r" \\"))
        assert len(cells) == 3  # one cell per folder, the & of gen&c escaped
        shown[name.split(" $")[0].replace(r"\_", "_")] = (name, cells)
    # rows with a direction and data only: no info column (blink_rate), no empty one (lse_c)
    assert set(shown) == {"abs(sync_offset)", "sync_confidence", "brisque_face"}
    for metric, (name, cells) in shown.items():
        better = "higher" if r"\uparrow" in name else "lower"
        col = means.loc[metric, ["real", "gen_b", "gen&c"]]
        best = col.idxmax() if better == "higher" else col.idxmin()  # pandas, independently
        bold = [g for g, c in zip(col.index, cells) if c.startswith(r"\textbf{")]
        assert bold == [best], metric
    assert shown["abs(sync_offset)"][1][0].startswith(r"\textbf{0.500}")


def test_best_groups_ties_and_nan() -> None:
    assert best_groups(pd.Series({"a": 1.0, "b": 2.0, "c": 2.0}), "higher") == ["b", "c"]
    assert best_groups(pd.Series({"a": np.nan, "b": 2.0}), "lower") == ["b"]
    assert best_groups(pd.Series({"a": np.nan}), "lower") == []


def test_latex_escape() -> None:
    assert latex_escape("a_b&c%d$e#f{g}h~i^j\\k") == (
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    )
