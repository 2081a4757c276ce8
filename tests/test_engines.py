"""Extraction engines: registry, Dask engine on a loopback LocalCluster, fsspec cache.

The Dask cluster is started by the tests on 127.0.0.1 (TCP, in-process worker threads so
that it starts in well under a second and ``memory://`` is shared with the workers); one
slow test uses real worker processes, as ``tqa extract --engine dask`` does.
"""

from __future__ import annotations

import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tqa.core.params import load_params
from tqa.features import cache as fcache
from tqa.features.engines import available_engines, get_engine, remote_cache

distributed = pytest.importorskip("distributed")


# ---------------------------------------------------------------------------- helpers
def _make_video(path: Path, n_frames: int = 25, size: int = 160, seed: int = 0) -> Path:
    """A small real talking-face-like mp4: the astronaut's face drifting, a tone as audio."""
    import av
    import cv2
    from skimage import data

    face = data.astronaut()[0:260, 120:380]  # RGB crop around the face
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        a_s = out.add_stream("aac", rate=16000)
        a_s.layout = "mono"
        for _ in range(n_frames):
            dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
            frame = cv2.resize(
                np.roll(face, (dy, dx), axis=(0, 1)), (size, size), interpolation=cv2.INTER_AREA
            )
            for pkt in vs.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        t = np.arange(int(16000 * n_frames / 25)) / 16000
        wav = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(
            np.float32
        )
        for start in range(0, len(wav), 1024):
            chunk = wav[start : start + 1024][None, :]
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            af.sample_rate = 16000
            af.pts = start
            af.time_base = Fraction(1, 16000)
            for pkt in a_s.encode(af):
                out.mux(pkt)
        for pkt in a_s.encode():
            out.mux(pkt)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[tuple[str, str]]:
    d = tmp_path_factory.mktemp("engine_videos")
    return [(f"v{i}", str(_make_video(d / f"v{i}.mp4", seed=i))) for i in range(2)]


@pytest.fixture(scope="module")
def params() -> dict:
    p = load_params()
    p["features"]["workers"] = 1
    return p


@pytest.fixture(scope="module")
def client():
    """Two worker threads behind a real TCP scheduler on the loopback interface."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    )
    cl = distributed.Client(cluster)
    assert cl.scheduler.address.startswith("tcp://127.0.0.1:")
    yield cl
    cl.close()
    cluster.close()


def _mem_url() -> str:
    return f"memory://tqa-test-{uuid.uuid4().hex}/features"


def _fake_entry(cache_dir, video_id: str, config_hash: str, value: float = 1.0) -> dict:
    streams = {
        "visual": np.full((150, 3), value, np.float32),
        "au": np.arange(150 * 2, dtype=np.float32).reshape(150, 2),
    }
    sync = np.array([value, 2.0, 3.0], np.float32)
    fcache.write_features(
        cache_dir,
        video_id,
        streams,
        sync,
        {"config_hash": config_hash, "names": {"visual": ["a", "b", "c"], "au": ["x", "y"]}},
    )
    return {"streams": streams, "sync": sync}


# ---------------------------------------------------------------------------- registry
def test_registry_lists_engines_and_rejects_unknown():
    assert {"local", "dask"} <= set(available_engines())
    assert callable(get_engine("dask")) and callable(get_engine("local"))
    with pytest.raises(KeyError, match="available"):
        get_engine("ray-not-here")


def test_engine_flags_parse_and_default_from_params(params):
    import argparse

    from tqa.features.engines.cli import add_engine_arguments, engine_name

    ap = add_engine_arguments(argparse.ArgumentParser())
    ns = ap.parse_args(["--engine", "dask", "--address", "tcp://10.0.0.1:8786"])
    assert (ns.engine, ns.address) == ("dask", "tcp://10.0.0.1:8786")
    assert engine_name(ap.parse_args([]).engine, params) == params["features"]["engine"]
    with pytest.raises(SystemExit):
        ap.parse_args(["--engine", "nope"])
    with pytest.raises(ValueError, match="local engine takes no cluster address"):
        get_engine("local")([], params, "x", address="tcp://h:1")


# ---------------------------------------------------------------------------- fsspec cache
@pytest.mark.parametrize(
    "url,local",
    [
        ("data/features", "data/features"),
        ("/abs/f", "/abs/f"),
        ("file:///abs/f", "/abs/f"),
        ("memory://x/f", None),
        ("s3://bucket/f", None),
        ("ssh://h/p", None),
    ],
)
def test_is_remote_and_local_dir(url, local):
    assert remote_cache.is_remote(url) is (local is None)
    if local is None:
        with pytest.raises(ValueError, match="remote URL"):
            remote_cache.local_dir(url)
    else:
        assert remote_cache.local_dir(url) == Path(local)


def test_memory_cache_push_check_pull_roundtrip(tmp_path):
    local, back, url = tmp_path / "local", tmp_path / "back", _mem_url()
    want = {v: _fake_entry(local, v, "h1", value=i) for i, v in enumerate(["a", "b"])}
    assert remote_cache.push(local, url) == ["a", "b"]
    fs, root = remote_cache.get_fs(url)
    assert not [p for p in fs.ls(root, detail=False) if ".part" in p]  # uploads renamed into place
    assert remote_cache.is_cached(url, "a", "h1")
    assert not remote_cache.is_cached(url, "a", "another-config")  # stale entry
    assert not remote_cache.is_cached(url, "zz", "h1")  # absent entry
    with fs.open(f"{root}/c.npz", "wb") as fh:  # corrupt entry
        fh.write(b"not a zip")
    assert not remote_cache.is_cached(url, "c", "h1")
    assert remote_cache.pull(url, back, ["a", "b"]) == ["a", "b"]
    fset = fcache.load_feature_set(back, ["a", "b"])
    for i, v in enumerate(["a", "b"]):
        np.testing.assert_array_equal(fset.streams["visual"][i], want[v]["streams"]["visual"])
        np.testing.assert_array_equal(fset.sync[i], want[v]["sync"])
    with pytest.raises(KeyError, match="zz"):
        remote_cache.pull(url, back, ["zz"])


def test_failures_csv_appends_on_object_store_and_locally(tmp_path):
    for target in (_mem_url(), str(tmp_path / "cache")):
        remote_cache.append_failures(
            target, [{"video_id": "a", "file": "a.mp4", "stage": "decode", "reason": "r1"}]
        )
        remote_cache.append_failures(
            target, [{"video_id": "b", "file": "b.mp4", "stage": "decode", "reason": "r2"}]
        )
        table = remote_cache.read_failures(target)
        assert table["video_id"].tolist() == ["a", "b"], target


# --------------------------------------------------------------------------- dask engine, fake task
def test_dask_engine_skips_cached_records_failures_keeps_order(
    tmp_path, client, params, monkeypatch
):
    """Control flow with a stand-in task: cached ids never submitted, a raising task is a row."""
    from tqa.features.engines import dask_engine

    calls: list[str] = []

    def fake_extract_one(video_id, path, p, cache_dir):
        calls.append(video_id)
        if video_id == "bad":
            raise RuntimeError(f"cannot decode {path}")
        _fake_entry(cache_dir, video_id, "H")
        return {"video_id": video_id, "status": "extracted", "reason": "", "seconds": 0.01}

    monkeypatch.setattr(dask_engine, "extract_one", fake_extract_one)
    monkeypatch.setattr(dask_engine, "config_hash_of", lambda p: "H")
    cache = tmp_path / "cache"
    _fake_entry(cache, "done", "H")
    vids = [("x", "x.mp4"), ("done", "done.mp4"), ("bad", "bad.mp4"), ("y", "y.mp4")]
    p = dict(params, scale={"dask": {"retries": 0}})
    table = dask_engine.run_dask(vids, p, str(cache), client=client, progress=False)
    assert table["video_id"].tolist() == ["x", "done", "bad", "y"]
    assert table.set_index("video_id")["status"].to_dict() == {
        "x": "extracted",
        "done": "cached",
        "bad": "failed",
        "y": "extracted",
    }
    assert sorted(calls) == ["bad", "x", "y"]
    assert "cannot decode" in table.set_index("video_id").loc["bad", "reason"]
    fails = pd.read_csv(cache / "failures.csv")
    assert fails["video_id"].tolist() == ["bad"] and fails["file"].iloc[0].endswith("bad.mp4")
    calls.clear()
    again = dask_engine.run_dask(vids, p, str(cache), client=client, progress=False)
    assert calls == ["bad"]  # finished work is never redone
    assert (again.set_index("video_id").loc[["x", "y", "done"], "status"] == "cached").all()


# --------------------------------------------------------------------- dask engine, real extraction
def test_dask_equals_local_and_resumes(tmp_path, videos, params, client):
    from tqa.features.engines.dask_engine import run_dask

    local = get_engine("local")(videos, params, str(tmp_path / "local"), workers=1, progress=False)
    assert set(local["status"]) == {"extracted"}, local
    first = run_dask(videos, params, str(tmp_path / "dask"), client=client, progress=False)
    assert first["status"].tolist() == ["extracted", "extracted"], first
    second = run_dask(videos, params, str(tmp_path / "dask"), client=client, progress=False)
    assert second["status"].tolist() == ["cached", "cached"]
    ids = [v for v, _ in videos]
    a = fcache.load_feature_set(tmp_path / "local", ids)
    b = fcache.load_feature_set(tmp_path / "dask", ids)
    assert a.modalities == b.modalities and len(a.modalities) == 4
    for m in a.modalities:
        np.testing.assert_allclose(
            b.streams[m], a.streams[m], rtol=1e-5, atol=1e-5, equal_nan=True, err_msg=m
        )
        assert np.isfinite(a.streams[m]).any(), f"{m}: all NaN, the comparison would be vacuous"
    np.testing.assert_allclose(b.sync, a.sync, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_dask_bad_file_fails_alone(tmp_path, videos, params, client):
    from tqa.features.engines.dask_engine import run_dask

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(Path(videos[0][1]).read_bytes()[:300])  # truncated container
    table = run_dask(
        [("broken", str(bad)), videos[1]],
        params,
        str(tmp_path / "c"),
        client=client,
        progress=False,
    )
    st = table.set_index("video_id")["status"]
    assert st["broken"] == "failed" and st[videos[1][0]] == "extracted"
    assert "broken" in set(pd.read_csv(tmp_path / "c" / "failures.csv")["video_id"].astype(str))


def test_dask_into_object_store_cache(tmp_path, videos, params, client):
    from tqa.features.engines.dask_engine import run_dask

    url = _mem_url()
    first = run_dask(videos[:1], params, url, client=client, progress=False)
    assert first["status"].tolist() == ["extracted"]
    assert first["cache"].iloc[0] == f"{url}/{videos[0][0]}.npz"
    assert run_dask(videos[:1], params, url, client=client, progress=False)["status"].tolist() == [
        "cached"
    ]
    remote_cache.pull(url, tmp_path / "pulled")
    direct = get_engine("local")(
        videos[:1], params, str(tmp_path / "direct"), workers=1, progress=False
    )
    assert direct["status"].tolist() == ["extracted"]
    a = fcache.load_feature_set(tmp_path / "direct")
    b = fcache.load_feature_set(tmp_path / "pulled")
    for m in a.modalities:
        np.testing.assert_allclose(b.streams[m], a.streams[m], rtol=1e-5, atol=1e-5, equal_nan=True)


def test_local_engine_into_object_store_cache(tmp_path, videos, params):
    """The local engine stages entries locally and uploads them; a re-run finds them remotely."""
    url, bad = _mem_url(), tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    todo = [videos[0], ("broken", str(bad))]
    local = get_engine("local")
    first = local(todo, params, url, workers=1, progress=False)
    assert first.set_index("video_id")["status"].to_dict() == {
        videos[0][0]: "extracted",
        "broken": "failed",
    }
    assert local(todo, params, url, workers=1, progress=False)["status"].tolist() == [
        "cached",
        "failed",
    ]
    assert remote_cache.read_failures(url)["video_id"].astype(str).tolist() == ["broken", "broken"]
    fs, root = remote_cache.get_fs(url)
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)) == [
        "failures.csv",
        f"{videos[0][0]}.npz",
    ]


@pytest.mark.slow
def test_dask_engine_own_local_cluster_processes(tmp_path, videos, params):
    """The path `tqa extract --engine dask` takes with no address: worker PROCESSES on 127.0.0.1."""
    from tqa.features.engines.cli import run_engine

    table = run_engine("dask", videos, params, str(tmp_path / "c"), workers=2, progress=False)
    assert table["status"].tolist() == ["extracted", "extracted"], table
    assert table["worker"].str.startswith("tcp://127.0.0.1:").all()
    assert table["worker"].nunique() == 2  # both worker processes got a video
    assert (
        run_engine("dask", videos, params, str(tmp_path / "c"), workers=2, progress=False)["status"]
        .eq("cached")
        .all()
    )


# ---------------------------------------------------------------------------- worker memory
@pytest.mark.parametrize("setting", [4 * 1024 * 1024, None])
def test_local_cluster_workers_get_the_malloc_trim_threshold(setting, monkeypatch):
    """``scale.dask.malloc_trim_threshold`` reaches the worker processes' environment before
    they start (glibc reads it once); empty leaves Dask's own 65536. Read back inside each
    worker with ``client.run``, not from the config."""
    import os

    import distributed

    from tqa.features.engines.dask_engine import start_local_cluster

    # a Nanny writes the variable into this process's environment too, where it would win
    # over the config for the next cluster: start from none, and have it restored after
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")

    params = {"scale": {"dask": {"malloc_trim_threshold": setting}}}
    with start_local_cluster(2, params) as cluster, distributed.Client(cluster) as cl:
        seen = cl.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(seen) == 2
    want = str(setting) if setting is not None else "65536"
    assert set(seen.values()) == {want}
