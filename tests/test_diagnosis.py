"""The diagnosis of a model on rated data (tqa.study.diagnosis): learning curve, fit, knobs.

Oracles: set algebra on the groups of every split a fit receives; run_cv + fold_scores on
the same folds (a baseline's and the stack's scores at fraction 1.0); scipy.stats.spearmanr
recomputed from the predictions; hand-computed slopes and sentences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from study_fakes import OVERALL, FitResult, overall_labels, portrait_videos, visual_only

from tqa.core.params import load_params, merged
from tqa.core.schema import TASKS
from tqa.study.comparison import fold_scores
from tqa.study.crossval import run_cv
from tqa.study.diagnosis import limits_summary
from tqa.study.fit_diagnostics import FitDiagnostics, fit_diagnostics, fit_gap, plot_loss_curves
from tqa.study.folds import fold_split, kfold_assignments
from tqa.study.knobs import knob_effects
from tqa.study.learning_curve import (
    curve_summary,
    learning_curve,
    plot_learning_curve,
    subsample_split,
)
from tqa.study.stacking import STACK
from tqa.study.studies import ResultsStore


def _inputs(n_groups: int = 12):
    """Videos of ``n_groups`` portraits x 3 generators; overall = a planted signal + noise."""
    rng = np.random.default_rng(0)
    ids, meta = portrait_videos(n_groups)
    n = len(ids)
    visual = rng.normal(size=(n, 10, 3)).astype(np.float32)
    truth = np.clip(3 + visual[:, :, 0].mean(axis=1) * 2 + rng.normal(0, 0.3, n), 1, 5)
    fs = visual_only(ids, visual, rng.normal(size=(n, 3)))
    return fs, overall_labels(truth), meta, truth


class _SpyFit:
    """Predicts truth + noise (seeded); records every split it is given."""

    def __init__(self, truth: np.ndarray, noise: float = 0.5) -> None:
        self.truth, self.noise, self.splits = truth, noise, []

    def __call__(self, fs, labels, split, params, *, strategy, seed, out_dir, progress):
        self.splits.append(np.asarray(split).copy())
        rng = np.random.default_rng(seed)
        pred = np.repeat(self.truth[:, None], len(TASKS), axis=1)
        pred = pred + rng.normal(0, self.noise, pred.shape)
        history = {"epoch": [1, 2, 3], "train_loss": [2.0, 1.0, 0.5],
                   "val_loss": [2.1, 1.5, 1.7], "lr": [1e-3] * 3}  # fmt: skip
        return FitResult(pred, history, best_epoch=2)


def _params(**over):
    p = load_params()
    p = merged(p, {"eval": {"stack": {"components": ["transformer", "ridge"], "inner_folds": 2}}})
    return merged(p, over)


def test_subsample_split_whole_groups_nested_and_full_equals_fold_split():
    ids = [f"{g}_{j}" for g in range(10) for j in range(4)]
    groups = [i.split("_")[0] for i in ids]
    a = kfold_assignments(ids, groups, 5, seed=1)
    g = np.asarray(groups)
    for fold in range(5):
        test_groups = set(g[a["fold"].to_numpy() == fold])
        kept_before: set[str] = set()
        for frac in (0.25, 0.5, 0.75, 1.0):
            s = subsample_split(a, fold, frac, 0.1, seed=1)
            kept = set(g[s != "test"])
            assert not kept & test_groups  # never a test-fold group
            for grp in kept:  # whole groups only
                assert (s[g == grp] != "test").all()
            assert len(kept) == max(2, round(frac * 8))
            assert kept_before <= kept  # nested
            kept_before = kept
        np.testing.assert_array_equal(s, fold_split(a, fold, 0.1, seed=1))
    with pytest.raises(ValueError, match="fraction"):
        subsample_split(a, 0, 0.0)


def test_learning_curve_fits_see_only_kept_groups_and_grow(tmp_path):
    fs, labels, meta, truth = _inputs()
    spy = _SpyFit(truth)
    store = ResultsStore(tmp_path, "diag")
    rows = learning_curve(
        fs, labels, meta, _params(), ["tqa:fixed", "ridge"], (0.25, 0.5, 1.0), [0], store,
        k=3, group_column="portrait", fit_fn=spy, progress=False,
    )  # fmt: skip
    assert len(spy.splits) == 3 * 3  # 3 folds x 3 fractions, one model
    g = meta["portrait"].to_numpy()
    assign = kfold_assignments(fs.video_ids, meta["portrait"], 3, 0)
    test_group_sets = [set(g[assign["fold"].to_numpy() == f]) for f in range(3)]
    for s in spy.splits:
        learned = set(g[s != "test"])
        assert any(not (learned & t) for t in test_group_sets)  # disjoint from its test fold
        for grp in learned:
            assert (s[g == grp] != "test").all()
    for (_, _, _), r in rows.groupby(["method", "seed", "fold"]):
        n = r.sort_values("fraction")["n_train_videos"].to_numpy()
        assert (np.diff(n) > 0).all()  # more groups, more videos
        assert (r["n_test"] == r["n_test"].iloc[0]).all()  # always the whole test fold
    assert rows["n_test"].groupby([rows["method"], rows["fraction"]]).sum().eq(36).all()


@pytest.mark.parametrize("blend", ["nnls", "mean"])
def test_learning_curve_at_full_size_equals_run_cv(tmp_path, blend):
    """A baseline's and the stack's test-fold SRCC at fraction 1.0 are run_cv's, whichever
    ``eval.stack.blend`` (the curve's stack had blended by NNLS whatever it said)."""
    fs, labels, meta, truth = _inputs()
    params = _params(eval={"stack": {"blend": blend}})
    methods = ["ridge", "tqa:fixed", STACK]
    store = ResultsStore(tmp_path / "a", "diag")
    rows = learning_curve(
        fs, labels, meta, params, methods, (0.5, 1.0), [0, 1], store,
        k=3, group_column="portrait", fit_fn=_SpyFit(truth), progress=False,
    )  # fmt: skip
    oof = run_cv(
        fs, labels, meta, params, methods, [0, 1], ResultsStore(tmp_path / "b", "cv"),
        k=3, group_column="portrait", fit_fn=_SpyFit(truth), progress=False,
    )  # fmt: skip
    want = fold_scores(oof, "spearman").set_index(["method", "seed", "fold"])["value"]
    full = rows[rows["fraction"] == 1.0].set_index(["method", "seed", "fold"])["spearman"]
    pd.testing.assert_series_equal(
        full.sort_index(), want.loc[full.index].sort_index(), check_names=False
    )
    half = rows[rows["fraction"] == 0.5].set_index(["method", "seed", "fold"])["spearman"]
    assert not np.allclose(half.loc["ridge"], full.loc["ridge"])  # the fraction matters


def test_learning_curve_judges_each_method_by_the_parts_it_fits(tmp_path):
    """A task rated only on a fold's validation part (and its test fold, to be scored):
    at fraction 1.0 that fold's ridge (which fits train + val) scores it, the Transformer
    method (which trains on "train" alone) does not; before, both were NaN."""
    fs, labels, meta, truth = _inputs()
    aq = TASKS.index("audio_quality")
    split = fold_split(kfold_assignments(fs.video_ids, meta["portrait"], 3, 0), 0, 0.1, 0)
    rated = (split == "val") | (split == "test")
    assert (split == "val").any()
    labels[rated, aq] = labels[rated, OVERALL]
    rows = learning_curve(
        fs, labels, meta, _params(), ["tqa:fixed", "ridge"], (1.0,), [0],
        ResultsStore(tmp_path, "diag"), k=3, group_column="portrait", fit_fn=_SpyFit(truth),
        progress=False,
    )  # fmt: skip
    got = rows[(rows["fold"] == 0) & (rows["task"] == "audio_quality")].set_index("method")
    assert np.isfinite(got.loc["ridge", "spearman"])
    assert np.isnan(got.loc["tqa:fixed", "spearman"])


def test_fit_diagnostics_train_vs_test_and_seed_ensemble():
    fs, labels, meta, truth = _inputs()

    class Memorise(_SpyFit):
        """Exact on the training rows, noise elsewhere: train SRCC 1, test far lower."""

        def __call__(self, fs_, labels_, split, params, *, strategy, seed, out_dir, progress):
            r = super().__call__(fs_, labels_, split, params, strategy=strategy, seed=seed,
                                 out_dir=out_dir, progress=progress)  # fmt: skip
            rng = np.random.default_rng(100 + seed)
            pred = np.where((split == "train")[:, None], labels_, rng.uniform(1, 5, labels_.shape))
            r.predict = lambda _fs: pred
            return r

    diag = fit_diagnostics(
        fs, labels, meta, _params(), "tqa:fixed", [0], [0, 1], 3, "portrait",
        baselines=["mean"], fit_fn=Memorise(truth), progress=False,
    )  # fmt: skip
    assert isinstance(diag, FitDiagnostics)
    assert len(diag.fits) == 3 * 2 and (diag.fits["best_epoch"] == 2).all()
    assert len(diag.histories) == 3 * 2 * 3  # 3 epochs per fit
    s = diag.scores
    tr = s[(s["method"] == "tqa:fixed") & (s["part"] == "train")]
    assert np.allclose(tr["spearman"], 1.0)
    # independent oracle: scipy's spearman on the test rows of fold 0, fit seed 1
    split = fold_split(kfold_assignments(fs.video_ids, meta["portrait"], 3, 0), 0, 0.1, 0)
    pred = np.random.default_rng(101).uniform(1, 5, labels.shape)[split == "test", OVERALL]
    want = stats.spearmanr(labels[split == "test", OVERALL], pred)[0]
    got = s[(s["method"] == "tqa:fixed") & (s["part"] == "test") & (s["fold"] == 0)
            & (s["fit_seed"] == 1)]["spearman"].item()  # fmt: skip
    assert got == pytest.approx(want)
    assert {"tqa:fixed seed-ensemble", "mean"} <= set(s["method"])
    # the baselines fit the validation part too (FIT_PARTS): no held-out "val" score for them
    assert set(s.loc[s["method"] == "mean", "part"]) == {"train", "test"}
    assert "val" in set(s.loc[s["method"] == "tqa:fixed", "part"])
    gap = fit_gap(diag).set_index("method")
    assert gap.loc["tqa:fixed", "gap"] > 0.5
    fig = plot_loss_curves(diag, "test")
    assert sum(ax.get_visible() for ax in fig.axes) == 3


def test_knob_effects_variants_get_their_knob_and_a_verdict(tmp_path):
    fs, labels, meta, truth = _inputs()
    seen = []

    class Knob(_SpyFit):
        def __call__(self, fs_, labels_, split, params, *, strategy, seed, out_dir, progress):
            seen.append(params["model"]["d_model"])
            self.noise = 3.0 if params["model"]["d_model"] == 16 else 0.3
            return super().__call__(fs_, labels_, split, params, strategy=strategy, seed=seed,
                                    out_dir=out_dir, progress=progress)  # fmt: skip

    oof, table = knob_effects(
        fs, labels, meta, _params(), ["d_model=16", "dropout=0.3"], [0, 1, 2],
        ResultsStore(tmp_path, "knobs"), 3, "portrait", reference="tqa:fixed",
        fit_fn=Knob(truth), progress=False,
    )  # fmt: skip
    assert sorted(set(seen)) == [16, 64]
    t = table.set_index("knob")
    assert t.loc["(reference)", "verdict"] == "reference"
    assert t.loc["d_model=16", "verdict"] == "worse"  # much noisier: 9 paired folds
    assert t.loc["d_model=16", "method"] == "tqa:fixed/d_model=16"
    assert set(oof["method"]) == {"tqa:fixed", "tqa:fixed/d_model=16", "tqa:fixed/dropout=0.3"}


def test_curve_summary_slope_and_limits_sentences():
    rows = pd.DataFrame(
        {"method": ["m"] * 3 + ["gb"] * 3, "fraction": [0.25, 0.5, 1.0] * 2,
         "n_train_videos": [40, 80, 160] * 2, "seed": 0, "fold": 0, "task": "overall",
         "spearman": [0.3, 0.4, 0.5, 0.55, 0.6, 0.65]}
    )  # fmt: skip
    cs = curve_summary(rows)
    slopes = cs.drop_duplicates("method").set_index("method")["gain_per_doubling"]
    assert slopes["m"] == pytest.approx(0.1) and slopes["gb"] == pytest.approx(0.05)
    gap = pd.DataFrame({"method": ["m", "gb"], "task": "overall", "train": [0.6, 0.99],
                        "val": [0.4, 0.5], "test": [0.5, 0.65]})  # fmt: skip
    gap["gap"] = gap["train"] - gap["test"]
    fits = pd.DataFrame({"best_epoch": [2, 3], "n_epochs": [10, 11], "max_epochs": 40,
                         "n_val": [40, 40]})  # fmt: skip
    knobs = pd.DataFrame(
        {
            "knob": ["(reference)", "a=1", "b=2"],
            "task": "overall",
            "verdict": ["reference", "better", "no detectable difference"],
            "delta": [np.nan, 0.05, -0.01],
            "p_value": [np.nan, 0.01, 0.5],
        }
    )
    text = " ".join(limits_summary(cs, gap, fits, knobs, "m", "gb"))
    assert "does not even fit its training rows" in text  # 0.6 < 0.7
    assert "best epoch of 2" in text or "best epoch of 2 " in text
    assert "stopped long before" in text
    # 0.15 behind, gains 0.05 more per doubling: 2 ** 3 = 8x the videos
    assert "0.150 behind" in text and "8.0x" in text
    assert "a=1 better (+0.050)" in text
    gap.loc[0, "train"] = 0.95
    assert "it fits its training rows" in " ".join(limits_summary(None, gap, None, None, "m"))
    fig = plot_learning_curve(cs, ["m", "gb"])
    assert len(fig.axes[0].lines) >= 2
