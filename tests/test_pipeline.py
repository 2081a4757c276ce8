"""tqa.features.pipeline: FeatureExtractor end to end, resume, failures, parallel workers, CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_media import face_frames, tone

from tqa.core.params import load_params
from tqa.core.schema import TASKS
from tqa.features import cache as fc
from tqa.features import extract as extract_cmd
from tqa.features import status as run_status
from tqa.features.config import config_hash_from_params
from tqa.features.decode import write_video
from tqa.features.pipeline import FeatureExtractor, extract_one


def _params(n_frames: int = 50, **features) -> dict:
    p = copy.deepcopy(load_params())
    p["features"].update({"n_frames": n_frames, "workers": 1, **features})
    return p


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    d = tmp_path_factory.mktemp("vids")
    out = []
    for i in range(2):
        p = d / f"v{i}.mp4"
        write_video(p, face_frames(50, 128), 25, tone(2.0, 300 + 100 * i, 0.3))
        out.append((f"v{i}", str(p)))
    short = d / "short.mp4"  # 1 s at 25 fps -> frames 25.. padded
    write_video(short, face_frames(25, 128), 25)
    out.append(("short", str(short)))
    bad = d / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00 ftypisom garbage" * 50)
    out.append(("bad", str(bad)))
    return out


def test_extract_clip_shapes_names_meta_and_padding(videos) -> None:
    fe = FeatureExtractor(_params())
    assert set(fe.extractors) == {"landmarks", "visual", "audio", "au", "sync"}
    vf = fe.extract_video(dict(videos)["short"], "short")
    dims = {m: e.dim for m, e in fe.extractors.items()}
    for m, arr in vf.streams.items():
        assert arr.shape == (50, dims[m]) and arr.dtype == np.float32
        assert len(vf.meta["names"][m]) == dims[m]
    assert np.isnan(vf.streams["visual"][25:]).all()  # padded frames carry no data
    assert np.isfinite(vf.streams["visual"][:25, :28]).all()
    assert np.isnan(vf.streams["audio"]).all() and not vf.meta["has_audio"]  # no audio track
    assert np.isnan(vf.sync).all() and vf.meta["face_rate"] == pytest.approx(1.0)
    assert vf.meta["config_hash"] == fe.config_hash and vf.meta["n_valid_frames"] == 25


def test_the_same_audio_reads_the_same_under_videos_of_different_lengths(tmp_path: Path) -> None:
    # The swap test in miniature: 1.2 s of one sound under a 1.2 s and a 2 s video. The frames
    # past the sound's end are NaN in the audio stream (not silence), so the audio stream's
    # pooled mean, what audio_quality reads, is the same under both (up to AAC's noise);
    # before, the 2 s video averaged 0.8 s of padding in.
    fe = FeatureExtractor(_params(n_frames=50, visual="nss", audio="spectral", au="geometry"))
    sound = tone(1.2, 300, 0.3) * (1 + np.sin(np.linspace(0, 20, 19200))).astype(np.float32)
    out = {}
    for name, n_video in (("short", 30), ("long", 50)):
        p = tmp_path / f"{name}.mp4"
        write_video(p, face_frames(n_video, 96), 25, sound)
        out[name] = fe.extract_video(str(p), name).streams["audio"]
    long_rows = np.isfinite(out["long"]).any(axis=1)
    assert 28 <= long_rows.sum() <= 32 and not long_rows[33:].any()  # 1.2 s = 30 frames
    m_short = np.nanmean(out["short"], axis=0)
    m_long = np.nanmean(out["long"], axis=0)
    scale = np.nanstd(out["long"], axis=0) + 1e-3
    assert np.max(np.abs(m_short - m_long) / scale) < 0.1


def test_config_hash_tracks_outputs_not_runtime_knobs() -> None:
    h = FeatureExtractor(_params()).config_hash
    assert FeatureExtractor(_params(workers=7, cache_dir="elsewhere")).config_hash == h
    assert FeatureExtractor(_params(normalize_landmarks=False)).config_hash != h
    assert FeatureExtractor(_params(audio_egemaps=False)).config_hash != h


def test_config_hash_is_fixed_when_the_extractor_is_built() -> None:
    """Editing the caller's params after construction changes neither the extractors nor the
    cache key; a new extractor on the edited params gets another key (the oracle: hashes of
    fresh extractors on each params dict)."""
    params = load_params()
    before = FeatureExtractor(copy.deepcopy(params)).config_hash
    fx = FeatureExtractor(params)
    params["features"]["sync_max_offset"] = int(params["features"]["sync_max_offset"]) + 3
    assert fx.config_hash == before
    assert FeatureExtractor(params).config_hash != before


def test_run_resumes_logs_failures_and_never_crashes(videos, tmp_path: Path, monkeypatch) -> None:
    fe = FeatureExtractor(_params())
    calls: list[str] = []
    real = FeatureExtractor.extract_video

    def counting(self, path, video_id):
        calls.append(video_id)
        return real(self, path, video_id)

    monkeypatch.setattr(FeatureExtractor, "extract_video", counting)
    table = fe.run(videos, tmp_path, workers=1, progress=False)
    assert table["video_id"].tolist() == [v for v, _ in videos]
    status = dict(zip(table["video_id"], table["status"]))
    assert status == {"v0": "extracted", "v1": "extracted", "short": "extracted", "bad": "failed"}
    fail = pd.read_csv(tmp_path / "failures.csv")
    assert fail["video_id"].tolist() == ["bad"] and fail["stage"].tolist() == ["decode"]
    assert "bad.mp4" in fail["file"][0] and set(run_status.FAILURE_COLUMNS) <= set(fail.columns)
    assert sorted(calls) == sorted(["v0", "v1", "short", "bad"])

    # simulate a run killed while writing v1: its final file is gone, a temp file is left over
    (tmp_path / "v1.npz").unlink()
    (tmp_path / ".v1.npz.abcd.npz").write_bytes(b"partial")
    calls.clear()
    table2 = fe.run(videos, tmp_path, workers=1, progress=False)
    assert sorted(calls) == ["bad", "v1"]  # finished videos are skipped, failed ones retried
    assert dict(zip(table2["video_id"], table2["status"]))["v0"] == "cached"
    assert len(pd.read_csv(tmp_path / "failures.csv")) == 2

    fs = fc.load_feature_set(tmp_path, ["v0", "v1", "short"])
    assert fs.streams["landmarks"].shape == (3, 50, 1404) and fs.sync.shape == (3, 3)
    # a different configuration makes the cache stale
    calls.clear()
    alt = FeatureExtractor(_params(audio_egemaps=False))
    alt.run(videos[:1], tmp_path, workers=1, progress=False)
    assert calls == ["v0"]
    # the same content at another path is still cached; another video under the id is not
    src = tmp_path / "src" / "v0.mp4"
    src.parent.mkdir()
    src.write_bytes(Path(videos[0][1]).read_bytes())
    calls.clear()
    alt.run([("v0", str(src))], tmp_path, workers=1, progress=False)
    assert calls == []
    src.write_bytes(Path(videos[1][1]).read_bytes())  # e.g. a rebuilt corpus
    alt.run([("v0", str(src))], tmp_path, workers=1, progress=False)
    assert calls == ["v0"]


def test_extract_one_is_a_picklable_task(videos, tmp_path: Path) -> None:
    import pickle

    assert pickle.loads(pickle.dumps(extract_one)) is extract_one
    row = extract_one("v0", dict(videos)["v0"], _params(), str(tmp_path))
    assert row["status"] == "extracted" and (tmp_path / "v0.npz").is_file()
    row = extract_one("bad", dict(videos)["bad"], _params(), str(tmp_path))
    assert row["status"] == "failed" and row["stage"] == "decode"


@pytest.mark.slow
def test_process_pool_matches_in_process(videos, tmp_path: Path) -> None:
    p = _params()
    t1 = FeatureExtractor(p).run(videos, tmp_path / "one", workers=1, progress=False)
    t2 = FeatureExtractor(p).run(videos, tmp_path / "two", workers=2, progress=False)
    assert t1["status"].tolist() == t2["status"].tolist()
    assert t2.loc[t2.status == "extracted", "worker"].nunique() >= 1
    a = fc.load_feature_set(tmp_path / "one", ["v0", "v1", "short"])
    b = fc.load_feature_set(tmp_path / "two", ["v0", "v1", "short"])
    for m in a.streams:
        # bit for bit: extraction runs BLAS on one thread in both (FeatureExtractor.
        # extract_clip); with the parent's 2 threads against workers' 1 (a Dask cluster
        # sets OMP/OPENBLAS_NUM_THREADS=1 in the parent, which the pool inherits) 0.23 % of
        # the audio values differed, by up to several rounding steps
        np.testing.assert_array_equal(a.streams[m], b.streams[m])
    assert len(pd.read_csv(tmp_path / "two" / "failures.csv")) == 1


def _write_corpus_clip(path: Path, row: dict, corpus: dict, seed: int, side: int, **over) -> dict:
    """A planned corpus ``row`` rendered clean (every degradation neutral, 150 frames at 25 fps,
    side x side px, its own audio) with ``over`` set, written to ``path``; the row rendered."""
    from tqa.data.corpus.build import render_video
    from tqa.data.corpus.profiles import clean_row

    row = clean_row(row)
    row.update(fps=25, n_frames=150, height=side, width=side, swapped_audio=0, **over)
    frames, audio = render_video(row, corpus, seed)
    write_video(path, frames, 25, audio)
    return row


@pytest.mark.parametrize("k", [5, -6])
def test_sync_recovers_injected_offset_on_a_rendered_corpus_clip(
    tmp_path: Path, k: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A corpus talking face (tqa.data.corpus) with its audio delayed by k frames: the offset
    reads k within one frame (#26's criterion).

    The identity is drawn from the study's seed so that its landmarks come from the committed
    table (landmarks.json) and the rendered bytes are the same on every machine; a seed outside
    the table detects them live, and on another CPU the morph, and with it the reading, moved by
    a frame (CI read 6 for 5 with seed 1). Face Mesh on the rendered frames still runs live, so
    the reading may move by one frame between machines; more than one is a miss."""
    from tqa.data.corpus.profiles import plan_corpus

    p = _params(n_frames=150)
    seed = int(p["seed"])
    path = tmp_path / "c.mp4"
    _write_corpus_clip(
        path,
        plan_corpus(4, p["corpus"], seed).iloc[3].to_dict(),
        p["corpus"],
        seed,
        160,
        identity=2,  # a frontal face (astronaut source); profile faces are harder to sync
        av_offset_frames=k,
        mouth_lag_s=0.0,
        expr_mismatch=0,
    )
    assert "detected live" not in caplog.text  # the identity came from the committed table
    vf = FeatureExtractor(p).extract_video(str(path), "c")
    assert vf.meta["face_rate"] > 0.9
    # offset found; the best-lag (SyncNet-rule) prominence is high, the lag-0 in-sync
    # confidence (SYNC_FIELDS "confidence") is below it: the clip is not in sync
    assert abs(vf.sync[0] - k) <= 1 and vf.meta["sync_detail"]["best_confidence"] > 0.1
    assert vf.sync[2] < vf.meta["sync_detail"]["best_confidence"] - 0.1


def test_cli_extract_writes_cache_and_summary(videos, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    (root / "videos").mkdir(parents=True)
    rows = []
    for vid, path in videos[:2]:
        (root / "videos" / f"{vid}.mp4").write_bytes(Path(path).read_bytes())
        rows.append({"video_id": vid, **{t: 3.0 for t in TASKS}})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    params_path = tmp_path / "params.yaml"
    import yaml

    p = _params()
    params_path.write_text(yaml.safe_dump(p))
    summary = tmp_path / "summary.json"
    argv = [
        "--params",
        str(params_path),
        "--root",
        str(root),
        "--cache",
        str(tmp_path / "cache"),
        "--workers",
        "1",
        "--summary",
        str(summary),
        "--no-progress",
        "--engine",
        "local",
    ]
    rc = extract_cmd.main(argv)
    assert rc == 0
    s = json.loads(summary.read_text())
    assert s["counts"] == {"with_features": 2} and s["face_rate_mean"] == pytest.approx(1.0)
    first = summary.read_bytes()
    assert extract_cmd.main(argv) == 0  # all cached now: the tracked summary does not change
    assert summary.read_bytes() == first
    assert set(s["nan_rate"]) == {"visual", "audio", "landmarks", "au"}
    assert sorted(fc.cached_ids(tmp_path / "cache")) == ["v0", "v1"]
    assert extract_cmd.main(["--list"]) == 0


@pytest.mark.slow
def test_notebook_02_runs_on_a_tiny_dataset(tmp_path: Path) -> None:
    """`tqa extract` then papermill notebooks/02 on 3 rendered corpus clips with offsets."""
    import subprocess
    import sys

    import yaml

    from tqa.core.params import ROOT
    from tqa.data.corpus.profiles import plan_corpus

    p = _params(n_frames=150)
    root = tmp_path / "ds"
    (root / "videos").mkdir(parents=True)
    plan = plan_corpus(3, p["corpus"], 2)
    rows, deg = [], []
    for i, planned in enumerate(plan.to_dict("records")):
        path = root / "videos" / f"{planned['video_id']}.mp4"
        row = _write_corpus_clip(path, planned, p["corpus"], 2, 128, av_offset_frames=[0, 4, -5][i])
        rows.append({"video_id": row["video_id"], **{t: 3.0 for t in TASKS}})
        deg.append({"video_id": row["video_id"], "av_offset_frames": row["av_offset_frames"]})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    pd.DataFrame(deg).to_csv(root / "degradations.csv", index=False)
    p["data"]["root"] = str(root)
    p["features"]["cache_dir"] = str(tmp_path / "cache")
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(p))
    assert (
        extract_cmd.main(
            [
                "--params",
                str(params_path),
                "--workers",
                "1",
                "--no-progress",
                "--engine",
                "local",
                "--summary",
                str(tmp_path / "summary.json"),
            ]
        )
        == 0
    )
    out_nb = tmp_path / "02.ipynb"
    reports = tmp_path / "reports"
    cmd = [
        str(Path(sys.executable).parent / "papermill"),
        "-k",
        "python3",
        str(ROOT / "notebooks" / "02_feature_extraction.ipynb"),
        str(out_nb),
        "-p",
        "params_path",
        str(params_path),
        "-p",
        "reports_dir",
        str(reports),
    ]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    agree = pd.read_csv(reports / "data" / "sync_offset_agreement.csv")
    assert agree.loc[0, "n"] == 3
    for name in ("features_face_rate", "features_scale", "sync_offset_vs_injected"):
        assert (reports / "figures" / f"{name}.png").is_file() and (
            reports / "figures" / f"{name}.txt"
        ).is_file()
    scale = pd.read_csv(reports / "data" / "features_scale.csv")
    assert set(scale["modality"]) == {"visual", "audio", "landmarks", "au"}


def test_tiny_corpus_extracts_and_sync_matches_injected_offsets(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """The embedded corpus (tests/conftest.py): every clip extracts, faces are found, and the
    weight-free offset equals the injected ``av_offset_frames`` where that is the only A/V shift."""
    from tqa.features.extract import list_videos

    p = _params(n_frames=150)
    videos = list_videos(tiny_corpus, p)
    table = FeatureExtractor(p).run(videos, tmp_path, workers=1, progress=False)
    assert (table["status"] == "extracted").all(), table[["video_id", "reason"]]
    meta = fc.cache_meta_table(tmp_path)
    assert meta["face_rate"].min() > 0.9
    assert (meta["source_fps"].round(2) != 25).any() or (
        meta["source_frames"] != 150
    ).any()  # off-format clip
    fs = fc.load_feature_set(tmp_path)
    deg = pd.read_csv(tiny_corpus / "degradations.csv", dtype={"video_id": str}).set_index(
        "video_id"
    )
    d = deg.loc[fs.video_ids]
    inj = d["av_offset_frames"].to_numpy()
    # clips whose audio is their own and whose mouth follows it everywhere (no sluggish mouth,
    # no desynchronised or frozen segment): the whole-clip offset is the only A/V shift
    own = (
        (d["swapped_audio"] == 0)
        & (d["mouth_lag_s"] == 0)
        & (d["seg_desync_frames"] == 0)
        & (d["mouth_freeze_dur_s"] == 0)
    ).to_numpy()
    est = fs.sync[:, 0]
    assert own.sum() >= 2 and np.any(inj[own] != 0)  # the corpus injects at least one offset
    # within one frame: the corpus drives mouth[t] by the audio of [t, t + 1) / fps, half a
    # frame ahead of the extractor's envelope window centred on t / fps (centred: right on
    # real recordings, reports/real_clips.md), so a rendered offset may round either way
    # ... and the three-quarter-view identities (cameraman morphs) are rendered with a mouth
    # seam, and the estimator's parameters were chosen on real recordings (where it is within
    # one frame: tests/test_real_clips.py): on these synthetic mouths every clip within 2
    err = np.abs(est[own] - inj[own])
    detail = list(zip(np.asarray(fs.video_ids)[own], inj[own], est[own]))
    assert np.all(err <= 2), detail


def test_config_hash_from_params_equals_the_extractors_hash() -> None:
    for p in (
        _params(),
        _params(normalize_landmarks=False, workers=3),
        _params(audio="spectral", n_mels=20),
    ):
        assert config_hash_from_params(p) == FeatureExtractor(p).config_hash
    assert config_hash_from_params(_params()) != config_hash_from_params(
        _params(audio_egemaps=False)
    )
    # a neural extractor without weights: FeatureExtractor refuses, the hash function does not
    from tqa.features.extractors.neural import random_init_allowed
    from tqa.features.nets.weights import WeightsError

    p = _params(visual="resnet101", weights={"resnet101": None, "hubert": None, "syncnet": None})
    try:
        FeatureExtractor(p)
    except WeightsError:
        pass  # expected where no ResNet-101 weights are installed
    h = config_hash_from_params(p)
    with random_init_allowed():
        fe = FeatureExtractor(p)
    assert h == fe.config_hash and h != config_hash_from_params(_params())


def test_failed_re_extraction_removes_the_stale_cache_file(videos, tmp_path: Path, caplog) -> None:
    import logging

    fe = FeatureExtractor(_params())
    vid_dir = tmp_path / "cache"
    good = dict(videos)["v0"]
    assert fe.process_one("x", good, vid_dir)["status"] == "extracted"
    assert (vid_dir / "x.npz").is_file()
    # the video under id "x" is now broken (a rebuilt corpus): its re-extraction fails
    with caplog.at_level(logging.WARNING, logger="tqa.features.pipeline"):
        row = fe.process_one("x", dict(videos)["bad"], vid_dir)
    assert row["status"] == "failed" and not (vid_dir / "x.npz").exists()
    assert pd.read_csv(vid_dir / "failures.csv")["video_id"].astype(str).tolist() == ["x"]
    # another id's file is untouched
    fe.process_one("y", good, vid_dir)
    fe.process_one("z", dict(videos)["bad"], vid_dir)
    assert (vid_dir / "y.npz").is_file()


def test_no_audio_and_low_face_rate_are_logged(tmp_path: Path, caplog) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="tqa.features.pipeline"):
        run_status.warn_quality("a", "/videos/a.mp4", {"has_audio": False, "face_rate": 1.0})
        run_status.warn_quality("b", "/videos/b.mp4", {"has_audio": True, "face_rate": 0.3})
        run_status.warn_quality("c", "/videos/c.mp4", {"has_audio": True, "face_rate": 0.5})
        run_status.warn_quality("d", "/videos/d.mp4", {"has_audio": True, "face_rate": None})
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(msgs) == 2
    assert "/videos/a.mp4" in msgs[0] and "no audio" in msgs[0]
    assert "/videos/b.mp4" in msgs[1] and "30%" in msgs[1]


def test_process_one_warns_about_a_video_without_audio(videos, tmp_path: Path, caplog) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="tqa.features.pipeline"):
        row = FeatureExtractor(_params()).process_one("short", dict(videos)["short"], tmp_path)
    assert row["status"] == "extracted" and row["has_audio"] is False
    assert any(
        "no audio track" in r.getMessage() and "short.mp4" in r.getMessage() for r in caplog.records
    )


def test_feature_cache_key_follows_the_decoder_version(monkeypatch):
    """A change of decoded pixels (DECODE_VERSION bump) must re-extract, not reuse the cache."""
    from tqa.core.params import load_params
    from tqa.features import config

    p = load_params()
    before = config.config_hash_from_params(p)
    monkeypatch.setattr(config, "DECODE_VERSION", config.DECODE_VERSION + 1)
    assert config.config_hash_from_params(p) != before
