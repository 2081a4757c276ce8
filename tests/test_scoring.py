"""`tqa score` (tqa.serve.scoring): real tiny videos, a 1-epoch bundle, a bad file in the batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tiny_fit import fit_fixed, tiny_params

from tqa.core.params import load_params
from tqa.core.schema import TASKS, FeatureSet
from tqa.serve.score_inputs import display_ids, find_videos
from tqa.serve.score_output import COLUMNS, format_table, write_scores

# ----------------------------------------------------------------------------- pure helpers


def test_find_videos_expands_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "sub").mkdir()
    for p in ("a/x.mp4", "a/sub/y.MOV", "a/notes.txt", "a/.hidden.mp4", "z.avi"):
        (tmp_path / p).write_bytes(b"")
    got = find_videos(
        [tmp_path / "a", tmp_path / "z.avi", tmp_path / "a" / "x.mp4", tmp_path / "missing.mp4"]
    )
    assert [p.relative_to(tmp_path).as_posix() for p in got] == [
        "a/sub/y.MOV",
        "a/x.mp4",
        "z.avi",
        "missing.mp4",
    ]
    flat = find_videos(tmp_path / "a", recursive=False)
    assert [p.name for p in flat] == ["x.mp4"]


def test_display_ids_disambiguates_stems(tmp_path):
    from pathlib import Path

    ids = display_ids([Path("d1/clip.mp4"), Path("d2/clip.mp4"), Path("d2/other.mp4")])
    assert ids == ["d1/clip", "d2/clip", "other"]
    assert len(set(display_ids([Path("d/c.mp4"), Path("d/c.avi")]))) == 2


def test_write_scores_csv_json_and_bad_suffix(tmp_path):
    df = pd.DataFrame(
        [
            {
                **{c: "" for c in COLUMNS},
                "video_id": "a",
                **{t: 3.5 for t in TASKS},
                "status": "ok",
            },
            {
                **{c: "" for c in COLUMNS},
                "video_id": "b",
                **{t: np.nan for t in TASKS},
                "status": "failed",
                "error": "decode: broken",
            },
        ]
    )
    write_scores(df, tmp_path / "s.csv")
    back = pd.read_csv(tmp_path / "s.csv")
    assert back.loc[0, "overall"] == 3.5 and np.isnan(back.loc[1, "overall"])
    write_scores(df, tmp_path / "s.json")
    recs = json.loads((tmp_path / "s.json").read_text())
    assert (
        recs[0]["lip_sync"] == 3.5
        and recs[1]["lip_sync"] is None
        and recs[1]["error"] == "decode: broken"
    )
    with pytest.raises(ValueError, match="unknown format"):
        write_scores(df, tmp_path / "s.xlsx")
    assert "decode: broken" in format_table(df)


# ----------------------------------------------------------------------------- end to end


def _face_video(
    path,
    shift: int,
    seconds: float = 6.0,
    fps: int = 25,
    size: int = 128,
    tone: float = 180.0,
    with_audio: bool = True,
    amplitude: float = 0.3,
):
    """A real face (skimage astronaut) moving slowly, with a voiced, amplitude-modulated tone
    (no audio track at all with ``with_audio=False``; a silent one with ``amplitude=0``)."""
    import cv2
    from skimage.data import astronaut

    from tqa.features.decode import write_video

    face = astronaut()[20:230, 120:330]  # the face, 210 x 210
    n = int(seconds * fps)
    frames = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        dx = int(round(shift * np.sin(2 * np.pi * i / n)))
        m = np.float32([[1, 0, dx], [0, 1, 0]])
        frames[i] = cv2.resize(
            cv2.warpAffine(face, m, face.shape[1::-1], borderMode=cv2.BORDER_REFLECT), (size, size)
        )
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    wave = np.sin(2 * np.pi * tone * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    audio = (amplitude * wave).astype(np.float32)
    write_video(path, frames, fps=fps, audio=audio if with_audio else None, sample_rate=sr)
    return path


def _grey_video(path, seconds: float = 2.0, fps: int = 25, size: int = 64):
    """A flat grey picture (no face anywhere) with a voiced tone."""
    from tqa.features.decode import write_video

    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    audio = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    write_video(
        path,
        np.full((int(seconds * fps), size, size, 3), 128, np.uint8),
        fps=fps,
        audio=audio,
        sample_rate=sr,
    )
    return path


def _score_params(tmp_path) -> dict:
    return tiny_params({"features.workers": 1, "features.device": "cpu", "score.cache_dir": None})


def score_with(setup: dict, files, cache_dir, **kw):
    """``tqa.serve.scoring.score`` of ``files`` with the bundle and params of ``scoring_setup``,
    one worker, no progress bar, features cached in ``cache_dir``."""
    from tqa.serve.scoring import score

    return score(
        files,
        model=setup["bundle"],
        workers=1,
        params=setup["params"],
        progress=False,
        cache_dir=cache_dir,
        **kw,
    )


@pytest.fixture(scope="module")
def scoring_setup(tmp_path_factory):
    """Two real videos + one broken file, and a bundle trained 1 epoch for the installed
    extractors."""
    from tqa.features.pipeline import FeatureExtractor
    from tqa.serve.bundle_save import save_bundle

    root = tmp_path_factory.mktemp("score")
    vids = root / "videos"
    vids.mkdir()
    _face_video(vids / "talk_a.mp4", shift=4)
    _face_video(vids / "talk_b.mp4", shift=10, tone=240.0)
    (vids / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    params = _score_params(root)
    fe = FeatureExtractor(params)
    # training features: random streams with the installed extractors' widths (the bundle only
    # has to fit the extractor configuration; its accuracy is not under test here)
    rng = np.random.default_rng(0)
    n = 16
    streams = {
        m: rng.normal(size=(n, 150, fe.extractors[m].dim)).astype(np.float32)
        for m in ("visual", "audio", "landmarks", "au")
    }
    fs = FeatureSet(
        [f"t{i}" for i in range(n)],
        streams,
        rng.normal(size=(n, 3)).astype(np.float32),
        meta={"extractors": fe.describe()},
    )
    labels = rng.uniform(1, 5, size=(n, len(TASKS))).astype(np.float32)
    split = np.array(["train"] * 12 + ["val"] * 2 + ["test"] * 2)
    fit = fit_fixed(fs, labels, split, params, root / "fit")
    bundle_dir = save_bundle(fit, params, fe, root / "bundle")
    return {
        "root": root,
        "videos": vids,
        "params": params,
        "bundle": bundle_dir,
        "fit": fit,
        "fe": fe,
    }


def test_score_batch_with_a_bad_file(scoring_setup, tmp_path):
    s = scoring_setup
    out = tmp_path / "scores.csv"
    df = score_with(s, s["videos"], tmp_path / "cache", out=out)
    assert list(df.columns) == list(COLUMNS)
    assert df["video_id"].tolist() == ["broken", "talk_a", "talk_b"]
    bad, good = df.iloc[0], df.iloc[1:]
    assert bad["status"] == "failed"
    assert bad["error"].startswith("decode:") and "broken.mp4" in bad["error"]
    assert np.isnan(bad[list(TASKS)].to_numpy(float)).all()
    assert (good["status"] == "ok").all()
    scores = good[list(TASKS)].to_numpy(float)
    assert np.isfinite(scores).all() and (scores >= 1).all() and (scores <= 5).all()

    # oracle: the same videos extracted directly and predicted by the fit the bundle came from
    fe, fit = s["fe"], s["fit"]
    direct = [fe.extract_video(str(s["videos"] / f"{v}.mp4"), v) for v in ("talk_a", "talk_b")]
    fs = FeatureSet(
        ["talk_a", "talk_b"],
        {m: np.stack([d.streams[m] for d in direct]) for m in direct[0].streams},
        np.stack([d.sync for d in direct]),
    )
    np.testing.assert_allclose(scores, fit.predict(fs), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(good["sync_offset"].to_numpy(float), fs.sync[:, 0], equal_nan=True)
    np.testing.assert_allclose(good["sync_distance"].to_numpy(float), fs.sync[:, 1], equal_nan=True)
    np.testing.assert_allclose(
        good["sync_confidence"].to_numpy(float), fs.sync[:, 2], equal_nan=True
    )

    written = pd.read_csv(out)
    np.testing.assert_allclose(
        written[list(TASKS)].to_numpy(float),
        df[list(TASKS)].to_numpy(float),
        rtol=1e-5,
        equal_nan=True,
    )


def test_score_resumes_from_cache(scoring_setup, tmp_path, monkeypatch):
    from tqa.features.pipeline import FeatureExtractor

    s = scoring_setup
    files = [s["videos"] / "talk_a.mp4"]
    first = score_with(s, files, tmp_path / "c")
    calls = []
    orig = FeatureExtractor.process_one
    monkeypatch.setattr(
        FeatureExtractor,
        "process_one",
        lambda self, *a, **k: calls.append(a) or orig(self, *a, **k),
    )
    second = score_with(s, files, tmp_path / "c", out=tmp_path / "s.json")
    assert calls == []  # nothing re-extracted
    pd.testing.assert_frame_equal(first, second)
    recs = json.loads((tmp_path / "s.json").read_text())
    assert recs[0]["video_id"] == "talk_a" and recs[0]["status"] == "ok"


def test_score_partial_rule_for_missing_audio_and_face(
    scoring_setup, tmp_path, caplog, capsys, monkeypatch
):
    """No audio track / no detectable face: the scores that need them are NaN, status partial,
    the reason named; --impute gives the old behaviour (ok + warning, every score finite)."""
    import av

    import tqa.core.params
    from tqa.serve import scoring

    s = scoring_setup
    mute = _face_video(tmp_path / "mute.mp4", shift=4, seconds=2.0, with_audio=False)
    grey = _grey_video(tmp_path / "grey.mp4")
    with av.open(str(mute)) as c:  # independent check of the inputs
        assert len(c.streams.audio) == 0 and len(c.streams.video) == 1
    with av.open(str(grey)) as c:
        assert len(c.streams.audio) == 1
    files = [mute, grey, s["videos"] / "talk_a.mp4"]
    kw = dict(model=s["bundle"], workers=1, params=s["params"], progress=False)
    with caplog.at_level("WARNING", logger="tqa.serve.scoring"):
        df = scoring.score(files, cache_dir=tmp_path / "cache", **kw)
    assert list(df.columns) == list(COLUMNS)
    assert df["video_id"].tolist() == ["mute", "grey", "talk_a"]
    assert df["status"].tolist() == ["partial", "partial", "ok"]
    by = df.set_index("video_id")
    need_audio = ["lip_sync", "audio_quality", "cross_modal", "overall"]
    need_face = ["lip_sync", "expression", "cross_modal", "overall"]
    assert by.loc["mute", need_audio].isna().all() and np.isfinite(by.loc["mute", "expression"])
    assert by.loc["grey", need_face].isna().all() and np.isfinite(by.loc["grey", "audio_quality"])
    assert np.isfinite(by.loc["talk_a", list(TASKS)].to_numpy(float)).all()
    w = by["warning"].to_dict()
    assert w["mute"].startswith("no audio track") and "face detected" not in w["mute"]
    assert w["grey"].startswith("face detected in 0% of frames") and "no audio" not in w["grey"]
    assert w["talk_a"] == ""
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(mute) in m and "no audio track" in m for m in logged)
    assert any(str(grey) in m and "face detected in 0%" in m for m in logged)
    assert not any("talk_a" in m for m in logged)

    imputed = scoring.score(files, cache_dir=tmp_path / "cache", impute=True, **kw)
    assert (imputed["status"] == "ok").all()
    assert np.isfinite(imputed[list(TASKS)].to_numpy(float)).all()
    assert imputed["warning"].tolist() == df["warning"].tolist()
    # the scores the rule keeps are the imputed run's scores (same features, same bundle)
    np.testing.assert_allclose(
        by.loc["mute", "expression"], imputed.set_index("video_id").loc["mute", "expression"]
    )

    monkeypatch.setattr(tqa.core.params, "load_params", lambda *a, **k: s["params"])
    args = [*map(str, files), "--model", str(s["bundle"]), "--workers", "1"]
    args += ["--cache", str(tmp_path / "cache"), "--quiet", "--out", str(tmp_path / "o.csv")]
    rc = scoring.main(args)
    text = capsys.readouterr().out
    assert rc == 0  # scored (partial counts as scored)
    assert "partial (scores that need a missing input are NaN" in text
    assert "mute: no audio track" in text and "grey: face detected in 0% of frames" in text
    written = pd.read_csv(tmp_path / "o.csv", keep_default_na=False)
    assert written.set_index("video_id").loc["mute", "warning"] == w["mute"]
    assert scoring.main([*args, "--impute"]) == 0
    assert text.count("ok (warning)") == 0 and capsys.readouterr().out.count("ok (warning)") == 2


def test_partial_rule_oracle() -> None:
    """The rule on hand-written metas (closed-form thresholds)."""
    from tqa.serve.partial_rule import partial_rule

    ok = {"has_audio": True, "face_rate": 0.9, "n_valid_frames": 150, "grid_fps": 25}
    assert partial_rule(ok) == (set(), [])
    tasks, why = partial_rule({**ok, "n_valid_frames": 24})  # 0.96 s < 1 s
    assert tasks == set(TASKS) and "0.96 s of real frames" in why[0]
    assert partial_rule({**ok, "n_valid_frames": 25})[0] == set()  # exactly 1 s is enough
    assert partial_rule({**ok, "face_rate": 0.49})[0] == {
        "lip_sync",
        "expression",
        "cross_modal",
        "overall",
    }
    assert partial_rule({**ok, "face_rate": 0.5})[0] == set()
    tasks, why = partial_rule({**ok, "has_audio": False, "n_valid_frames": 1})
    assert tasks == set(TASKS) and len(why) == 2
    # one face, or a cache file written before faces were counted: nothing to say
    assert (
        partial_rule({**ok, "n_faces": 1}) == partial_rule({**ok, "n_faces": None}) == (set(), [])
    )
    tasks, why = partial_rule({**ok, "n_faces": 2})
    assert tasks == {"lip_sync", "expression", "cross_modal", "overall"}
    assert why == [
        "2 faces in the picture (a side-by-side video?): tqa reads one of them, so "
        "lip_sync/expression/cross_modal/overall NaN; give each face its own file"
    ]


def test_sync_rule_oracle() -> None:
    """No sync read with audio and a face: the scores needing both are NaN, said once."""
    from tqa.serve.partial_rule import NEEDS_AUDIO, NEEDS_FACE, sync_rule

    both = {"lip_sync", "cross_modal", "overall"}
    assert both == set(NEEDS_AUDIO) & set(NEEDS_FACE)
    assert sync_rule(3.0, set()) == (set(), [])
    assert sync_rule(0.0, set()) == (set(), [])
    tasks, why = sync_rule(float("nan"), set())
    assert tasks == both and len(why) == 1 and why[0].startswith("no audio-visual sync")
    # no audio, no face or too short: that rule's reason already covers these scores
    assert sync_rule(float("nan"), set(NEEDS_AUDIO)) == (set(), [])
    assert sync_rule(float("nan"), set(TASKS)) == (set(), [])
    assert sync_rule(float("nan"), {"expression"})[0] == both


def test_silent_rule_oracle() -> None:
    """No finite value in the audio stream (every frame digital silence or outside the
    video) -> the scores needing audio NaN; any sound, no audio stream in the bundle, or a
    rule that already set them: nothing."""
    from tqa.serve.partial_rule import NEEDS_AUDIO, silent_rule

    nan = float("nan")
    tasks, why = silent_rule(np.full((4, 3), nan), set())
    assert tasks == set(NEEDS_AUDIO) and why[0].startswith("no sound in the audio track")
    assert silent_rule(np.array([[nan, nan], [nan, 1e-6]]), set()) == (set(), [])  # one frame
    assert silent_rule(np.zeros((2, 2)), set()) == (set(), [])  # finite zeros are measurements
    assert silent_rule(None, set()) == (set(), [])  # the bundle reads no audio stream
    assert silent_rule(np.full((2, 2), nan), set(TASKS)) == (set(), [])


def test_score_partial_rule_for_a_silent_audio_track(scoring_setup, tmp_path):
    """A 6 s face video whose audio track holds only zeros: scored as without audio (the
    scores needing audio NaN, one reason, not the sync's too); --impute keeps them."""
    import av

    from tqa.serve import scoring

    s = scoring_setup
    quiet = _face_video(tmp_path / "quiet.mp4", shift=4, amplitude=0.0)
    with av.open(str(quiet)) as c:  # independent check: a track is there, and it is all zeros
        assert len(c.streams.audio) == 1
        peak = max(float(np.abs(f.to_ndarray()).max()) for f in c.decode(audio=0))
    assert peak == 0.0
    files = [quiet, s["videos"] / "talk_a.mp4"]
    kw = dict(model=s["bundle"], workers=1, params=s["params"], progress=False)
    df = scoring.score(files, cache_dir=tmp_path / "cache", **kw).set_index("video_id")
    need_audio = ["lip_sync", "audio_quality", "cross_modal", "overall"]
    assert df.loc["quiet", "status"] == "partial"
    assert df.loc["quiet", need_audio].isna().all() and np.isfinite(df.loc["quiet", "expression"])
    assert df.loc["quiet", "warning"] == (
        "no sound in the audio track (every sample 0, or none within the video): "
        "lip_sync/audio_quality/cross_modal/overall NaN"
    )
    assert df.loc["talk_a", "status"] == "ok" and df.loc["talk_a", "warning"] == ""
    imputed = scoring.score(files, cache_dir=tmp_path / "cache", impute=True, **kw)
    imputed = imputed.set_index("video_id")
    assert np.isfinite(imputed.loc["quiet", list(TASKS)].to_numpy(float)).all()


def test_score_partial_rule_for_a_clip_too_short_for_the_sync(scoring_setup, tmp_path):
    """A 2 s clip with audio and a face: the sync estimate cannot be read (NaN), so lip_sync,
    cross_modal and overall are NaN with the reason; expression and audio_quality stay; the
    6 s clip next to it has its sync and every score. --impute keeps all five."""
    from tqa.features.cache import cache_file, read_meta
    from tqa.serve import scoring
    from tqa.serve.score_inputs import cache_key

    s = scoring_setup
    short = _face_video(tmp_path / "short.mp4", shift=4, seconds=2.0)
    files = [short, s["videos"] / "talk_a.mp4"]
    kw = dict(model=s["bundle"], workers=1, params=s["params"], progress=False)
    df = scoring.score(files, cache_dir=tmp_path / "cache", **kw).set_index("video_id")
    meta = read_meta(cache_file(tmp_path / "cache", cache_key(short)))
    assert meta["has_audio"] and meta["face_rate"] >= 0.5  # not the other rules' cases
    assert 1.0 <= meta["n_valid_frames"] / meta["grid_fps"] < 2.5
    assert np.isnan(df.loc["short", "sync_offset"])
    assert df.loc["short", "status"] == "partial"
    assert df.loc["short", ["lip_sync", "cross_modal", "overall"]].isna().all()
    assert np.isfinite(df.loc["short", ["expression", "audio_quality"]].to_numpy(float)).all()
    assert df.loc["short", "warning"].startswith("no audio-visual sync measured")
    assert np.isfinite(df.loc["talk_a", "sync_offset"]) and df.loc["talk_a", "status"] == "ok"
    assert np.isfinite(df.loc["talk_a", list(TASKS)].to_numpy(float)).all()
    imputed = scoring.score(files, cache_dir=tmp_path / "cache", impute=True, **kw)
    imputed = imputed.set_index("video_id")
    assert imputed.loc["short", "status"] == "ok"
    assert np.isfinite(imputed.loc["short", list(TASKS)].to_numpy(float)).all()
    assert imputed.loc["short", "warning"] == df.loc["short", "warning"]


def test_score_partial_rule_for_a_side_by_side_video(scoring_setup, tmp_path):
    """Two faces side by side (a comparison video): Face Mesh tracks one of them, so the
    scores that read the face are NaN with the reason; audio_quality stays; the cache meta
    counts 2 faces, and 1 for the single face beside it. --impute keeps all five."""
    import av

    from tqa.features.cache import cache_file, read_meta
    from tqa.features.decode import write_video
    from tqa.serve import scoring
    from tqa.serve.score_inputs import cache_key

    s = scoring_setup
    single = _face_video(tmp_path / "single.mp4", shift=4)
    with av.open(str(single)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(str(single)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    pair = tmp_path / "pair.mp4"
    write_video(
        pair,
        np.concatenate([frames, frames[:, :, ::-1]], axis=2),
        fps=25,
        audio=audio.astype(np.float32),
        sample_rate=16000,
    )
    kw = dict(model=s["bundle"], workers=1, params=s["params"], progress=False)
    df = scoring.score([pair, single], cache_dir=tmp_path / "cache", **kw).set_index("video_id")
    faces = {
        v: read_meta(cache_file(tmp_path / "cache", cache_key(f)))["n_faces"]
        for v, f in (("pair", pair), ("single", single))
    }
    assert faces == {"pair": 2, "single": 1}
    assert df.loc["pair", "status"] == "partial" and df.loc["single", "status"] == "ok"
    assert df.loc["pair", ["lip_sync", "expression", "cross_modal", "overall"]].isna().all()
    assert np.isfinite(df.loc["pair", "audio_quality"])
    assert df.loc["pair", "warning"].startswith("2 faces in the picture")
    assert np.isfinite(df.loc["single", list(TASKS)].to_numpy(float)).all()
    imputed = scoring.score([pair], cache_dir=tmp_path / "cache", impute=True, **kw)
    assert imputed["status"].tolist() == ["ok"]
    assert np.isfinite(imputed[list(TASKS)].to_numpy(float)).all()


def test_score_reads_a_long_file_as_segments_over_all_of_it(
    scoring_setup, tmp_path, capsys, monkeypatch
):
    """The model reads 6 s (150 frames at 25 fps): an 8 s file is scored as two 6 s segments
    (from 0 and 2 s), each score the mean of theirs; the first segment is the first 6 s, the
    cache entry of before (``--first-only`` scores it alone); process workers decode the same
    segments; the run says so once under the table, with the file's length and segment
    count, and writes the per-segment scores beside ``--out``."""
    import av

    import tqa.core.params
    from tqa.features.cache import cache_file, read_meta
    from tqa.serve import scoring
    from tqa.serve.score_inputs import cache_key

    s = scoring_setup
    long = _face_video(tmp_path / "long.mp4", shift=4, seconds=8.0)
    with av.open(str(long)) as c:  # independent reading of the file's length
        seconds = float(c.streams.video[0].duration * c.streams.video[0].time_base)
    assert 7.9 <= seconds <= 8.1
    files = [long, s["videos"] / "talk_a.mp4"]  # talk_a: exactly the 6 s grid
    kw = dict(model=s["bundle"], workers=1, params=s["params"], progress=False)
    df = scoring.score(files, cache_dir=tmp_path / "cache", **kw)
    assert df["status"].tolist() == ["ok", "ok"] and df["segments"].tolist() == [2, 1]
    segs = df.attrs["segments"]
    assert segs["video_id"].tolist() == ["long", "long", "talk_a"]
    assert segs["start_s"].tolist() == pytest.approx([0.0, seconds - 6.0, 0.0])
    for t in TASKS:
        assert df.loc[0, t] == pytest.approx(segs.loc[:1, t].mean())
    assert df.loc[0, "sync_offset"] == pytest.approx(segs.loc[:1, "sync_offset"].median())
    assert df.attrs["notes"] == [
        "1 of 2 files are longer than the 6 s the model reads: scored as 6 s segments over the "
        f"whole file, their scores averaged (segments per file: long {seconds:.1f} s: 2; each "
        "segment's scores: --out's .segments file)"
    ]
    # the second segment's features come from 2 s on: the cache meta says so
    second = read_meta(cache_file(tmp_path / "cache", f"{cache_key(long)}@2.00s"))
    assert second["n_valid_frames"] == 150 and second["file"] == str(long)
    first = scoring.score(files, cache_dir=tmp_path / "cache", whole=False, **kw)
    assert first["segments"].tolist() == [1, 1]
    for t in TASKS:
        assert first.loc[0, t] == pytest.approx(segs.loc[0, t])
    assert first.attrs["notes"] == [
        "1 of 2 files are longer than the 6 s the model reads: scored on their first 6 s "
        f"(long {seconds:.1f} s)"
    ]
    pooled = scoring.score(files, cache_dir=tmp_path / "cache2", **kw | {"workers": 2})
    pd.testing.assert_frame_equal(pooled, df, check_exact=False, rtol=1e-6)
    only_grid = scoring.score(files[1:], **kw | {"cache_dir": tmp_path / "cache"})
    assert "notes" not in only_grid.attrs  # a file of exactly the grid's length: no note
    monkeypatch.setattr(tqa.core.params, "load_params", lambda *a, **k: s["params"])
    args = [*map(str, files), "--model", str(s["bundle"]), "--workers", "1"]
    out = tmp_path / "scores.csv"
    assert (
        scoring.main([*args, "--cache", str(tmp_path / "cache"), "--quiet", "--out", str(out)]) == 0
    )
    assert "\n\nnote: 1 of 2 files are longer than the 6 s" in capsys.readouterr().out
    written = pd.read_csv(tmp_path / "scores.segments.csv")
    assert written["video_id"].tolist() == ["long", "long", "talk_a"]
    assert scoring.main([*args, "--cache", str(tmp_path / "cache"), "--first-only"]) == 0
    assert "scored on their first 6 s" in capsys.readouterr().out


def test_interrupted_score_keeps_finished_features(scoring_setup, tmp_path, monkeypatch):
    """With the shipped default score.cache_dir, a run killed on the 2nd video keeps the 1st
    one's features."""
    import copy

    import tqa.core.params
    from tqa.features.cache import cache_file, read_meta
    from tqa.features.pipeline import FeatureExtractor
    from tqa.serve.score_inputs import cache_key
    from tqa.serve.scoring import score

    s = scoring_setup
    params = copy.deepcopy(s["params"])
    params["score"]["cache_dir"] = load_params()["score"]["cache_dir"]  # the repository default
    assert params["score"]["cache_dir"], "score.cache_dir must default to a persistent folder"
    monkeypatch.setattr(
        tqa.core.params, "ROOT", tmp_path
    )  # relative params paths resolve under tmp_path
    files = [s["videos"] / "talk_a.mp4", s["videos"] / "talk_b.mp4"]
    extracted: list[str] = []
    orig_extract = FeatureExtractor.extract_video

    def interrupted(self, path, video_id):
        extracted.append(path)
        if len(extracted) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the 2nd video is extracted
        return orig_extract(self, path, video_id)

    monkeypatch.setattr(FeatureExtractor, "extract_video", interrupted)
    from tqa.serve.scoring import ScoringInterrupted

    with pytest.raises(ScoringInterrupted) as info:
        score(files, model=s["bundle"], workers=1, params=params, progress=False)
    assert isinstance(info.value, KeyboardInterrupt)
    got = info.value.result
    assert got["status"].tolist() == ["ok", "interrupted"]
    assert np.isfinite(got.loc[0, list(TASKS)].to_numpy(float)).all()
    assert got.loc[1, list(TASKS)].isna().all()
    cache = tmp_path / params["score"]["cache_dir"]
    done = cache_file(cache, cache_key(files[0]))
    assert done.is_file() and read_meta(done)["file"] == str(files[0])
    assert not cache_file(cache, cache_key(files[1])).exists()

    monkeypatch.setattr(FeatureExtractor, "extract_video", orig_extract)
    calls: list[str] = []
    orig_one = FeatureExtractor.process_one
    monkeypatch.setattr(
        FeatureExtractor,
        "process_one",
        lambda self, vid, path, c: calls.append(path) or orig_one(self, vid, path, c),
    )
    df = score(files, model=s["bundle"], workers=1, params=params, progress=False)
    assert calls == [str(files[1])]  # the 1st video came from the cache
    assert (df["status"] == "ok").all() and np.isfinite(df[list(TASKS)].to_numpy(float)).all()


def test_score_refuses_mismatched_bundle(scoring_setup, tmp_path, capsys):
    import shutil

    from tqa.serve.bundle_format import BundleMismatchError
    from tqa.serve.scoring import main, score

    s = scoring_setup
    bad = tmp_path / "bundle"
    shutil.copytree(s["bundle"], bad)
    man = json.loads((bad / "bundle.json").read_text())
    man["extractors"]["visual"]["version"] = "999"
    man["extractors"]["audio"]["dim"] = 7
    (bad / "bundle.json").write_text(json.dumps(man))
    with pytest.raises(BundleMismatchError) as err:
        score(s["videos"] / "talk_a.mp4", model=bad, params=s["params"], progress=False)
    msg = str(err.value)
    assert "visual:" in msg and "'999'" in msg and "audio:" in msg and "dim" in msg
    assert not (tmp_path / "cache").exists()
    rc = main([str(s["videos"] / "talk_a.mp4"), "--model", str(bad), "--quiet"])
    assert rc == 2
    assert "does not match" in capsys.readouterr().err


def test_cli_prints_table_and_flags_failures(scoring_setup, tmp_path, capsys, monkeypatch):
    from tqa.serve import scoring

    s = scoring_setup
    import tqa.core.params

    monkeypatch.setattr(tqa.core.params, "load_params", lambda *a, **k: s["params"])
    rc = scoring.main(
        [
            str(s["videos"]),
            "--model",
            str(s["bundle"]),
            "--out",
            str(tmp_path / "o.csv"),
            "--workers",
            "1",
            "--cache",
            str(tmp_path / "c"),
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 1  # one file failed
    assert "talk_a" in text and "failed:" in text and "broken" in text
    assert len(pd.read_csv(tmp_path / "o.csv")) == 3


@pytest.mark.slow
def test_notebook_10_runs_with_papermill(scoring_setup, tmp_path):
    """notebooks/10 scores the videos of a data root through tqa.score and writes its
    table/figure."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from tqa.core.params import ROOT

    s = scoring_setup
    papermill = Path(sys.executable).parent / "papermill"
    reports = tmp_path / "reports"
    params_yaml = yaml.safe_dump(
        {
            "overrides": {
                "data.root": str(s["root"]),
                "features.workers": 1,
                "score.cache_dir": str(tmp_path / "score_cache"),
            },
            "model_dir": str(s["bundle"]),
            "reports_dir": str(reports),
            "n_videos": 3,
        }
    )
    proc = subprocess.run(
        [
            str(papermill),
            "-k",
            "python3",
            "--cwd",
            str(ROOT),
            "-y",
            params_yaml,
            str(ROOT / "notebooks" / "10_score_your_videos.ipynb"),
            str(tmp_path / "out.ipynb"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(reports / "data" / "score_examples.csv")
    assert table["video_id"].tolist() == ["broken", "talk_a", "talk_b"]
    assert table["status"].tolist() == ["failed", "ok", "ok"]
    assert (reports / "figures" / "score_examples.png").stat().st_size > 1000
    caption = (reports / "figures" / "score_examples.txt").read_text()
    assert "Extractors:" in caption and "Data:" in caption
    md = (reports / "tables" / "score_examples.md").read_text()
    assert "talk_a" in md


def test_score_table_with_a_table_trained_bundle(tmp_path):
    """A bundle trained on a feature table scores tables with the same columns, refuses other
    tables/videos."""
    from tqa.features.tables import load_feature_table, write_feature_table
    from tqa.serve.bundle_format import BundleMismatchError
    from tqa.serve.bundle_save import save_bundle
    from tqa.serve.scoring import score, score_table

    rng = np.random.default_rng(1)
    n = 14
    fs = FeatureSet(
        [f"v{i}" for i in range(n)],
        {
            "au": rng.normal(size=(n, 150, 3)).astype(np.float32),
            "audio": rng.normal(size=(n, 150, 2)).astype(np.float32),
        },
        rng.normal(size=(n, 3)).astype(np.float32),
        names={"au": ["au__AU01", "au__AU12", "au__AU45"], "audio": ["audio__rms", "audio__f0"]},
    )
    table = write_feature_table(fs, tmp_path / "t.csv")
    fs_t = load_feature_table(table)
    params = _score_params(tmp_path)
    labels = rng.uniform(1, 5, size=(n, len(TASKS))).astype(np.float32)
    split = np.array(["train"] * 10 + ["val"] * 2 + ["test"] * 2)
    fit = fit_fixed(fs_t, labels, split, params, tmp_path / "fit")
    bundle = save_bundle(fit, params, fs_t, tmp_path / "bundle")
    got = score_table(table, model=bundle, out=tmp_path / "s.csv", params=params)
    np.testing.assert_allclose(got[list(TASKS)].to_numpy(float), fit.predict(fs_t), rtol=1e-6)
    np.testing.assert_allclose(got["sync_offset"].to_numpy(float), fs.sync[:, 0], rtol=1e-6)
    assert got["video_id"].tolist() == fs.video_ids
    renamed = pd.read_csv(table).rename(columns={"au__AU45": "au__blink"})
    renamed.to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(BundleMismatchError, match=r"au: .*version"):
        score_table(tmp_path / "other.csv", model=bundle, params=params)
    (tmp_path / "v.mp4").write_bytes(b"")
    with pytest.raises(BundleMismatchError, match="bring-your-own feature table"):
        score(tmp_path / "v.mp4", model=bundle, params=params, progress=False)


def test_header_seconds_of_what_has_no_video_header(tmp_path) -> None:
    """No file, no video stream, not a media file: no length (None), never an exception."""
    import soundfile as sf

    from tqa.features.decode import header_seconds

    sf.write(tmp_path / "tone.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    assert header_seconds(tmp_path / "missing.mp4") is None
    assert header_seconds(tmp_path / "tone.wav") is None
    assert header_seconds(tmp_path / "junk.mp4") is None


def test_edge_note_oracle() -> None:
    """An offset at the edge of the +-D search (|offset| = D) is a bound: one warning; inside
    the search, or no offset, nothing."""
    from tqa.serve.partial_rule import edge_note

    assert len(edge_note(15.0, 15)) == len(edge_note(-15.0, 15)) == 1
    assert "+15 frames" in edge_note(15.0, 15)[0] and "-15 frames" in edge_note(-15.0, 15)[0]
    assert edge_note(14.0, 15) == [] and edge_note(0.0, 15) == []
    assert edge_note(float("nan"), 15) == []
    assert edge_note(10.0, 10) != []  # the bundle's own sync_max_offset


def test_score_warns_of_an_offset_at_the_edge_of_the_search(scoring_setup, tmp_path, monkeypatch):
    """`tqa score` keeps the scores of a file whose sync offset reads +-sync_max_offset and
    says that the offset is a bound (the features' offset replaced: no talking clip reads
    that far reliably)."""
    from tqa.serve import score_predict, scoring

    s = scoring_setup
    real = score_predict.sync_columns

    def at_edge(fs):
        cols = real(fs)
        cols["sync_offset"] = np.full(len(cols["sync_offset"]), -15.0)
        return cols

    monkeypatch.setattr(score_predict, "sync_columns", at_edge)
    kw = dict(model=s["bundle"], workers=1, params=s["params"], progress=False)
    df = scoring.score([s["videos"] / "talk_a.mp4"], cache_dir=tmp_path / "c", **kw)
    row = df.iloc[0]
    assert row["status"] == "ok" and np.isfinite(row[list(TASKS)].to_numpy(float)).all()
    assert "at the edge of the +-15-frame search" in row["warning"]
