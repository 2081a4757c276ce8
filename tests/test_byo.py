"""Bring-your-own feature tables (tqa.features.tables): formats, resampling, errors, training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_fit import fit_fixed, tiny_params

from tqa.core.schema import SYNC_FIELDS, TASKS, FeatureSet
from tqa.features.tables import (
    FeatureTableError,
    feature_set_from_table,
    feature_table_from_featureset,
    load_feature_table,
    resample_rows,
    write_feature_table,
)


def _featureset(n: int = 3, seed: int = 0, T: int = 150) -> FeatureSet:
    rng = np.random.default_rng(seed)
    streams = {
        "visual": rng.normal(size=(n, T, 5)).astype(np.float32) * 100,
        "audio": rng.normal(size=(n, T, 4)).astype(np.float32),
        "landmarks": rng.normal(size=(n, T, 6)).astype(np.float32) * 1e-3,
        "au": rng.uniform(0, 5, size=(n, T, 3)).astype(np.float32),
    }
    streams["visual"][1, 7, 2] = np.nan  # a failed frame survives the round trip
    names = {m: [f"{m}__c{j}" for j in range(a.shape[2])] for m, a in streams.items()}
    sync = rng.normal(size=(n, 3)).astype(np.float32)
    return FeatureSet([f"v{i}" for i in range(n)], streams, sync, names)


def _assert_fs_equal(a: FeatureSet, b: FeatureSet) -> None:
    assert a.video_ids == b.video_ids
    assert set(a.streams) == set(b.streams)
    for m in a.streams:
        assert a.streams[m].dtype == np.float32
        np.testing.assert_array_equal(a.streams[m], b.streams[m])
    np.testing.assert_array_equal(a.sync, b.sync)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_long_table(tmp_path, suffix):
    fs = _featureset()
    path = write_feature_table(fs, tmp_path / f"feats{suffix}")
    back = load_feature_table(path)
    _assert_fs_equal(fs, back)
    assert back.names["visual"] == fs.names["visual"]
    assert back.meta["extractors"]["visual"]["dim"] == 5


def test_round_trip_in_memory_and_column_layout():
    fs = _featureset(n=2)
    df = feature_table_from_featureset(fs)
    assert len(df) == 2 * 150
    assert list(df.columns[:2]) == ["video_id", "frame"]
    assert [c for c in df.columns if c.startswith("sync__")] == [f"sync__{f}" for f in SYNC_FIELDS]
    # rows shuffled: frame order in the table must not matter (videos keep first-appearance order)
    back = feature_set_from_table(df.sample(frac=1.0, random_state=1))
    assert sorted(back.video_ids) == fs.video_ids
    _assert_fs_equal(fs, back.subset(fs.video_ids))


def test_resample_75_frames_matches_numpy_interp():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(75, 4))
    rows = [
        {"video_id": "a", "frame": i, **{f"audio__m{j}": x[i, j] for j in range(4)}}
        for i in range(75)
    ]
    fs = feature_set_from_table(pd.DataFrame(rows))
    assert fs.streams["audio"].shape == (1, 150, 4)
    # oracle: frames spread evenly over the grid, numpy's linear interpolation
    src = np.linspace(0, 149, 75)
    for j in range(4):
        expect = np.interp(np.arange(150), src, x[:, j])
        np.testing.assert_allclose(fs.streams["audio"][0, :, j], expect, rtol=1e-6, atol=1e-6)
    assert np.isnan(fs.sync).all()  # no sync columns -> NaN triple


def test_resample_time_column_and_outside_range_is_nan():
    t = np.arange(0, 3.0, 0.1)  # 10 Hz, 3 s: the last 3 s of the 6 s grid have no data
    val = np.sin(t)
    df = pd.DataFrame({"video_id": "a", "time": t, "au__AU12": val})
    fs = feature_set_from_table(df)
    grid_t = np.arange(150) / 25.0
    inside = grid_t <= t[-1] + 0.02
    np.testing.assert_allclose(
        fs.streams["au"][0, inside, 0], np.interp(grid_t[inside], t, val), atol=1e-6
    )
    assert np.isnan(fs.streams["au"][0, ~inside, 0]).all()


def test_resample_rows_equals_numpy_interp_random_points():
    rng = np.random.default_rng(0)
    xs = np.sort(rng.uniform(0, 10, 20))
    vals = rng.normal(size=(20, 3))
    xn = rng.uniform(-1, 11, 50)
    got = resample_rows(xs, vals, xn)
    for j in range(3):
        np.testing.assert_allclose(got[:, j], np.interp(xn, xs, vals[:, j]))


def test_absent_modalities_and_variable_lengths():
    rows = []
    for vid, n in (("short", 40), ("long", 200)):
        for i in range(n):
            rows.append({"video_id": vid, "frame": i, "au__AU01": float(i), "sync__offset": 2.0})
    fs = feature_set_from_table(pd.DataFrame(rows))
    assert fs.modalities == ["au"]
    assert set(fs.streams) == {"au"}
    assert fs.streams["au"].shape == (2, 150, 1)
    # first and last source frame land on the grid ends
    assert fs.streams["au"][0, 0, 0] == 0 and fs.streams["au"][0, -1, 0] == 39
    assert fs.streams["au"][1, -1, 0] == 199
    np.testing.assert_array_equal(fs.sync[:, 0], [2.0, 2.0])
    assert np.isnan(fs.sync[:, 1:]).all()


def test_per_video_table_is_constant_in_time_and_merges(tmp_path):
    vid = pd.DataFrame(
        {
            "video_id": ["a", "b"],
            "visual__sharp": [1.5, 2.5],
            "visual__blur": [0.1, 0.2],
            "sync__offset": [0.0, 3.0],
            "sync__distance": [7.0, 9.0],
            "sync__confidence": [5.0, 1.0],
        }
    )
    long = pd.DataFrame(
        {"video_id": ["b"] * 10, "frame": range(10), "au__AU45": np.linspace(0, 1, 10)}
    )
    vid.to_csv(tmp_path / "video.csv", index=False)
    long.to_parquet(tmp_path / "frames.parquet", index=False)
    fs = load_feature_table([tmp_path / "video.csv", tmp_path / "frames.parquet"])
    assert fs.video_ids == ["a", "b"]
    v = fs.streams["visual"]
    assert v.shape == (2, 150, 2)
    np.testing.assert_array_equal(
        v[:, :, 0], np.array([[1.5] * 150, [2.5] * 150], dtype=np.float32)
    )
    assert np.isnan(fs.streams["au"][0]).all()  # video 'a' has no AU rows
    np.testing.assert_allclose(fs.streams["au"][1, [0, -1], 0], [0.0, 1.0])
    np.testing.assert_array_equal(fs.sync[1], [3.0, 9.0, 1.0])


def test_duplicate_rows_error_names_rows():
    df = pd.DataFrame(
        {"video_id": ["a", "a", "a"], "frame": [0, 1, 1], "audio__x": [1.0, 2.0, 3.0]}
    )
    with pytest.raises(
        FeatureTableError, match=r"duplicate \(video_id, frame\).*'a'.*row 2.*row 3"
    ):
        feature_set_from_table(df, source="t.csv")


def test_duplicate_video_in_per_video_table():
    df = pd.DataFrame({"video_id": ["a", "b", "a"], "audio__x": [1.0, 2.0, 3.0]})
    with pytest.raises(FeatureTableError, match=r"'a'.*more than one row.*row 1.*row 3"):
        feature_set_from_table(df)


def test_unknown_prefix_and_unprefixed_column():
    df = pd.DataFrame({"video_id": ["a"], "frame": [0], "video__x": [1.0]})
    with pytest.raises(FeatureTableError, match=r"column 'video__x' has unknown prefix 'video'"):
        feature_set_from_table(df)
    df = pd.DataFrame({"video_id": ["a"], "frame": [0], "sharpness": [1.0]})
    with pytest.raises(FeatureTableError, match=r"column 'sharpness' has no modality prefix"):
        feature_set_from_table(df)
    df = pd.DataFrame({"video_id": ["a"], "sync__lag": [1.0]})
    with pytest.raises(FeatureTableError, match=r"unknown sync column 'sync__lag'"):
        feature_set_from_table(df)


def test_text_in_numeric_column_names_row_and_column(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("video_id,frame,audio__rms\nv1,0,0.5\nv1,1,oops\nv1,2,0.7\n")
    with pytest.raises(
        FeatureTableError,
        match=r"bad\.csv: row 2 \(CSV line 3\), column 'audio__rms': value 'oops'",
    ):
        load_feature_table(p)


def test_sync_must_be_constant_within_video():
    df = pd.DataFrame(
        {"video_id": ["a", "a"], "frame": [0, 1], "au__x": [0.0, 1.0], "sync__offset": [1.0, 2.0]}
    )
    with pytest.raises(FeatureTableError, match=r"'sync__offset' varies within video 'a'"):
        feature_set_from_table(df)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FeatureTableError, match="not found"):
        load_feature_table(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(FeatureTableError, match="unknown table format"):
        load_feature_table(tmp_path / "x.xlsx")


def test_params_switch_selects_table(tmp_path):
    from tqa.core.params import load_params
    from tqa.features.tables import features_for_training

    fs = _featureset(n=3)
    path = write_feature_table(fs, tmp_path / "f.csv")
    params = load_params(overrides={"byo.features_table": str(path)})
    got = features_for_training(params, ["v2", "v0"])
    assert got.video_ids == ["v2", "v0"]
    np.testing.assert_array_equal(got.streams["au"][0], fs.streams["au"][2])
    assert features_for_training(load_params()) is None  # default: extraction cache


def test_generated_table_feeds_training(tmp_path):
    """A generated long table with a planted signal (the score level in visual__q, au__AU12 and
    the sync confidence) trains via tqa.model.training.fit, and the model beats the train-mean
    predictor on the held-out rows by far."""
    n, T = 48, 150
    rng = np.random.default_rng(0)
    level = rng.uniform(1.5, 4.5, n)
    rows = []
    for i in range(n):
        frames = 60 + 10 * (i % 4)  # variable frame counts per video
        for f in range(frames):
            rows.append(
                {
                    "video_id": f"v{i:02d}",
                    "frame": f,
                    "visual__q": level[i] + 0.1 * rng.normal(),
                    "visual__n": rng.normal(),
                    "au__AU12": level[i] * 0.5 + 0.1 * rng.normal(),
                    "sync__offset": 0.0,
                    "sync__distance": 8.0,
                    "sync__confidence": level[i],
                }
            )
    table = tmp_path / "frames.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    params = tiny_params(
        {
            "byo.features_table": str(table),
            "train.epochs": 25,
            "train.seeds": [0],
            "train.warmup_epochs": 1,
            "train.lr": 0.003,
            "train.early_stopping_patience": 100,
        }
    )
    from tqa.features.tables import features_for_training

    fs = features_for_training(params)
    assert fs.streams["visual"].shape == (n, T, 2) and "audio" not in fs.streams
    labels = np.repeat(level[:, None], len(TASKS), axis=1)
    labels[::5, 1] = -1.0
    split = np.array(["train"] * 32 + ["val"] * 8 + ["test"] * 8)
    res = fit_fixed(fs, labels, split, params, tmp_path / "fit")
    pred = res.predict(fs)
    assert set(res.input_dims) == {"visual", "au"}
    held, tr = split != "train", split == "train"
    for k, task in enumerate(TASKS):
        m = held & (labels[:, k] != -1.0)
        mean = labels[tr & (labels[:, k] != -1.0), k].mean()
        mse_model = float(((pred[m, k] - labels[m, k]) ** 2).mean())
        mse_mean = float(((mean - labels[m, k]) ** 2).mean())
        assert mse_model < 0.3 * mse_mean, (task, mse_model, mse_mean)
