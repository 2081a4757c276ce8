"""Scores within a grouping column (tqa.study.within) against scipy, per group by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tqa.study.comparison import compare
from tqa.study.within import within_fold_scores, within_metrics


def _oof() -> tuple[pd.DataFrame, pd.Series]:
    """2 folds x 3 generators x 4 videos; ``model`` ranks within each generator, ``lookup``
    predicts its generator's mean; one video of fold 1 has no label."""
    rng = np.random.default_rng(0)
    rows, level = [], {}
    for fold in (0, 1):
        for gen, shift in (("a", 1.0), ("b", 2.5), ("c", 4.0)):
            y = shift + rng.normal(0, 0.5, 4)
            for i in range(4):
                vid = f"f{fold}_{gen}{i}"
                level[vid] = gen
                yi = np.nan if (fold, gen, i) == (1, "c", 0) else y[i]
                for method, pred in (("model", y[i] + rng.normal(0, 0.2)), ("lookup", shift)):
                    rows.append({"video_id": vid, "fold": fold, "seed": 0, "method": method,
                                 "task": "overall", "y": yi, "pred": pred})  # fmt: skip
    return pd.DataFrame(rows), pd.Series(level)


def test_within_scores_match_scipy_by_hand() -> None:
    oof, level = _oof()
    s = within_fold_scores(oof, "spearman", level).set_index(["method", "fold"])
    for fold in (0, 1):
        part = oof[(oof["method"] == "model") & (oof["fold"] == fold) & oof["y"].notna()]
        want = np.mean(
            [
                stats.spearmanr(g["y"], g["pred"])[0]
                for _, g in part.groupby(part["video_id"].map(level))
            ]
        )
        assert s.loc[("model", fold), "value"] == pytest.approx(want)
        assert s.loc[("model", fold), "n_levels"] == 3
    assert s.loc[("model", 1), "n"] == 11  # the unlabelled video is not scored
    assert s.loc[("lookup", 0), "n_levels"] == 0 and math.isnan(s.loc[("lookup", 0), "value"])
    # a level needs 3 scored videos: with 4 required, fold 1's generator c (3 left) drops out
    assert (
        within_fold_scores(oof, "spearman", level, 4)
        .set_index(["method", "fold"])
        .loc[("model", 1), "n_levels"]
        == 2
    )


def test_within_table_and_refusals() -> None:
    oof, level = _oof()
    t = compare(oof, "model", "spearman", scores=within_fold_scores(oof, "spearman", level))
    t = t.set_index("method")
    assert math.isnan(t.loc["lookup", "mean"]) and t.loc["model", "verdict"] == "reference"
    with pytest.raises(ValueError, match="not 'rmse'"):
        within_fold_scores(oof, "rmse", level)
    with pytest.raises(ValueError, match="has no value in the --within column"):
        within_fold_scores(oof, "spearman", level.drop("f0_a0"))
    with pytest.raises(ValueError, match="Wilcoxon"):
        compare(oof, "model", "spearman", test="bootstrap",
                scores=within_fold_scores(oof, "spearman", level))  # fmt: skip
    assert within_metrics(["plcc_logistic", "kendall_tau", "spearman"]) == [
        "kendall_tau",
        "spearman",
    ]
    assert within_metrics(["rmse"]) == ["spearman"]


def test_level_scores_per_generator_match_scipy() -> None:
    from tqa.study.within import level_scores, levels_markdown

    oof, level = _oof()
    t = level_scores(oof, "spearman", level).set_index(["method", "level"])
    for gen in ("a", "b", "c"):
        part = oof[(oof["method"] == "model") & (oof["video_id"].map(level) == gen)]
        part = part[part["y"].notna()]
        want = np.mean([stats.spearmanr(g["y"], g["pred"])[0] for _, g in part.groupby("fold")])
        assert t.loc[("model", gen), "mean"] == pytest.approx(want)
        assert t.loc[("model", gen), "n_folds"] == 2
        assert math.isnan(t.loc[("lookup", gen), "mean"])  # constant within the generator
    md = levels_markdown(level_scores(oof, "spearman", level), "spearman", "generator")
    assert "| method | a | b | c |" in md and "| lookup | n/a | n/a | n/a |" in md
