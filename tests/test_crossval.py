"""The shared k-fold engine (tqa.study.crossval): folds, out-of-fold runs, paired comparison.

Oracles: set algebra on the fold assignment, scipy.stats (t.interval, pearsonr, wilcoxon)
on per-fold metrics recomputed here from the out-of-fold table, pandas group means for
the generator_mean baseline, a call counter for resumability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from study_fakes import OVERALL, FitResult, noise_inputs, overall_labels, portrait_videos

from tqa.core.params import load_params
from tqa.core.schema import TASKS
from tqa.study.comparison import compare, paired_wilcoxon, t_interval, verdict
from tqa.study.crossval import fold_split, kfold_assignments, parse_method, run_cv
from tqa.study.studies import ResultsStore


def _groups(n_groups: int = 30, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    ids, groups = [], []
    for g in range(n_groups):
        for j in range(int(rng.integers(1, 9))):
            ids.append(f"g{g}_v{j}")
            groups.append(f"g{g}")
    return ids, groups


def test_kfold_grouped_every_video_once_groups_whole_and_balanced():
    ids, groups = _groups()
    a = kfold_assignments(ids, groups, k=5, seed=3)
    assert a["video_id"].tolist() == ids  # row order kept, each video exactly once
    assert sorted(a["fold"].unique()) == [0, 1, 2, 3, 4]
    assert (a.groupby("group")["fold"].nunique() == 1).all()  # no group in two folds
    sizes = a["fold"].value_counts()
    biggest_group = pd.Series(groups).value_counts().max()
    assert sizes.max() - sizes.min() <= biggest_group
    again = kfold_assignments(ids, groups, k=5, seed=3)
    pd.testing.assert_frame_equal(a, again)  # deterministic
    other = kfold_assignments(ids, groups, k=5, seed=4)
    assert not other["fold"].equals(a["fold"])  # the seed changes the partition


def test_kfold_ungrouped_sizes_and_errors():
    ids = [f"v{i}" for i in range(23)]
    a = kfold_assignments(ids, None, k=5, seed=0)
    assert sorted(a["fold"].value_counts().tolist()) == [4, 4, 5, 5, 5]
    with pytest.raises(ValueError, match="only 3 distinct group"):
        kfold_assignments(ids[:6], ["a", "a", "b", "b", "c", "c"], k=5)
    with pytest.raises(ValueError, match="duplicate"):
        kfold_assignments(["x", "x", "y"], None, k=2)
    with pytest.raises(ValueError, match="no group value"):
        kfold_assignments(["x", "y", "z"], ["a", None, "b"], k=2)


def test_fold_split_inner_validation_is_grouped_and_never_the_test_fold():
    ids, groups = _groups(40, seed=1)
    a = kfold_assignments(ids, groups, k=5, seed=0)
    g = np.asarray(groups)
    for fold in range(5):
        split = fold_split(a, fold, val_fraction=0.1, seed=0)
        assert set(split[a["fold"].to_numpy() == fold]) == {"test"}
        assert "test" not in set(split[a["fold"].to_numpy() != fold])
        train, val, test = (set(g[split == s]) for s in ("train", "val", "test"))
        assert val and not (val & train) and not (test & (train | val))
        n_rest = int((split != "test").sum())
        biggest = pd.Series(groups).value_counts().max()
        assert abs((split == "val").sum() - 0.1 * n_rest) <= biggest


def test_t_interval_matches_scipy():
    v = np.array([0.61, 0.55, 0.72, 0.48, 0.66, 0.59, np.nan])
    mean, lo, hi = t_interval(v, 0.95)
    x = v[np.isfinite(v)]
    want = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(want)
    assert np.isnan(t_interval([0.5])[1])


def _oof(seed: int = 0) -> pd.DataFrame:
    """Two methods on 60 videos x 5 folds x 3 seeds; 'good' tracks y, 'noisy' barely."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(1, 5, 60)
    rows = []
    for s in range(3):
        fold = rng.permutation(np.arange(60) % 5)
        for name, noise in (("good", 0.3), ("noisy", 2.0)):
            pred = y + rng.normal(0, noise, 60)
            rows.append(
                pd.DataFrame(
                    {
                        "video_id": [f"v{i}" for i in range(60)],
                        "fold": fold,
                        "seed": s,
                        "method": name,
                        "task": "overall",
                        "y": y,
                        "pred": pred,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_compare_against_scipy_per_fold_pearson_and_wilcoxon():
    oof = _oof()
    table = compare(oof, reference="good", metric="pearson")
    per = {}
    for (m, s, f), g in oof.groupby(["method", "seed", "fold"]):
        per.setdefault(m, {})[(s, f)] = stats.pearsonr(g["y"], g["pred"])[0]
    keys = sorted(per["good"])
    good = np.array([per["good"][k] for k in keys])
    noisy = np.array([per["noisy"][k] for k in keys])
    row = table.set_index("method").loc["noisy"]
    assert row["mean"] == pytest.approx(noisy.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        stats.t.interval(0.95, len(noisy) - 1, loc=noisy.mean(), scale=stats.sem(noisy))
    )
    assert row["delta"] == pytest.approx((noisy - good).mean())
    assert row["p_value"] == pytest.approx(stats.wilcoxon(noisy - good).pvalue)
    assert row["n_pairs"] == 15 and row["verdict"] == "worse"
    assert table.set_index("method").loc["good", "verdict"] == "reference"
    # error metric: lower is better, so the good method is 'better' than the noisy reference
    rm = compare(oof, reference="noisy", metric="rmse").set_index("method").loc["good"]
    assert rm["delta"] < 0 and rm["verdict"] == "better"


def test_paired_wilcoxon_and_verdict_edge_cases():
    assert paired_wilcoxon([1, 2, 3], [1, 2, 3]) == (1.0, 3)
    p, n = paired_wilcoxon([1.0, np.nan, 3.0], [0.5, 2.0, 2.0])
    assert n == 2 and p == pytest.approx(stats.wilcoxon([0.5, 1.0]).pvalue)
    assert verdict(0.1, 0.2, "pearson") == "no detectable difference"
    assert verdict(0.1, 0.01, "pearson") == "better"
    assert verdict(0.1, 0.01, "rmse") == "worse"
    assert verdict(np.nan, 0.01, "rmse") == "n/a"


def test_near_constant_task_is_flagged_and_listed_last():
    oof = _oof()
    flat = oof.copy()
    flat["task"] = "lip_sync"
    flat["y"] = 4.76 + 0.001 * np.arange(len(flat)) % 3 * 0.01
    table = compare(pd.concat([flat, oof]), reference="good", metric="rmse")
    assert table["task"].tolist()[-2:] == ["lip_sync", "lip_sync"]
    assert table[table["task"] == "lip_sync"]["note"].str.contains("near-constant").all()
    assert (table[table["task"] == "overall"]["note"] == "").all()


# --------------------------------------------------------------------------- run_cv
class _FakeFit:
    """A 'model' that predicts the true overall score plus noise (no learning): counts calls."""

    calls = 0

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth

    def __call__(self, fs, labels, split, params, *, strategy, seed, out_dir, progress):
        _FakeFit.calls += 1
        rng = np.random.default_rng(seed)
        pred = np.repeat(self.truth[:, None], len(TASKS), axis=1) + rng.normal(
            0, 0.2, (len(self.truth), len(TASKS))
        )
        return FitResult(pred, {"epoch": [0, 1]})


def _inputs(n_groups: int = 12):
    ids, meta = portrait_videos(n_groups)
    fs, truth = noise_inputs(ids, 10, 3)
    labels = overall_labels(truth)
    labels[3, OVERALL] = -1.0  # one missing label
    return fs, labels, meta, truth


def test_run_cv_out_of_fold_resumable_and_generator_mean(tmp_path):
    fs, labels, meta, truth = _inputs()
    params = load_params(overrides={"train.seeds": [0, 1]})
    store = ResultsStore(tmp_path, "cv_runs")
    fake = _FakeFit(truth)
    _FakeFit.calls = 0
    methods = ["tqa:fixed", "mean", "generator_mean"]
    oof = run_cv(
        fs, labels, meta, params, methods, [0, 1], store,
        k=4, group_column="portrait", fit_fn=fake, progress=False,
    )  # fmt: skip
    assert _FakeFit.calls == 8  # 4 folds x 2 seeds, one model
    assert set(oof["task"]) == {"overall"}  # tasks without any label are left out
    for (_, _), g in oof.groupby(["seed", "method"]):
        assert sorted(g["video_id"]) == sorted(fs.video_ids)  # every video once out-of-fold
    # the test fold of a video never shares its portrait with the training part
    folds = oof.drop_duplicates(["video_id", "seed"]).merge(meta, on="video_id")
    assert (folds.groupby(["seed", "portrait"])["fold"].nunique() == 1).all()
    assert np.isnan(oof.loc[oof["video_id"] == fs.video_ids[3], "y"]).all()

    # generator_mean oracle: the mean per generator (pandas) of the fold's training and
    # validation rows (the baselines' FIT_PARTS), seed 0 fold 0
    g0 = oof[(oof["seed"] == 0) & (oof["fold"] == 0) & (oof["method"] == "generator_mean")]
    split = fold_split(kfold_assignments(fs.video_ids, meta["portrait"], 4, 0), 0, 0.1, 0)
    lab = meta.assign(y=labels[:, OVERALL], split=split)
    train = lab[(lab["split"] != "test") & (lab["y"] != -1.0)]
    assert (lab["split"] == "val").any()  # the oracle reads a validation part
    want = train.groupby("generator")["y"].mean()
    got = g0.merge(meta, on="video_id")
    np.testing.assert_allclose(got["pred"], got["generator"].map(want))

    again = run_cv(
        fs, labels, meta, params, methods, [0, 1], store,
        k=4, group_column="portrait", fit_fn=fake, progress=False,
    )  # fmt: skip
    assert _FakeFit.calls == 8  # nothing refitted: every (seed, fold, method) came from the store
    pd.testing.assert_frame_equal(oof, again)
    table = compare(oof, reference="tqa:fixed", metric="rmse")
    assert table.set_index("method").loc["mean", "verdict"] == "worse"


def test_run_cv_errors_are_one_line():
    fs, labels, meta, _ = _inputs()
    params = load_params()
    with pytest.raises(ValueError, match="no column 'group'"):
        run_cv(fs, labels, meta, params, ["mean"], [0], None, k=4, group_column="group")
    with pytest.raises(ValueError, match="generator"):
        run_cv(fs, labels, meta.drop(columns="generator"), params, ["generator_mean"], [0], None,
               k=4, group_column="portrait")  # fmt: skip


def test_parse_method_variants():
    params = load_params()
    assert parse_method("ridge", params) is None
    assert parse_method("tqa:fixed", params) == ("fixed", {})
    strategy, ov = parse_method("tqa:uncertainty/no_audio", params)
    assert strategy == "uncertainty" and ov == {"model": {"drop_modalities": ["audio"]}}
    _, ov = parse_method("tqa:fixed/d_model=32,pca=false,lr=0.0003,model.path_b=false", params)
    assert ov == {
        "model": {"d_model": 32, "path_b": False},
        "preprocess": {"pca": False},
        "train": {"lr": 0.0003},
    }
    assert parse_method("chapter", params, {"chapter": ("gradnorm", {"x": 1})}) == (
        "gradnorm",
        {"x": 1},
    )
    with pytest.raises(ValueError, match="unknown ablation"):
        parse_method("tqa:fixed/no_such_thing", params)
    with pytest.raises(ValueError, match="not in model/preprocess/train"):
        parse_method("tqa:fixed/bogus=1", params)


class _OverrideSpy:
    """Records (strategy, d_model, drop_modalities) per fit; predicts truth + noise."""

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth
        self.calls: list[tuple] = []

    def __call__(self, fs, labels, split, params, *, strategy, seed, out_dir, progress):
        self.calls.append(
            (strategy, params["model"]["d_model"], tuple(params["model"]["drop_modalities"]))
        )
        return _FakeFit(self.truth)(
            fs, labels, split, params, strategy=strategy, seed=seed, out_dir=out_dir,
            progress=progress,
        )  # fmt: skip


def test_run_cv_model_variants_get_their_overrides_and_own_run_keys(tmp_path):
    fs, labels, meta, truth = _inputs()
    params = load_params()
    store = ResultsStore(tmp_path, "cv_runs")
    spy = _OverrideSpy(truth)
    methods = ["tqa:fixed", "tqa:fixed/no_au", "tqa:fixed/d_model=32", "tqa:fixed/d_model=64"]
    oof = run_cv(
        fs, labels, meta, params, methods, [0], store,
        k=3, group_column="portrait", fit_fn=spy, progress=False,
    )  # fmt: skip
    # d_model=64 is the params.yaml value: the same effective run as tqa:fixed, trained once
    assert params["model"]["d_model"] == 64
    assert sorted(set(spy.calls)) == sorted(
        {("fixed", 64, ()), ("fixed", 64, ("au",)), ("fixed", 32, ())}
    )
    assert len(spy.calls) == 3 * 3  # 3 folds x 3 distinct configurations
    assert set(oof["method"]) == set(methods)
    a = oof[oof["method"] == "tqa:fixed"]["pred"].to_numpy()
    b = oof[oof["method"] == "tqa:fixed/d_model=64"]["pred"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)  # one fit (the second read from the store)
    run_cv(
        fs, labels, meta, params, methods, [0], store,
        k=3, group_column="portrait", fit_fn=spy, progress=False,
    )  # fmt: skip
    assert len(spy.calls) == 9  # resumed: nothing refitted


def test_paired_bootstrap_over_videos():
    """Oracles: the observed delta is the pooled scipy Pearson difference (mean over seeds);
    a planted better method gets a tiny p and 'better'; a method compared with itself p = 1."""
    oof = _oof()
    table = compare(oof, reference="noisy", metric="pearson", test="bootstrap", n_boot=300)
    row = table.set_index("method").loc["good"]
    want = np.mean(
        [
            stats.pearsonr(g[g.method == "good"]["y"], g[g.method == "good"]["pred"])[0]
            - stats.pearsonr(g[g.method == "noisy"]["y"], g[g.method == "noisy"]["pred"])[0]
            for _, g in oof.groupby("seed")
        ]
    )
    assert row["delta"] == pytest.approx(want)
    assert row["p_value"] <= 1 / 300 + 1e-12 and row["verdict"] == "better"
    assert row["n_pairs"] == 60 and row["test"].startswith("paired bootstrap over videos")
    same = oof[oof["method"] == "good"].assign(method="twin")
    t2 = compare(pd.concat([oof, same]), reference="good", metric="rmse", test="bootstrap",
                 n_boot=200)  # fmt: skip
    twin = t2.set_index("method").loc["twin"]
    assert twin["p_value"] == 1.0 and twin["verdict"] == "no detectable difference"
    # two methods of equal quality: not called different (seeded, deterministic)
    rng = np.random.default_rng(5)
    eq = oof[oof["method"] == "good"].copy()
    eq["pred"] = eq["y"] + rng.normal(0, 0.3, len(eq))
    t3 = compare(pd.concat([oof[oof["method"] == "good"], eq.assign(method="peer")]),
                 reference="good", metric="pearson", test="bootstrap", n_boot=300)  # fmt: skip
    assert t3.set_index("method").loc["peer", "p_value"] > 0.05
    with pytest.raises(ValueError, match="test must be"):
        compare(oof, reference="good", test="t")


def test_boot_values_match_the_scalar_metrics():
    from tqa.study.comparison import boot_values
    from tqa.study.metrics import metric_functions

    rng = np.random.default_rng(2)
    y = np.round(rng.uniform(1, 5, (40, 30)), 1)  # ties, as in ratings
    p = y + rng.normal(0, 0.7, y.shape)
    p[3] = 2.5  # a constant prediction: correlations undefined
    fns = metric_functions((3.0, 4.0))
    for m in ("pearson", "spearman", "rmse", "mae", "ccc"):
        want = np.array([fns[m](a, b) for a, b in zip(y, p)])
        np.testing.assert_allclose(boot_values(m, y, p), want, rtol=1e-9, atol=1e-12, err_msg=m)
