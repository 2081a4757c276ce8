"""`tqa metrics`' paired comparison of folders (tqa.serve.metrics_paired) against scipy and the
closed forms of Holm's adjustment, on planted tables."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tqa.features.video_metrics import METRICS
from tqa.serve.metrics_paired import (
    compare_pair,
    holm,
    pair_key,
    paired_comparison,
    paired_markdown,
)


def test_holm_matches_its_definition() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    got = holm([0.5, np.nan, 0.001, 0.2])  # NaN is not counted: m = 3
    np.testing.assert_allclose(got[[0, 2, 3]], [0.5, 0.003, 0.4])
    assert math.isnan(got[1])
    assert holm([0.6, 0.9])[1] == 1.0  # capped at 1


def test_pair_key_leaves_the_folder_name_out() -> None:
    assert pair_key("1_a2_wav2lip", "wav2lip") == pair_key("1_a2_SadTalker", "sadtalker") == "1_a2"
    assert pair_key("p1_a2", "wav2lip") == "p1_a2"
    assert pair_key("wav2lip", "wav2lip") == "wav2lip"  # nothing left: the stem as it is
    # only a whole token: folder "a" takes nothing out of "data", but "_a" off "talk_a"
    assert pair_key("data_clip", "a") == "data_clip" and pair_key("talk_a", "a") == "talk"
    assert pair_key("p1-Wav2Lip-a2", "wav2lip") == "p1_a2"


def test_compare_pair_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    b = rng.normal(3, 1, 15)
    a = b + rng.normal(0.4, 0.5, 15)
    a[4], b[9] = np.nan, np.nan  # pairs with a missing side are left out
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    r = compare_pair(a, b, "higher")
    assert r["n_pairs"] == 13
    assert r["delta"] == pytest.approx(d.mean())
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi))
    assert r["p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert r["share_better"] == pytest.approx(np.mean(d > 0))
    # lower is better: the same numbers win the other way round
    assert compare_pair(a, b, "lower")["share_better"] == pytest.approx(np.mean(d < 0))
    # |x| lower: an offset of -3 is as far from 0 as +3 (a tie counts one half)
    r = compare_pair(np.array([-3.0, 1.0, 0.0]), np.array([3.0, 2.0, -1.0]), "|x| lower")
    assert r["delta"] == pytest.approx(np.mean([0.0, -1.0, -1.0]))
    assert r["share_better"] == pytest.approx((2 + 0.5) / 3)
    # info: the difference only
    r = compare_pair(a, b, "info")
    assert (
        math.isnan(r["p"])
        and math.isnan(r["share_better"])
        and r["delta"] == pytest.approx(d.mean())
    )


def _table(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Two generators that rendered the same n inputs (names carry the generator, as THQA's
    do), plus a third with 3 of them; every metric random, sharpness planted better in B."""
    rng = np.random.default_rng(seed)
    rows = []
    base = {m: rng.normal(5, 2, n) for m in METRICS}
    for g, k in (("gen_a", n), ("gen_b", n), ("gen_c", 3)):
        for i in range(k):
            row = {
                "group": g,
                "video": f"{i}_audio{i % 3}_{g}",
                "path": "",
                "status": "ok",
                "error": "",
            }
            for m in METRICS:
                row[m] = base[m][i] + rng.normal(0, 0.01)
            if g == "gen_b":
                row["sharpness_face"] = base["sharpness_face"][i] + 3 + rng.normal(0, 0.3)
                row["sync_offset"] = -base["sync_offset"][i]  # the same |offset|
            rows.append(row)
    rows.append({**rows[0], "status": "failed", "error": "x"})  # not measured: never paired
    return pd.DataFrame(rows)


def test_paired_comparison_finds_the_planted_difference_and_only_it() -> None:
    df = _table()
    p = paired_comparison(df, alpha=0.05)
    assert set(p["reference"]) == {"gen_a"} and list(dict.fromkeys(p["group"])) == [
        "gen_b",
        "gen_c",
    ]
    b = p[p["group"] == "gen_b"].set_index("metric")
    assert (b["n_pairs"] == 12).all()
    assert b.loc["sharpness_face", "verdict"] == "better"  # 12 of 12 pairs: p = 2 / 4096
    assert b.loc["sharpness_face", "share_better"] == 1.0
    assert b.loc["sharpness_face", "p"] == pytest.approx(2 / 2**12)
    # Holm over the columns with a direction of this comparison
    directed = b[b["better"] != "info"]
    np.testing.assert_allclose(directed["p_holm"], holm(directed["p"].to_numpy()))
    # the mirrored offset reads the same |offset|: no difference; info columns: no verdict
    assert b.loc["sync_offset", "delta"] == pytest.approx(0, abs=0.02)  # gen_a: +- 0.01 noise
    assert (b.loc[b["better"] == "info", "verdict"] == "n/a").all()
    others = b.drop(index="sharpness_face")
    assert not others["verdict"].isin(["better", "worse"]).any()
    c = p[p["group"] == "gen_c"]
    assert (c["n_pairs"] == 3).all()
    md = paired_markdown(p, 0.05)
    assert "## gen_b vs gen_a (12 pairs)" in md and "| sharpness_face | higher | 12 |" in md


def test_paired_comparison_reference_ambiguity_and_no_pairs() -> None:
    df = _table()
    p = paired_comparison(df, reference="gen_b")
    assert set(p["group"]) == {"gen_a", "gen_c"}
    assert p.set_index(["group", "metric"]).loc[("gen_a", "sharpness_face"), "verdict"] == "worse"
    with pytest.raises(ValueError, match="gen_x"):
        paired_comparison(df, reference="gen_x")
    # two videos of one folder with the same key: that key is left out of that folder
    dup = pd.concat([df, df[df["video"] == "0_audio0_gen_b"]], ignore_index=True)
    assert paired_comparison(dup).query("group == 'gen_b'")["n_pairs"].max() == 11
    # folders with no name in common: no table
    lone = df.assign(video=[f"{g}_{i}" for i, g in enumerate(df["group"])])
    assert paired_comparison(lone).empty


def test_verdicts_read_the_holm_adjusted_p() -> None:
    """At a level between the planted column's raw p (0.0005) and its Holm p (0.012), the
    verdict is no difference: the raw p alone would call it better."""
    b = paired_comparison(_table(), alpha=0.005).set_index(["group", "metric"])
    row = b.loc[("gen_b", "sharpness_face")]
    assert row["p"] < 0.005 < row["p_holm"]
    assert row["verdict"] == "no detectable difference"


def test_markdown_rows_keep_their_columns() -> None:
    """``|x| lower`` inside a cell is escaped: every row of both tables has the header's
    number of cells (an unescaped pipe split the sync_offset rows of summary.md in two)."""
    from tqa.serve.metrics_summary import summarize, summary_markdown

    df = _table()
    for md in (paired_markdown(paired_comparison(df), 0.05), summary_markdown(df, summarize(df))):
        rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
        widths = {len(re.split(r"(?<!\\)\|", ln)) for ln in rows}
        assert len(widths) == 1, widths
        assert any(r"\|x\| lower" in ln for ln in rows)
