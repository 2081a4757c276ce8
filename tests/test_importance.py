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
    feature_groups,
    fold_importance,
    importance_markdown,
    importance_summary,
    permuted,
)
from tqa.study.method_refit import refit_method
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


def test_a_group_moves_whole_videos_and_nothing_else() -> None:
    """The group's columns move together, each video's whole time series with it (one
    permutation for all of them); the other columns and the sync fields outside it stay."""
    rng = np.random.default_rng(1)
    fs = FeatureSet(
        video_ids=[f"v{i}" for i in range(6)],
        streams={"visual": rng.normal(size=(6, 4, 3)).astype(np.float32),
                 "audio": rng.normal(size=(6, 4, 2)).astype(np.float32)},
        sync=rng.normal(size=(6, len(SYNC_FIELDS))).astype(np.float32),
        names={"visual": ["visual__a", "visual__b", "visual__c"],
               "audio": ["audio__x", "audio__y"]},
    )  # fmt: skip
    groups = feature_groups(fs, "modality")
    assert groups == {"visual": [("visual", 0), ("visual", 1), ("visual", 2)],
                      "audio": [("audio", 0), ("audio", 1)],
                      "sync": [("sync", 0), ("sync", 1), ("sync", 2)]}  # fmt: skip
    assert feature_groups(fs, "column")["sync__confidence"] == [("sync", 2)]
    perm = np.array([3, 0, 5, 1, 2, 4])
    out = permuted(fs, [("visual", 0), ("visual", 2), ("sync", 1)], perm)
    np.testing.assert_array_equal(out.streams["visual"][:, :, [0, 2]],
                                  fs.streams["visual"][perm][:, :, [0, 2]])  # fmt: skip
    np.testing.assert_array_equal(out.streams["visual"][:, :, 1], fs.streams["visual"][:, :, 1])
    np.testing.assert_array_equal(out.streams["audio"], fs.streams["audio"])
    np.testing.assert_array_equal(out.sync[:, 1], fs.sync[perm, 1])
    np.testing.assert_array_equal(out.sync[:, [0, 2]], fs.sync[:, [0, 2]])
    assert not np.shares_memory(out.streams["visual"], fs.streams["visual"])  # fs untouched


def _one_frame_set(n: int = 80, seed: int = 0) -> tuple[FeatureSet, np.ndarray, np.ndarray]:
    """One frame per video (pooled std = 0: each group is its mean column alone); overall =
    0.4 a - 0.2 b + noise; c carries nothing. Split: 50 train, 6 val, 24 test."""
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
    # inside the score range [1, 5], so that clipping never ties two predictions
    labels[:, TASKS.index("overall")] = 3 + 0.4 * a - 0.2 * b + 0.06 * rng.normal(size=n)
    split = np.array(["train"] * 50 + ["val"] * 6 + ["test"] * (n - 56), dtype=object)
    return fs, labels, split


def test_fold_importance_matches_sklearn_permutation_importance() -> None:
    fs, labels, split = _one_frame_set()
    params = load_params()
    predict = refit_method("ridge", fs, labels, split, params, 0)
    ours = fold_importance(predict, fs, labels, split, seed=0, by="column", repeats=400)
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
    with pytest.raises(SystemExit):  # a lookup has no features to permute
        tqa([*args, "--importance", "generator_mean"])
    assert "invalid choice: 'generator_mean'" in capsys.readouterr().err
    assert tqa([*args, "--importance", "tqa:stack"]) == 1  # its blends come from the k-fold
    assert "needs tqa:stack among the methods" in capsys.readouterr().err


@pytest.mark.usefixtures("torch_one_thread")
def test_stack_importance_refits_the_stack_the_kfold_scored(tmp_path, monkeypatch) -> None:
    """``--importance tqa:stack`` refits the default model on each fold (its Transformer,
    its pooled components, the k-fold's own blends): its unpermuted test-fold Spearman must
    be the k-fold's, recomputed with scipy from ``oof.csv``; the streams that carry the
    fixture's MOS must cost it, the noise stream not."""
    from test_your_data import FAST  # the small, fast model of the worked-example tests

    mos, frames, _ = write_public_release(tmp_path / "release")
    monkeypatch.chdir(tmp_path)
    assert tqa(["import-thqa", str(mos), "--out", "labels.csv",
                "--name-pattern", "{group}_{audio}_{generator}"]) == 0  # fmt: skip
    assert tqa(["cv", "--labels", "labels.csv", "--features", str(frames), "--seeds", "0",
                "--methods", "tqa:stack", "--out", "cv", "--no-progress", *FAST,
                "--importance", "tqa:stack", "--importance-repeats", "2"]) == 0  # fmt: skip
    oof = pd.read_csv("cv/oof.csv")
    oof = oof[(oof["method"] == "tqa:stack") & (oof["task"] == "overall")]
    kfold = oof.groupby("fold").apply(
        lambda g: stats.spearmanr(g["y"], g["pred"])[0], include_groups=False
    )
    folds = pd.read_csv("cv/importance_folds.csv")
    base = folds[folds["task"] == "overall"].groupby("fold")["base"].first()
    np.testing.assert_allclose(base.sort_index().to_numpy(), kfold.sort_index().to_numpy(),
                               atol=1e-9)  # fmt: skip
    # the fixture's MOS = its generator's level (which sync__confidence encodes) + a quality
    # that visual__sharpness carries and au__AU12 half carries; audio__loudness is noise
    s = pd.read_csv("cv/importance.csv").set_index("group")
    for signal in ("sync", "visual", "au"):
        assert s.loc[signal, "drop"] > 0.1, signal
    assert abs(s.loc["audio", "drop"]) < 0.05
