"""The model bundle (tqa.serve.bundle*): save/load round trip, refusal of mismatched extractors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_fit import fit_fixed, tiny_params

from tqa.core.params import load_params
from tqa.core.schema import TASKS, FeatureSet
from tqa.serve.bundle_extractors import describe_mismatches
from tqa.serve.bundle_format import BundleError, BundleMismatchError
from tqa.serve.bundle_load import Bundle, load_bundle
from tqa.serve.bundle_save import save_bundle

DESCS = {
    "visual": {"name": "nss", "modality": "visual", "version": "2", "dim": 6},
    "audio": {"name": "spectral", "modality": "audio", "version": "1", "dim": 5},
    "au": {"name": "geometry", "modality": "au", "version": "1", "dim": 4},
    "sync": {"name": "correlation", "modality": "sync", "version": "1", "dim": 3},
}


def _features(n: int, seed: int = 0) -> tuple[FeatureSet, np.ndarray]:
    rng = np.random.default_rng(seed)
    level = rng.uniform(1.5, 4.5, n)
    streams = {
        m: (rng.normal(size=(n, 150, DESCS[m]["dim"])) + level[:, None, None]).astype(np.float32)
        for m in ("visual", "audio", "au")
    }
    streams["visual"][0, 3] = np.nan
    sync = np.c_[np.zeros(n), np.full(n, 8.0), level].astype(np.float32)
    fs = FeatureSet([f"v{i}" for i in range(n)], streams, sync, meta={"extractors": DESCS})
    labels = np.repeat(level[:, None], len(TASKS), axis=1).astype(np.float32)
    labels[::4, 2] = -1.0
    return fs, labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    fs, labels = _features(20)
    split = np.array(["train"] * 14 + ["val"] * 3 + ["test"] * 3)
    params = tiny_params()
    fit = fit_fixed(fs, labels, split, params, tmp_path_factory.mktemp("fit"))
    return fit, params, fs


def test_round_trip_predictions_identical(trained, tmp_path):
    fit, params, fs = trained
    out = save_bundle(
        fit,
        params,
        fs,
        tmp_path / "bundle",
        extra={"training_data": {"root": "synthetic"}, "metrics": {"val_mse": 0.1}},
    )
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "model.pt", "preprocess.joblib"]
    man = json.loads((out / "bundle.json").read_text())
    assert (
        man["extractors"]["visual"] == DESCS["visual"]
        and man["extractors"]["sync"]["name"] == "correlation"
    )
    assert set(man["params"]) == {"features", "preprocess", "model"}
    assert man["metrics"] == {"val_mse": 0.1} and man["tqa_version"]
    b = load_bundle(out)
    new_fs, _ = _features(7, seed=5)
    expect = fit.predict(new_fs)
    got = b.predict(new_fs)
    np.testing.assert_array_equal(got, expect)
    assert got.shape == (7, 5) and (got >= 1).all() and (got <= 5).all()
    # saving again over an existing bundle replaces it (no leftovers beside it)
    save_bundle(fit, params, DESCS, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    np.testing.assert_array_equal(load_bundle(out).predict(new_fs), expect)


def test_bundle_refuses_features_of_other_width(trained, tmp_path):
    fit, params, fs = trained
    b = load_bundle(save_bundle(fit, params, fs, tmp_path / "b"))
    bad = FeatureSet(fs.video_ids, {**fs.streams, "audio": fs.streams["audio"][:, :, :3]}, fs.sync)
    with pytest.raises(BundleMismatchError, match=r"audio: 3 columns, bundle expects 5"):
        b.predict(bad)
    no_au = FeatureSet(fs.video_ids, {m: a for m, a in fs.streams.items() if m != "au"}, fs.sync)
    with pytest.raises(BundleMismatchError, match=r"au: missing"):
        b.predict(no_au)


def _bare_bundle(tmp_path) -> Bundle:
    return Bundle(
        path=tmp_path / "bundle",
        model=None,
        preprocessor=None,
        manifest={"extractors": DESCS, "params": {}, "input_dims": {}},
    )


def test_check_extractors_lists_every_mismatch(tmp_path):
    b = _bare_bundle(tmp_path)
    b.check_extractors(DESCS)  # identical: accepted
    installed = {
        **DESCS,
        "visual": {"name": "resnet101", "modality": "visual", "version": "1", "dim": 2048},
        "audio": {**DESCS["audio"], "version": "2"},
    }
    installed.pop("sync")
    with pytest.raises(BundleMismatchError) as err:
        b.check_extractors(installed)
    msg = str(err.value)
    assert "visual: installed 'resnet101' v1 (dim 2048) vs bundle 'nss' v2 (dim 6)" in msg
    assert "audio:" in msg and "version '2' != '1'" in msg
    assert "sync: bundle needs extractor 'correlation'" in msg
    assert "au:" not in msg
    assert "re-extract" in msg and "retrain" in msg
    assert str(tmp_path / "bundle") in msg


def test_describe_mismatches_ignores_unused_modalities():
    extra = {
        **DESCS,
        "landmarks": {"name": "mediapipe", "modality": "landmarks", "version": "9", "dim": 1404},
    }
    assert describe_mismatches(DESCS, extra) == []


def test_load_bundle_errors(tmp_path):
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="bundle.json is missing"):
        load_bundle(tmp_path / "empty")


def test_table_trained_bundle_message(tmp_path):
    descs = {"au": {"name": "table", "modality": "au", "version": "cols-x", "dim": 4}}
    b = Bundle(
        path=tmp_path,
        model=None,
        preprocessor=None,
        manifest={"extractors": descs, "params": {}, "input_dims": {}},
    )
    assert b.from_table
    with pytest.raises(BundleMismatchError, match="bring-your-own feature table"):
        b.check_extractors(
            {"au": {"name": "geometry", "modality": "au", "version": "1", "dim": 17}}
        )


def test_bundle_from_saved_fit_and_cli(trained, tmp_path):
    from tqa.serve.bundle import bundle_from_fit

    fit, params, fs = trained
    out = bundle_from_fit(fit.out_dir, params, tmp_path / "b", features=fs)
    man = json.loads((out / "bundle.json").read_text())
    assert man["training_data"]["fit_dir"] == str(fit.out_dir) and man["strategy"] == "fixed"
    new_fs, _ = _features(5, seed=9)
    np.testing.assert_array_equal(load_bundle(out).predict(new_fs), fit.predict(new_fs))


def test_option_and_random_init_differences_are_refused(tmp_path):
    trained_with = {
        "name": "mediapipe",
        "modality": "landmarks",
        "version": "1",
        "dim": 1404,
        "normalized": True,
    }
    b = Bundle(
        path=tmp_path,
        model=None,
        preprocessor=None,
        manifest={
            "extractors": {"landmarks": dict(trained_with)},
            "params": {},
            "input_dims": {},
        },
    )
    same = {"landmarks": dict(trained_with)}
    b.check_extractors(same)
    raw = {"landmarks": {**same["landmarks"], "normalized": False}}
    with pytest.raises(BundleMismatchError, match=r"normalized False != True"):
        b.check_extractors(raw)
    rnd = {"landmarks": {**same["landmarks"], "random_init": True}}
    with pytest.raises(BundleMismatchError, match=r"random_init True != None"):
        b.check_extractors(rnd)


# -------------------------------------------------------------------------- defaults and robustness


def test_default_descriptions_skip_stale_cache_files(tmp_path):
    """The descriptions come from a cache file of the CURRENT feature configuration, not the first
    file."""
    from tqa.features.cache import write_features
    from tqa.features.pipeline import FeatureExtractor
    from tqa.serve.bundle import _default_descriptions

    params = load_params(overrides={"features.cache_dir": str(tmp_path / "cache")})
    fe = FeatureExtractor(params)
    current = fe.describe()
    stale = {m: {**d, "version": "0-stale"} for m, d in current.items()}
    streams = {m: np.zeros((4, 2), np.float32) for m in ("visual", "audio", "landmarks", "au")}
    # "a_old" sorts first; it was made with another configuration
    write_features(
        tmp_path / "cache",
        "a_old",
        streams,
        np.zeros(3),
        {"config_hash": "0123stale", "extractors": stale},
    )
    write_features(
        tmp_path / "cache",
        "b_new",
        streams,
        np.zeros(3),
        {"config_hash": fe.config_hash, "extractors": current},
    )
    got = _default_descriptions(params)
    assert isinstance(got, FeatureSet) and got.video_ids == ["b_new"]
    assert got.meta["extractors"] == current
    assert got.meta["config_hash"] == [fe.config_hash]

    # only stale files: a clear error naming the cache and both hashes
    (tmp_path / "cache" / "b_new.npz").unlink()
    with pytest.raises(BundleError) as err:
        _default_descriptions(params)
    msg = str(err.value)
    assert (
        str(tmp_path / "cache") in msg
        and fe.config_hash in msg
        and "0123stale" in msg
        and "tqa extract" in msg
    )

    # no cache at all: the configured extractors
    params["features"]["cache_dir"] = str(tmp_path / "none")
    assert isinstance(_default_descriptions(params), FeatureExtractor)


def test_interrupted_bundle_swap_is_recovered(trained, tmp_path, monkeypatch):
    """A crash between the two renames of a replacement leaves only `.NAME.old-PID`: it is
    restored."""
    import tqa.serve.bundle_swap as swap

    fit, params, fs = trained
    out = save_bundle(fit, params, fs, tmp_path / "bundle")
    new_fs, _ = _features(3, seed=2)
    expect = fit.predict(new_fs)
    # the state a kill between `target -> .old-PID` and `new -> target` leaves behind
    crashed = tmp_path / ".bundle.old-4242"
    out.rename(crashed)
    (tmp_path / ".bundle.old-99").mkdir()  # an empty leftover (no bundle.json) is never restored
    assert not out.exists()
    b = load_bundle(out)  # load restores the newest leftover holding a bundle
    np.testing.assert_array_equal(b.predict(new_fs), expect)
    assert out.is_dir() and not crashed.exists()
    from tqa.serve.bundle_swap import leftover_dirs, recover_dir

    assert recover_dir(out) is False  # nothing to do when the bundle is there

    # save_bundle also restores first, then replaces; the non-atomic fallback leaves no leftovers
    out.rename(crashed)
    monkeypatch.setattr(swap, "_exchange", lambda a, b: False)
    save_bundle(fit, params, DESCS, out)
    assert not crashed.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bundle.old-99", "bundle"]
    assert leftover_dirs(out) == [tmp_path / ".bundle.old-99"]
    np.testing.assert_array_equal(load_bundle(out).predict(new_fs), expect)

    # when nothing can be restored, the error names the leftover
    import shutil

    shutil.rmtree(out)
    with pytest.raises(BundleError, match=r"\.bundle\.old-99.*interrupted replacement"):
        load_bundle(out)


def test_replace_dir_swaps_atomically_where_supported(tmp_path):
    from tqa.serve.bundle_swap import replace_dir

    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "v").write_text("2")
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "v").write_text("1")
    replace_dir(tmp_path / "new", tmp_path / "target")
    assert (tmp_path / "target" / "v").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]


def test_stack_bundle_round_trip_blends_the_transformer_with_kept_regressors(trained, tmp_path):
    """A bundle of the stacked default model predicts the blend computed by hand from the
    Transformer's own predictions and the kept ridge models (tqa.serve.stack_bundle)."""
    from tqa.study.baselines import fit_pooled_models, predict_pooled_models
    from tqa.study.blend import fit_blend

    fit, params, fs = trained
    _, labels = _features(20)
    split = np.array(["train"] * 14 + ["val"] * 3 + ["test"] * 3)
    ridge = fit_pooled_models("ridge", fs, labels, split, params, 0)
    comps = ["transformer", "ridge"]
    inner = np.stack([fit.predict(fs), predict_pooled_models(ridge, fs, params)], axis=1)
    y = np.where(labels == -1.0, np.nan, labels)
    blends = [fit_blend(inner[:17, :, k], y[:17, k], comps).as_dict() for k in range(len(TASKS))]
    stack = {"components": comps, "blends": blends, "models": {"ridge": ridge}}
    out = save_bundle(fit, params, fs, tmp_path / "stacked", extra={"model": "tqa:stack"},
                      stack=stack)  # fmt: skip
    assert (out / "stack.joblib").exists()
    assert json.loads((out / "bundle.json").read_text())["model"] == "tqa:stack"
    new_fs, _ = _features(6, seed=9)
    t = fit.predict(new_fs)
    r = predict_pooled_models(ridge, new_fs, params)
    want = np.stack(
        [b["intercept"] + b["weights"][0] * t[:, k] + b["weights"][1] * r[:, k]
         for k, b in enumerate(blends)], axis=1,
    )  # fmt: skip
    np.testing.assert_allclose(load_bundle(out).predict(new_fs), want, rtol=1e-6)
    assert not np.allclose(want, t)  # the stack is not the Transformer alone
    (out / "stack.joblib").unlink()
    with pytest.raises(BundleError, match="stack.joblib is missing"):
        load_bundle(out)


def test_stack_bundle_keeps_routed_components_routed(trained, tmp_path):
    """A stack fitted with routed components (eval.stack.routed) scores audio_quality from
    the audio stream alone in the bundle too: one audio under other videos, one score
    (issue 11's swap test, broken in the first stacked bundle)."""
    from tqa.serve.stack_bundle import scoring_params
    from tqa.study.baselines import fit_pooled_models
    from tqa.study.stacking import component_params

    fit, params, fs = trained
    _, labels = _features(20)
    split = np.array(["train"] * 17 + ["test"] * 3)
    params = {**params, "model": {**params["model"], "task_modalities": {"audio_quality":
                                                                         ["audio"]}}}  # fmt: skip
    pp = component_params(params)
    ridge = fit_pooled_models("ridge", fs, labels, split, pp, 0)
    blends = [{"components": ["ridge"], "weights": [1.0], "intercept": 0.0}] * len(TASKS)
    stack = {"components": ["ridge"], "blends": blends, "models": {"ridge": ridge},
             "params": scoring_params(pp)}  # fmt: skip
    out = save_bundle(fit, params, fs, tmp_path / "routed", extra={"model": "tqa:stack"},
                      stack=stack)  # fmt: skip
    new_fs, _ = _features(6, seed=9)
    perm = np.array([3, 4, 5, 0, 1, 2])
    swapped = FeatureSet(
        video_ids=new_fs.video_ids,
        streams={m: (a if m == "audio" else a[perm]) for m, a in new_fs.streams.items()},
        sync=new_fs.sync[perm],
    )
    b = load_bundle(out)
    aq, ov = TASKS.index("audio_quality"), TASKS.index("overall")
    a, s = b.predict(new_fs), b.predict(swapped)
    np.testing.assert_array_equal(a[:, aq], s[:, aq])
    assert not np.allclose(a[:, ov], s[:, ov])


def test_stack_scoring_params_read_the_columns_the_regressors_were_fitted_on():
    """What a kept pooled regressor reads at scoring (the stack's saved params) is what it
    was fitted on (the study's params): the pooled inputs and the detector columns, with a
    stream excluded and with the detector list changed from its default."""
    from tqa.serve.stack_bundle import scoring_params
    from tqa.study import pooled as P

    rng = np.random.default_rng(0)
    streams = {m: rng.normal(0, 1, (6, 4, d)).astype(np.float32)
               for m, d in (("visual", 3), ("audio", 2), ("landmarks", 5), ("au", 2))}  # fmt: skip
    fs = FeatureSet([f"v{i}" for i in range(6)], streams, rng.normal(0, 1, (6, 3)))
    fs.names = {m: [f"{m}__c{j}" for j in range(a.shape[2])] for m, a in streams.items()}
    study = {"model": {"task_modalities": {"audio_quality": ["audio"]}},
             "eval": {"baselines": {"routed": True,
                                    "exclude_streams": {"ridge": ["landmarks"]},
                                    "detector_columns": ["^au__", "^sync__"]}}}  # fmt: skip
    kept = scoring_params(study)
    for name in ("ridge", "random_forest"):
        for a, b in zip(P.task_inputs(fs, study, name), P.task_inputs(fs, kept, name)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(P.detector_inputs(fs, study), P.detector_inputs(fs, kept)):
        np.testing.assert_array_equal(a, b)  # au (or audio alone: none) + sync columns
    assert P.task_inputs(fs, kept, "ridge")[0].shape[1] < P.task_inputs(fs, kept)[0].shape[1]
