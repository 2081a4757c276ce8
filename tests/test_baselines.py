"""tqa.study.baselines on planted data: known means, a linear signal ridge must recover."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tqa.core.params import load_params
from tqa.core.schema import SYNC_FIELDS, TASKS, FeatureSet
from tqa.study import baselines as B
from tqa.study import pooled as P


def _planted(n: int = 120, t: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    streams = {
        "visual": rng.normal(0, 1, (n, t, 6)).astype(np.float32),
        "audio": rng.normal(0, 1, (n, t, 4)).astype(np.float32),
        "landmarks": rng.normal(0, 1, (n, t, 5)).astype(np.float32),
        "au": rng.normal(0, 1, (n, t, 3)).astype(np.float32),
    }
    streams["visual"][3, :, 2] = np.nan  # a failed column for one video
    streams["audio"][5, 2] = np.nan  # a failed frame
    offset = rng.integers(-10, 11, n).astype(float)
    conf = 8.0 - 0.5 * np.abs(offset) + rng.normal(0, 0.2, n)
    sync = np.stack([offset, rng.normal(7, 1, n), conf], axis=1).astype(np.float32)
    fs = FeatureSet(video_ids=[f"v{i:03d}" for i in range(n)], streams=streams, sync=sync)
    v_mean = np.nanmean(streams["visual"][:, :, 0], axis=1)
    a_mean = np.nanmean(streams["audio"][:, :, 1], axis=1)
    labels = np.empty((n, 5))
    labels[:, 0] = 5.0 - 0.2 * np.abs(offset)  # lip_sync from |offset|
    labels[:, 1] = 3.0 + 2.0 * v_mean
    labels[:, 2] = 3.0 - 1.5 * a_mean
    labels[:, 3] = 3.0 + v_mean - a_mean
    labels[:, 4] = 3.0 + 0.5 * v_mean
    labels[:, 1:] = np.clip(labels[:, 1:], 1.0, 5.0)
    labels[rng.random(n) < 0.25, 2] = -1.0
    split = np.array(
        ["train"] * int(n * 0.7)
        + ["val"] * int(n * 0.1)
        + ["test"] * (n - int(n * 0.7) - int(n * 0.1))
    )
    return fs, labels, split


PARAMS = {
    "seed": 0,
    "data": {"score_min": 1.0, "score_max": 5.0},
    "eval": {"baselines": {"rf_n_estimators": 30}},
}


def test_pooled_features_shape_and_values():
    fs, _, _ = _planted(n=10)
    x, names = P.pooled_features(fs)
    assert x.shape == (10, 2 * (6 + 4 + 5 + 3) + 3) and len(names) == x.shape[1]
    j = names.index("visual_1__mean")
    np.testing.assert_allclose(x[:, j], fs.streams["visual"][:, :, 1].mean(axis=1), rtol=1e-6)
    j = names.index("audio_0__std")
    np.testing.assert_allclose(
        x[5, j], np.std(np.delete(fs.streams["audio"][5, :, 0], 2)), rtol=1e-5
    )
    assert np.isnan(x[3, names.index("visual_2__mean")])
    np.testing.assert_allclose(x[:, -3:], fs.sync, rtol=1e-6)


def test_mean_baseline_equals_numpy_mean_of_the_train_and_val_rows():
    """The baselines fit every labelled row outside the test part (FIT_PARTS): the
    validation part is for the Transformer's early stopping, not held back from them."""
    _, labels, split = _planted()
    pred = B.mean_baseline(labels, split)
    for k in range(5):
        y = labels[split != "test", k]
        assert pred[0, k] == pytest.approx(y[y != -1.0].mean())
        assert np.all(pred[:, k] == pred[0, k])
    moved_val, moved_test = labels.copy(), labels.copy()
    moved_val[split == "val", 1] += 1.0
    moved_test[split == "test", 1] += 1.0
    assert B.mean_baseline(moved_val, split)[0, 1] > pred[0, 1]
    np.testing.assert_array_equal(B.mean_baseline(moved_test, split), pred)


def test_a_forest_fits_the_val_rows_as_sklearn_does_and_never_the_test_rows():
    """random_forest equals sklearn's forest (same pipeline) fitted on the train + val rows;
    relabelling the test rows changes nothing."""
    fs, labels, split = _planted()
    pred = B.random_forest_baseline(fs, labels, split, PARAMS)
    x = P.task_inputs(fs, PARAMS, "random_forest")[1]
    rows = split != "test"
    ref = B.POOLED_REGRESSORS["random_forest"](PARAMS, 0).fit(x[rows], labels[rows, 1])
    np.testing.assert_allclose(pred[:, 1], np.clip(ref.predict(x), 1.0, 5.0))
    only_train = B.POOLED_REGRESSORS["random_forest"](PARAMS, 0).fit(
        x[split == "train"], labels[split == "train", 1]
    )
    assert not np.allclose(pred[:, 1], np.clip(only_train.predict(x), 1.0, 5.0))
    moved = labels.copy()
    moved[split == "test"] = 3.0
    np.testing.assert_array_equal(B.random_forest_baseline(fs, moved, split, PARAMS), pred)


def test_ridge_recovers_linear_signal():
    fs, labels, split = _planted()
    pred = B.ridge_baseline(fs, labels, split, PARAMS)
    test = split == "test"
    for k in (1, 3):
        assert stats.pearsonr(labels[test, k], pred[test, k])[0] > 0.95, TASKS[k]
    keep = test & (labels[:, 2] != -1.0)
    assert stats.pearsonr(labels[keep, 2], pred[keep, 2])[0] > 0.95
    assert pred.min() >= 1.0 and pred.max() <= 5.0


def test_random_forest_learns_and_sync_only_predicts_lip_sync_only():
    fs, labels, split = _planted()
    test = split == "test"
    rf = B.random_forest_baseline(fs, labels, split, PARAMS)
    assert stats.spearmanr(labels[test, 1], rf[test, 1])[0] > 0.7
    so = B.sync_only_baseline(fs, labels, split, PARAMS)
    assert np.isnan(so[:, 1:]).all()
    assert stats.pearsonr(labels[test, 0], so[test, 0])[0] > 0.9
    out = B.run_baselines(fs, labels, split, PARAMS, names=["mean", "sync_only"])
    assert set(out) == {"mean", "sync_only"} and out["mean"].shape == labels.shape
    with pytest.raises(KeyError, match="no baseline named"):
        B.run_baselines(fs, labels, split, PARAMS, names=["nope"])
    assert SYNC_FIELDS.index("confidence") == 2


def test_generator_mean_and_one_summary_line_for_tasks_without_labels(caplog):
    """generator_mean = the training mean per generator (pandas oracle); an unseen generator
    gets the overall training mean; single-task data logs ONE line about the other tasks."""
    T, run_baselines = TASKS, B.run_baselines
    rng = np.random.default_rng(0)
    n = 30
    gen = np.array(["a", "b", "c"] * 10, dtype=object)
    gen[-1] = "new"  # a generator only in the test part
    y = np.full((n, len(T)), -1.0)
    y[:, -1] = rng.uniform(1, 5, n)
    y[2, -1] = -1.0
    split = np.array(["train"] * 20 + ["test"] * 10)
    fs = FeatureSet(
        [f"v{i}" for i in range(n)],
        {"visual": rng.normal(size=(n, 4, 2)).astype(np.float32)},
        rng.normal(size=(n, 3)).astype(np.float32),
        {"visual": ["visual__a", "visual__b"]},
    )
    meta = pd.DataFrame({"generator": gen})
    with caplog.at_level(logging.INFO, logger="tqa.study.baselines"):
        out = run_baselines(fs, y, split, load_params(), ["mean", "ridge", "generator_mean"], meta)
    lines = [r.getMessage() for r in caplog.records if "training labels" in r.getMessage()]
    assert len(lines) == 1 and "lip_sync, expression, audio_quality, cross_modal" in lines[0]
    train = pd.DataFrame({"g": gen[:20], "y": y[:20, -1]})
    train = train[train["y"] != -1.0]
    want = pd.Series(gen).map(train.groupby("g")["y"].mean()).fillna(train["y"].mean())
    np.testing.assert_allclose(out["generator_mean"][:, -1], want)
    assert np.isnan(out["generator_mean"][:, :-1]).all()
    with pytest.raises(ValueError, match="generator"):
        run_baselines(fs, y, split, load_params(), ["generator_mean"], pd.DataFrame(index=range(n)))


def test_gradient_boosting_learns_a_planted_interaction_ridge_cannot():
    """Oracle: the known function y = 3 + 0.6 (a^2 + b^2 - 2) of two per-video feature
    means (a, b standard normal: symmetric, no linear component): boosted trees recover
    it, a linear model cannot; same seed -> same predictions (seeded)."""
    rng = np.random.default_rng(1)
    n, t = 400, 4
    level = rng.normal(0, 1, (n, 1, 5))
    visual = (level + rng.normal(0, 0.05, (n, t, 5))).astype(np.float32)
    fs = FeatureSet([f"v{i}" for i in range(n)], {"visual": visual}, np.zeros((n, 3), np.float32))
    a, b = visual[:, :, 0].mean(axis=1), visual[:, :, 1].mean(axis=1)
    truth = np.clip(3.0 + 0.6 * (a**2 + b**2 - 2.0), 1.0, 5.0)
    labels = np.full((n, len(TASKS)), -1.0)
    labels[:, TASKS.index("overall")] = truth
    split = np.array(["train"] * 300 + ["test"] * 100)
    test = split == "test"
    k = TASKS.index("overall")
    gb = B.gradient_boosting_baseline(fs, labels, split, PARAMS)
    ridge = B.ridge_baseline(fs, labels, split, PARAMS)
    r_gb = stats.pearsonr(truth[test], gb[test, k])[0]
    r_ridge = stats.pearsonr(truth[test], ridge[test, k])[0]
    assert r_gb > 0.8 and r_ridge < 0.3, (r_gb, r_ridge)
    assert np.isnan(gb[:, :k]).all()  # tasks without labels: no prediction
    again = B.run_baselines(fs, labels, split, PARAMS, names=["gradient_boosting"])
    np.testing.assert_array_equal(again["gradient_boosting"], gb)
    assert "gradient_boosting" in B.baseline_params(load_params())["names"]


def _swap_visual(fs: FeatureSet, perm: np.ndarray) -> FeatureSet:
    """``fs`` with every non-audio stream and the sync triple moved to other videos: one
    audio under another video, as in the real-clips swap test (issue 11)."""
    streams = {m: (a if m == "audio" else a[perm]) for m, a in fs.streams.items()}
    return FeatureSet(video_ids=fs.video_ids, streams=streams, sync=fs.sync[perm])


@pytest.mark.parametrize(
    "name", ["ridge", "random_forest", "extra_trees", "gradient_boosting", "detector_trees"]
)
def test_routed_task_reads_its_streams_only(name):
    """eval.baselines.routed: audio_quality (routed to audio by model.task_modalities)
    is the same whatever video lies over the audio; unrouted it is not; the other tasks
    still read every stream."""
    fs, labels, split = _planted(n=80)
    perm = np.random.default_rng(1).permutation(80)
    routes = {"model": {"task_modalities": {"audio_quality": ["audio"]}}}
    every = {"detector_columns": ["__"]}  # the planted columns are unnamed (visual_0 ...)
    routed = {**PARAMS, **routes,
              "eval": {"baselines": {"rf_n_estimators": 30, "routed": True, **every}}}  # fmt: skip
    unrouted = {**PARAMS, **routes, "eval": {"baselines": every}}
    aq, ov = TASKS.index("audio_quality"), TASKS.index("overall")
    models = B.fit_pooled_models(name, fs, labels, split, routed, seed=0)
    a = B.predict_pooled_models(models, fs, routed, name)
    b = B.predict_pooled_models(models, _swap_visual(fs, perm), routed, name)
    np.testing.assert_array_equal(a[:, aq], b[:, aq])
    assert not np.allclose(a[:, ov], b[:, ov])
    # the baseline function itself honours the flag as the kept models do
    np.testing.assert_allclose(B.BASELINES.get(name)(fs, labels, split, routed)[:, aq], a[:, aq])
    m2 = B.fit_pooled_models(name, fs, labels, split, unrouted, seed=0)
    c = B.predict_pooled_models(m2, fs, unrouted, name)
    d = B.predict_pooled_models(m2, _swap_visual(fs, perm), unrouted, name)
    assert not np.allclose(c[:, aq], d[:, aq])


def test_task_routes_only_when_routed_and_present():
    fs, _, _ = _planted(n=10)
    p = {"model": {"task_modalities": {"audio_quality": ["audio"], "overall": ["hubert_x"]}}}
    assert P.task_routes(p, fs) == {}
    on = {**p, "eval": {"baselines": {"routed": True}}}
    # a modality the features lack is no route (the task reads every stream)
    assert P.task_routes(on, fs) == {TASKS.index("audio_quality"): ("audio",)}


def test_oracle_on_defect_levels_recovers_planted_labels():
    """The ceiling row: a model on the true defect levels predicts labels made from them;
    without defect columns it is a clear error, not a silent NaN."""
    fs, _, split = _planted(n=160)
    rng = np.random.default_rng(3)
    meta = pd.DataFrame({"video_id": fs.video_ids,
                         f"{B.DEFECT_PREFIX}blur": rng.uniform(0, 2, 160),
                         f"{B.DEFECT_PREFIX}offset": rng.integers(-5, 6, 160)})  # fmt: skip
    labels = np.empty((160, 5))
    labels[:] = 4.5 - meta[f"{B.DEFECT_PREFIX}blur"].to_numpy()[:, None]
    labels[:, 0] = 4.5 - 0.4 * np.abs(meta[f"{B.DEFECT_PREFIX}offset"].to_numpy())
    pred = B.BASELINES.get(B.ORACLE)(fs, labels, split, PARAMS, meta=meta)
    test = split == "test"
    for k in range(5):
        assert stats.pearsonr(labels[test, k], pred[test, k])[0] > 0.9
    with pytest.raises(ValueError, match="injected defect levels"):
        B.BASELINES.get(B.ORACLE)(fs, labels, split, PARAMS, meta=meta[["video_id"]])


def _named(n: int = 60, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    names = {
        "visual": ["visual__cadence_dup", "visual__face__mscn_mean"],
        "audio": ["audio__clipping_peak_share", "audio__logmel_00"],
        "au": ["au__avsync_offset", "au__AU01_est"],
    }
    streams = {m: rng.normal(0, 1, (n, 6, len(c))).astype(np.float32) for m, c in names.items()}
    sync = rng.normal(0, 2, (n, 3)).astype(np.float32)
    return FeatureSet([f"v{i}" for i in range(n)], streams, sync, names=names)


def test_detector_inputs_are_the_named_columns_and_their_absolute_offsets():
    """Oracle: the pooled table indexed by name (pandas), |x| of the offset columns."""
    fs = _named()
    x, names = P.pooled_features(fs)
    df = pd.DataFrame(x, columns=names)
    keep = ["visual__cadence_dup__mean", "visual__cadence_dup__std",
            "audio__clipping_peak_share__mean", "audio__clipping_peak_share__std",
            "au__avsync_offset__mean", "au__avsync_offset__std", "au__AU01_est__mean",
            "au__AU01_est__std", "sync__offset", "sync__distance", "sync__confidence"]  # fmt: skip
    keep = [n for n in names if n in keep]  # in the pooled table's order
    offsets = [n for n in keep if "offset" in n]
    assert len(keep) == 11 and len(offsets) == 3
    want = np.c_[df[keep].to_numpy(), df[offsets].abs().to_numpy()]
    xs = P.detector_inputs(fs, {})
    assert len(xs) == len(TASKS)
    for got in xs:
        np.testing.assert_array_equal(got, want)
    # a routed task reads its own stream's detectors, no sync
    routed = {"model": {"task_modalities": {"audio_quality": ["audio"]}},
              "eval": {"baselines": {"routed": True}}}  # fmt: skip
    aq = P.detector_inputs(fs, routed)[TASKS.index("audio_quality")]
    cols = ["audio__clipping_peak_share__mean", "audio__clipping_peak_share__std"]
    np.testing.assert_array_equal(aq, df[cols].to_numpy())
    # a task whose input has no detector column gets none (NaN predictions, no error)
    only_sync = {**routed, "eval": {"baselines": {"routed": True, "detector_columns": ["^sync__"]}}}
    xs = P.detector_inputs(fs, only_sync)
    assert xs[TASKS.index("audio_quality")] is None and xs[TASKS.index("overall")].shape[1] == 4
    rng = np.random.default_rng(0)
    labels = np.clip(3 + rng.normal(0, 0.7, (60, len(TASKS))), 1, 5)
    split = np.where(np.arange(60) < 45, "train", "test").astype(object)
    pred = B.BASELINES.get("detector_trees")(fs, labels, split, only_sync, seed=0)
    assert np.isnan(pred[:, TASKS.index("audio_quality")]).all()
    assert np.isfinite(pred[:, TASKS.index("overall")]).all()


def test_detector_trees_is_extra_trees_on_the_detector_columns():
    """Oracle: sklearn's ExtraTreesRegressor fitted directly on the hand-built columns."""
    fs = _named(n=80)
    rng = np.random.default_rng(3)
    labels = np.clip(3 + rng.normal(0, 0.7, (80, len(TASKS))), 1, 5)
    split = np.where(np.arange(80) < 60, "train", "test").astype(object)
    params = {**PARAMS, "eval": {"baselines": {"et_n_estimators": 20}}}
    got = B.BASELINES.get("detector_trees")(fs, labels, split, params, seed=5)
    x = P.detector_inputs(fs, params)[0]
    k = TASKS.index("overall")
    ref = B.make_extra_trees(params, 5).fit(x[:60], labels[:60, k]).predict(x)
    np.testing.assert_allclose(got[:, k], np.clip(ref, 1, 5))
    models = B.fit_pooled_models("detector_trees", fs, labels, split, params, seed=5)
    np.testing.assert_allclose(B.predict_pooled_models(models, fs, params, "detector_trees"), got)


def test_excluded_streams_are_not_read_by_the_regressor_they_are_excluded_for():
    """eval.baselines.exclude_streams: a regressor's pooled input is exactly the pooled
    columns of its other streams plus the sync triple (oracle: pooled_features of those
    streams) and its predictions ignore the excluded stream (scrambling it changes nothing);
    a regressor it does not name reads every stream, as does everyone when the key is absent
    (a bundle saved before it existed was fitted so)."""
    fs, labels, split = _planted(n=80)
    table = {"ridge": ["landmarks"], "random_forest": ["landmarks"]}
    ex = {**PARAMS, "eval": {"baselines": {"rf_n_estimators": 30, "exclude_streams": table}}}
    kept = [m for m in fs.modalities if m != "landmarks"]
    want, want_names = P.pooled_features(fs, kept)
    for x in P.task_inputs(fs, ex, "ridge"):
        np.testing.assert_array_equal(x, want)
    assert not any(n.startswith("landmarks") for n in want_names)
    every = P.pooled_features(fs)[0]
    for params, name in ((ex, "gradient_boosting"), (ex, None), (PARAMS, "ridge")):
        np.testing.assert_array_equal(P.task_inputs(fs, params, name)[0], every)
    rng = np.random.default_rng(2)
    scrambled = FeatureSet(video_ids=fs.video_ids, sync=fs.sync, streams={
        **fs.streams, "landmarks": rng.normal(0, 1, fs.streams["landmarks"].shape)})  # fmt: skip
    for name in ("ridge", "random_forest"):
        models = B.fit_pooled_models(name, fs, labels, split, ex, seed=0)
        np.testing.assert_array_equal(
            B.predict_pooled_models(models, fs, ex, name),
            B.predict_pooled_models(models, scrambled, ex, name),
        )
        np.testing.assert_array_equal(
            B.BASELINES.get(name)(fs, labels, split, ex),
            B.BASELINES.get(name)(scrambled, labels, split, ex),
        )
        full = B.fit_pooled_models(name, fs, labels, split, PARAMS, seed=0)
        assert not np.allclose(
            B.predict_pooled_models(full, fs, PARAMS, name),
            B.predict_pooled_models(full, scrambled, PARAMS, name),
        )


def test_every_stream_excluded_leaves_the_sync_triple_and_a_routed_task_errs():
    fs, _, _ = _planted(n=10)
    none = {"eval": {"baselines": {"exclude_streams": {"ridge": list(fs.modalities)}}}}
    for x in P.task_inputs(fs, none, "ridge"):
        np.testing.assert_array_equal(x, fs.sync.astype(np.float64))
    routed = {
        "model": {"task_modalities": {"audio_quality": ["audio"]}},
        "eval": {"baselines": {"routed": True, "exclude_streams": {"ridge": ["audio"]}}},
    }
    with pytest.raises(ValueError, match="audio_quality.*exclude_streams"):
        P.task_inputs(fs, routed, "ridge")
    with pytest.raises(ValueError, match="must map a regressor"):
        P.task_inputs(fs, {"eval": {"baselines": {"exclude_streams": ["landmarks"]}}}, "ridge")


def test_baselines_fit_on_one_blas_thread_whatever_the_caller_set(monkeypatch):
    """run_baselines pins BLAS to one thread: ridge's last bits then do not depend on how many
    threads the caller's BLAS had, or on another fit thread sharing it (the stack's pooled
    fits run in threads; a fresh clone's run cache differed in 2 ridge runs without this)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    seen: list[list[int]] = []

    def probe(fs, labels, split, params):
        seen.append([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"])
        return B.ridge_baseline(fs, labels, split, params)

    monkeypatch.setitem(B.BASELINES._items, "probe", probe)
    fs, labels, split = _planted()
    with threadpool_limits(4, user_api="blas"):
        outer = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        if not outer or max(outer) < 2:
            pytest.skip("no BLAS library that takes a thread count here")
        got = B.run_baselines(fs, labels, split, PARAMS, names=["probe"])["probe"]
        after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert seen == [[1] * len(outer)]
    assert after == outer  # the caller's setting is given back
    np.testing.assert_array_equal(got, B.ridge_baseline(fs, labels, split, PARAMS))


def test_random_forest_wide_is_sklearns_forest_and_a_count_above_the_columns_tries_all():
    """Oracle: sklearn's RandomForestRegressor on the imputed, scaled pooled input with the
    rfw_* settings; a count above the input's columns fits as all columns; the stack can keep
    its fits (fit_pooled_models / predict_pooled_models give the baseline's predictions)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    fs, labels, split = _planted(n=80)
    rfw = {"rfw_n_estimators": 25, "rfw_min_samples_leaf": 3, "rfw_max_features": 7}
    params = {**PARAMS, "eval": {"baselines": rfw}}
    got = B.BASELINES.get("random_forest_wide")(fs, labels, split, params, seed=4)
    train = split != "test"  # the training and validation parts (B.FIT_PARTS)
    for k, x in enumerate(P.task_inputs(fs, params, "random_forest_wide")):
        rows = train & (labels[:, k] != -1)
        imp = SimpleImputer(strategy="median", keep_empty_features=True).fit(x[rows])
        sc = StandardScaler().fit(imp.transform(x[rows]))
        z = sc.transform(imp.transform(x))
        ref = RandomForestRegressor(25, min_samples_leaf=3, max_features=7, random_state=4)
        ref.fit(z[rows], labels[rows, k])
        np.testing.assert_allclose(got[:, k], np.clip(ref.predict(z), 1, 5))
    # a count above the columns (a narrow routed input) tries every column, as max_features=F
    wide = {**PARAMS, "eval": {"baselines": {**rfw, "rfw_max_features": 10_000}}}
    every = {**PARAMS, "eval": {"baselines": {**rfw, "rfw_max_features": 1.0}}}
    models = B.fit_pooled_models("random_forest_wide", fs, labels, split, wide, seed=0)
    pred = B.predict_pooled_models(models, fs, wide, "random_forest_wide")
    np.testing.assert_array_equal(
        pred, B.BASELINES.get("random_forest_wide")(fs, labels, split, every, seed=0)
    )
    assert np.isfinite(pred).all()
    assert stats.spearmanr(labels[~train, 1], pred[~train, 1])[0] > 0.5


def test_svr_is_an_rbf_kernel_expansion_on_the_scaled_input():
    """Oracle: the SVR's predictions rebuilt with numpy from its support vectors, dual
    coefficients and intercept under exp(-||z - s||^2 / F) (``gamma="scale"`` on standardised
    columns is 1 / F); on the train + val rows, the landmark stream left out as the forests';
    sklearn's own SVR on the same input gives the same; the planted signal is recovered."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    fs, labels, split = _planted(n=90)
    params = {
        **PARAMS,
        "eval": {"baselines": {"svr_c": 3.0, "svr_epsilon": 0.05,
                               "exclude_streams": {"svr": ["landmarks"]}}},
    }  # fmt: skip
    got = B.BASELINES.get("svr")(fs, labels, split, params)
    fit = split != "test"
    xs = P.task_inputs(fs, params, "svr")
    x_all, _ = P.pooled_features(fs)
    assert all(x.shape[1] == x_all.shape[1] - 2 * 5 for x in xs)  # 5 landmark columns x 2
    models = B.fit_pooled_models("svr", fs, labels, split, params, seed=0)
    for k, x in enumerate(xs):
        rows = fit & (labels[:, k] != -1)
        imp = SimpleImputer(strategy="median", keep_empty_features=True).fit(x[rows])
        z = StandardScaler().fit(imp.transform(x[rows])).transform(imp.transform(x))
        ref = SVR(C=3.0, epsilon=0.05).fit(z[rows], labels[rows, k])
        np.testing.assert_allclose(got[:, k], np.clip(ref.predict(z), 1, 5), atol=1e-9)
        svm = models[TASKS[k]].named_steps["model"]
        sq = ((z[:, None, :] - svm.support_vectors_[None]) ** 2).sum(-1)
        by_hand = np.exp(-sq / z.shape[1]) @ svm.dual_coef_[0] + svm.intercept_[0]
        np.testing.assert_allclose(got[:, k], np.clip(by_hand, 1, 5), atol=1e-8)
    assert stats.spearmanr(labels[~fit, 1], got[~fit, 1])[0] > 0.5
