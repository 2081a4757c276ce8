"""Grouped permutation importance (tqa.study.importance, ``tqa cv --importance``).

Oracles: scikit-learn's ``permutation_importance`` on the same fitted pipeline and test rows
(an independent implementation of the same definition), a planted signal that must rank
first while pure-noise columns read about zero, and the column names' grouping by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.inspection import permutation_importance
from sklearn.metrics import make_scorer

from tqa.cli import main as tqa
from tqa.core.params import load_params
from tqa.core.schema import SYNC_FIELDS, TASKS, FeatureSet
from tqa.study.baselines import fit_pooled_models
from tqa.study.importance import (
    column_group,
    fold_importance,
    importance_markdown,
    importance_summary,
    permuted_scores,
)
from tqa.study.pooled import pooled_features

sys.path.insert(0, str(Path(__file__).parent))
from public_fixture import write_public_release  # noqa: E402


def test_column_group_by_modality_and_by_column() -> None:
    assert column_group("visual__full__sharpness__mean", "modality") == "visual"
    assert column_group("visual__full__sharpness__std", "column") == "visual__full__sharpness"
    assert column_group("sync__offset", "modality") == "sync"
    assert column_group("sync__offset", "column") == "sync__offset"
    assert column_group("au__fer_happy__mean", "modality") == "au"
    assert column_group("visual_3__mean", "modality") == "visual"  # unnamed stream columns
    with pytest.raises(ValueError, match="modality"):
        column_group("visual__x__mean", "extractor")


def test_a_group_moves_whole_rows_and_nothing_else() -> None:
    """The group's columns move together (one permutation of the test rows for all of
    them); the other columns and the rows outside ``rows`` stay."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4))
    rows = np.arange(5, 25)
    seen: list[np.ndarray] = []

    def predict(xp: np.ndarray) -> np.ndarray:
        seen.append(xp.copy())
        return xp[:, 0]

    permuted_scores(predict, x, x[:, 0], rows, [0, 2], 3, np.random.default_rng(0))
    assert len(seen) == 3
    for xp in seen:
        assert xp.shape == (len(rows), 4)
        np.testing.assert_array_equal(xp[:, [1, 3]], x[rows][:, [1, 3]])
        pairs = {tuple(r) for r in x[rows][:, [0, 2]]}
        assert {tuple(r) for r in xp[:, [0, 2]]} == pairs  # whole (col 0, col 2) pairs
        assert not np.array_equal(xp[:, 0], x[rows, 0])  # and they did move


def _one_frame_set(n: int = 80, seed: int = 0) -> tuple[FeatureSet, np.ndarray, np.ndarray]:
    """One frame per video (pooled std = 0: each group is its mean column alone); overall =
    2 a - b + noise; c carries nothing. Split: 50 train, 6 val, 24 test."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    visual = np.stack([a, b, c], axis=1)[:, None, :].astype(np.float32)  # (N, 1, 3)
    fs = FeatureSet(
        video_ids=[f"v{i:03d}" for i in range(n)],
        streams={"visual": visual},
        sync=np.full((n, len(SYNC_FIELDS)), np.nan, np.float32),
        names={"visual": ["visual__a", "visual__b", "visual__c"]},
    )
    labels = np.full((n, len(TASKS)), -1.0)
    labels[:, TASKS.index("overall")] = 3 + 2 * a - b + 0.3 * rng.normal(size=n)
    split = np.array(["train"] * 50 + ["val"] * 6 + ["test"] * (n - 56), dtype=object)
    return fs, labels, split


def test_fold_importance_matches_sklearn_permutation_importance() -> None:
    fs, labels, split = _one_frame_set()
    params = load_params()
    ours = fold_importance("ridge", fs, labels, split, params, seed=0, by="column", repeats=400)
    ours = ours.set_index("group")
    k = TASKS.index("overall")
    model = fit_pooled_models("ridge", fs, labels, split, params, 0)["overall"]
    x, names = pooled_features(fs, ["visual"], use_sync=True)
    test = split == "test"
    scorer = make_scorer(lambda y, p: stats.spearmanr(y, p)[0])
    ref = permutation_importance(
        model, x[test], labels[test, k], scoring=scorer, n_repeats=400, random_state=0
    )
    assert ours.loc["visual__a", "base"] == pytest.approx(
        stats.spearmanr(labels[test, k], model.predict(x[test]))[0]
    )
    for col in ("visual__a", "visual__b", "visual__c"):
        j = names.index(f"{col}__mean")
        assert ours.loc[col, "drop"] == pytest.approx(ref.importances_mean[j], abs=0.03), col
    assert ours.loc["visual__a", "drop"] > ours.loc["visual__b", "drop"] > 0.1
    assert abs(ours.loc["visual__c", "drop"]) < 0.05
    assert ours.loc["sync__offset", "n_columns"] == 1  # the all-NaN sync triple: no signal
    assert abs(ours.loc["sync__offset", "drop"]) < 1e-12


def test_importance_summary_interval_is_the_t_interval() -> None:
    table = pd.DataFrame(
        {
            "task": "overall",
            "group": "visual",
            "n_columns": 4,
            "base": 0.5,
            "permuted": 0.0,
            "drop": [0.1, 0.3, 0.2, 0.4],
        }  # fmt: skip
    )
    s = importance_summary(table).iloc[0]
    lo, hi = stats.t.interval(0.95, 3, loc=0.25, scale=stats.sem([0.1, 0.3, 0.2, 0.4]))
    assert (s["drop"], s["ci_lo"], s["ci_hi"]) == pytest.approx((0.25, lo, hi))
    assert s["positive"] == 1.0 and s["n_folds"] == 4
    empty = importance_summary(table.iloc[:0])
    assert empty.empty and "drop" in empty.columns
    assert "# Permutation importance" in importance_markdown(empty, "ridge", "column", 5)


@pytest.mark.usefixtures("torch_one_thread")
def test_cv_importance_finds_the_planted_column(tmp_path, monkeypatch, capsys) -> None:
    """The public fixture's quality lives in ``visual__sharpness`` (and half of it in
    ``au__AU12``); ``visual__noise`` and ``audio__loudness`` are noise."""
    mos, frames, _ = write_public_release(tmp_path / "release")
    monkeypatch.chdir(tmp_path)
    assert tqa(["import-thqa", str(mos), "--out", "labels.csv",
                "--name-pattern", "{group}_{audio}_{generator}"]) == 0  # fmt: skip
    args = ["cv", "--labels", "labels.csv", "--features", str(frames), "--seeds", "0",
            "--methods", "ridge", "--out", "cv", "--no-progress",
            "-S", "eval.baselines.rf_n_estimators=50"]  # fmt: skip
    assert tqa([*args, "--importance", "random_forest", "--importance-by", "column"]) == 0
    s = pd.read_csv("cv/importance.csv").set_index("group")
    assert s["drop"].idxmax() == "visual__sharpness"
    assert s.loc["visual__sharpness", "drop"] > 0.1
    assert s.loc["visual__sharpness", "positive"] == 1.0  # in every fold
    for constant in ("sync__offset", "sync__distance"):  # the same value in every video
        assert s.loc[constant, "drop"] == 0.0 and s.loc[constant, "positive"] == 0.0
    for noise in ("visual__noise", "audio__loudness"):
        assert abs(s.loc[noise, "drop"]) < 0.1, noise
    folds = pd.read_csv("cv/importance_folds.csv")
    assert sorted(folds["fold"].unique()) == [0, 1, 2, 3, 4]
    assert "visual__sharpness" in Path("cv/importance.md").read_text()
    assert tqa([*args, "--importance", "ridge", "--importance-repeats", "0"]) == 1
    assert "--importance-repeats must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # not a pooled regressor of every stream
        tqa([*args, "--importance", "detector_trees"])
    assert "invalid choice: 'detector_trees'" in capsys.readouterr().err
