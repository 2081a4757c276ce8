"""Ranks of three or more folders in `tqa metrics` (tqa.serve.metrics_ranks) against pandas'
ranks and scipy's Friedman test, on a planted table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tqa.features.video_metrics import METRICS
from tqa.serve.metrics_paired import holm
from tqa.serve.metrics_ranks import rank_table, ranks_markdown, ranks_of

GROUPS = ("wav2lip", "sadtalker", "geneface", "real")


def _table(n: int = 12) -> pd.DataFrame:
    """n portraits rendered by 4 folders: ``real`` sharpest on every video, the others in
    random order; sync offsets whose |x| ranks ``geneface`` first; one video only in two
    folders (not ranked)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        sharp = rng.permutation(3) * 10.0 + 100.0
        for k, g in enumerate(GROUPS):
            r = dict.fromkeys(METRICS, np.nan) | {"group": g, "video": f"p{i}_{g}", "status": "ok"}
            r["sharpness_face"] = 500.0 if g == "real" else sharp[k]
            r["sync_offset"] = {"wav2lip": -4.0, "sadtalker": 3.0, "geneface": -1.0, "real": 2.0}[g]
            r["sync_confidence"] = rng.uniform(0, 1)
            rows.append(r)
    rows += [dict.fromkeys(METRICS, 1.0) | {"group": g, "video": f"extra_{g}", "status": "ok"}
             for g in GROUPS[:2]]  # fmt: skip
    return pd.DataFrame(rows)


def test_ranks_of_matches_pandas() -> None:
    v = np.array([[3.0, 1.0, 2.0, 2.0], [-5.0, 4.0, 0.5, -1.0]])
    for better, key in (("higher", -v), ("lower", v), ("|x| lower", np.abs(v))):
        want = pd.DataFrame(key).rank(axis=1, method="average").to_numpy()
        np.testing.assert_array_equal(ranks_of(v, better), want)


def test_rank_table_against_scipy_friedman() -> None:
    df = _table()
    t = rank_table(df)
    assert set(t["group"]) == set(GROUPS) and (t["n_videos"] == 12).all()
    sharp = t[t["metric"] == "sharpness_face"].set_index("group")
    assert sharp.loc["real", "mean_rank"] == 1.0  # the best on every video
    ok = df[df["video"].str.startswith("p")].assign(key=lambda d: d["video"].str.split("_").str[0])
    wide = ok.pivot(index="key", columns="group", values="sharpness_face")[list(GROUPS)]
    chi2, p = stats.friedmanchisquare(*[wide[g] for g in GROUPS])
    assert sharp["chi2"].iloc[0] == pytest.approx(chi2) and sharp["p"].iloc[0] == pytest.approx(p)
    ranks = wide.rank(axis=1, ascending=False).mean()  # higher is better: 1 = the largest
    for g in GROUPS:
        assert sharp.loc[g, "mean_rank"] == pytest.approx(ranks[g])
    off = t[t["metric"] == "sync_offset"].set_index("group")["mean_rank"]
    assert off.to_dict() == {"geneface": 1.0, "real": 2.0, "sadtalker": 3.0, "wav2lip": 4.0}
    per_metric = t.drop_duplicates("metric")
    np.testing.assert_allclose(per_metric["p_holm"], holm(per_metric["p"].to_numpy()))
    assert not (t["better"] == "info").any()  # info columns are not ranked
    md = ranks_markdown(t, 0.05)
    assert "| sharpness_face | higher | 12 |" in md and "**1.00**" in md


def test_no_rank_table_for_two_folders_or_one_shared_video() -> None:
    df = _table()
    assert rank_table(df[df["group"].isin(GROUPS[:2])]).empty
    assert rank_table(_table(n=1)).empty
