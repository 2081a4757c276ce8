"""tqa.features.cache: per-video .npz files, atomic writes, staleness, FeatureSet loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tqa.core.schema import FeatureSet
from tqa.features import cache as fc


def _streams(seed: int, t: int = 150) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = {
        "visual": rng.normal(size=(t, 56)),
        "audio": rng.normal(size=(t, 97)),
        "landmarks": rng.normal(size=(t, 1404)),
        "au": rng.normal(size=(t, 17)),
    }
    s["visual"][3] = np.nan
    return {k: v.astype(np.float32) for k, v in s.items()}


def _meta(h: str = "abc") -> dict:
    return {
        "config_hash": h,
        "extractors": {"visual": {"name": "nss", "version": "1", "dim": 56}},
        "names": {"visual": [f"v{i}" for i in range(56)], "au": [f"a{i}" for i in range(17)]},
    }


def test_roundtrip_and_is_cached_requires_same_config(tmp_path: Path) -> None:
    s = _streams(0)
    path = fc.write_features(tmp_path, "vid_a", s, np.array([2, 0.4, 0.1]), _meta("abc"))
    assert path == tmp_path / "vid_a.npz"
    streams, sync, meta = fc.read_features(path)
    for k in s:
        np.testing.assert_array_equal(streams[k], s[k])  # NaN in the same places too
    assert sync.dtype == np.float32 and sync.tolist() == pytest.approx([2, 0.4, 0.1])
    assert meta["config_hash"] == "abc"
    assert fc.is_cached(tmp_path, "vid_a", "abc")
    assert not fc.is_cached(tmp_path, "vid_a", "other-config")  # stale -> re-extract
    assert not fc.is_cached(tmp_path, "vid_b", "abc")


def test_is_cached_requires_the_same_source_content(tmp_path: Path) -> None:
    video = tmp_path / "vid_a.mp4"
    video.write_bytes(bytes(range(256)) * 20_000)  # 5 MB: head and tail hashed separately
    meta = {**_meta("abc"), "source_fingerprint": fc.source_fingerprint(video)}
    fc.write_features(tmp_path / "cache", "vid_a", _streams(0), np.zeros(3), meta)
    assert fc.is_cached(tmp_path / "cache", "vid_a", "abc", source=video)
    copy = tmp_path / "copy.mp4"  # same content elsewhere (e.g. a DVC checkout): still cached
    copy.write_bytes(video.read_bytes())
    assert fc.is_cached(tmp_path / "cache", "vid_a", "abc", source=copy)
    data = bytearray(video.read_bytes())
    data[-10] ^= 0xFF  # the video was rebuilt / re-encoded under the same id
    video.write_bytes(bytes(data))
    assert not fc.is_cached(tmp_path / "cache", "vid_a", "abc", source=video)
    assert fc.is_cached(tmp_path / "cache", "vid_a", "abc")  # config-only check still passes
    video.write_bytes(bytes(data[:-1]))  # a size change alone is also caught
    assert not fc.is_cached(tmp_path / "cache", "vid_a", "abc", source=video)


def test_interrupted_write_leaves_no_cache_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fc.write_npz

    def dying_write(path, arrays):  # write part of the file, then "crash"
        real(path, {k: arrays[k] for k in list(arrays)[:1]})
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(fc, "write_npz", dying_write)
    with pytest.raises(KeyboardInterrupt):
        fc.write_features(tmp_path, "vid_a", _streams(0), np.zeros(3), _meta())
    assert not (tmp_path / "vid_a.npz").exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is removed too
    assert not fc.is_cached(tmp_path, "vid_a", "abc")


def test_leftover_temp_and_truncated_files_do_not_count(tmp_path: Path) -> None:
    fc.write_features(tmp_path, "vid_a", _streams(0), np.zeros(3), _meta())
    data = (tmp_path / "vid_a.npz").read_bytes()
    (tmp_path / ".vid_b.npz.x1y2.npz").write_bytes(data[:1000])  # a temp file from a killed run
    (tmp_path / "vid_c.npz").write_bytes(data[: len(data) // 3])  # a truncated file (e.g. copied)
    assert not fc.is_cached(tmp_path, "vid_b", "abc")
    assert not fc.is_cached(tmp_path, "vid_c", "abc")
    assert fc.cached_ids(tmp_path) == ["vid_a", "vid_c"]


def test_load_feature_set_shapes_names_and_missing_ids(tmp_path: Path) -> None:
    for i, v in enumerate(["b", "a", "c"]):
        fc.write_features(tmp_path, v, _streams(i), np.array([i, 0.5, 0.2]), _meta())
    fs = fc.load_feature_set(tmp_path)
    assert isinstance(fs, FeatureSet) and fs.video_ids == ["a", "b", "c"]
    assert fs.streams["visual"].shape == (3, 150, 56) and fs.streams["landmarks"].shape == (
        3,
        150,
        1404,
    )
    assert fs.sync.shape == (3, 3) and fs.sync[:, 0].tolist() == [1, 0, 2]
    assert (
        fs.names["visual"][:2] == ["v0", "v1"] and fs.meta["extractors"]["visual"]["name"] == "nss"
    )
    np.testing.assert_array_equal(fs.streams["au"][2], _streams(2)["au"])
    sub = fc.load_feature_set(tmp_path, ["c", "a"], modalities=["au"])
    assert (
        list(sub.streams) == ["au"]
        and sub.streams["au"].shape == (2, 150, 17)
        and sub.video_ids == ["c", "a"]
    )
    with pytest.raises(FileNotFoundError, match="zz1"):
        fc.load_feature_set(tmp_path, ["a", "zz1", "zz2"])
    fc.write_features(
        tmp_path,
        "d",
        {**_streams(3), "visual": np.zeros((150, 10), np.float32)},
        np.zeros(3),
        _meta(),
    )
    with pytest.raises(ValueError, match="d.npz"):
        fc.load_feature_set(tmp_path)


def test_identical_features_give_identical_bytes(tmp_path: Path, monkeypatch) -> None:
    """The cache folder is a DVC output: two writes of the same features at different times,
    with different timings, give the same file; ``np.load`` reads every array back as
    ``np.savez`` would (oracle: the arrays themselves) and the machine's path is not kept."""
    import time as _time

    from tqa.core.params import ROOT

    s = _streams(1)
    meta = {**_meta(), "file": str(ROOT / "data/sample/videos/x.mp4"), "timings": {"au": 0.1}}
    a = fc.write_features(tmp_path / "a", "v", s, np.array([1, 0.5, 0.2]), meta)
    monkeypatch.setattr(_time, "time", lambda: 2_000_000_000.0)  # zipfile's clock, years later
    meta2 = {**meta, "timings": {"au": 9.9}, "created": "2031-01-01T00:00:00+00:00"}
    b = fc.write_features(tmp_path / "b", "v", s, np.array([1, 0.5, 0.2]), meta2)
    assert a.read_bytes() == b.read_bytes()
    streams, sync, m = fc.read_features(b)
    for k in s:
        np.testing.assert_array_equal(streams[k], s[k])
    assert m["file"] == "data/sample/videos/x.mp4"
    assert "timings" not in m and "created" not in m
    with np.load(b) as z:  # plain numpy reads it; members in a fixed order
        assert sorted(z.files) == z.files == sorted([*s, "sync", "meta"])


def test_atomic_write_gives_the_mode_open_would(tmp_path):
    """mkstemp creates 0600 files; an atomically written report must be readable like one
    written with open() (oracle: a plain open() under the same umask)."""
    from tqa.core.atomic import write_text

    write_text(tmp_path / "atomic.txt", "x")
    (tmp_path / "plain.txt").write_text("x")
    mode = lambda p: (tmp_path / p).stat().st_mode & 0o777  # noqa: E731
    assert mode("atomic.txt") == mode("plain.txt")
