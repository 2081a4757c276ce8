"""Real footage (../shared/realclips, beside the repository; never copied into it): lip sync on
in-sync recordings with injected shifts and foreign audio (item 2), the partial rule and
truncated files (item 5), Ctrl-C on a multi-worker `tqa score` (item 6).

Skips with a message when the folder is absent (a user's clone has no ../shared).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from test_interrupt import start_in_own_group
from test_scoring import score_with, scoring_setup  # noqa: F401 - the module-scoped bundle fixture

from tqa.core.params import ROOT
from tqa.core.schema import TASKS
from tqa.features.decode import _decode_audio, load_clip
from tqa.features.extractors.landmarks_mediapipe import detect_landmarks
from tqa.features.extractors.sync_correlation import clip_sync

CLIPS = ROOT.parent / "shared" / "realclips"
pytestmark = pytest.mark.skipif(
    not (CLIPS / "recordings").is_dir(),
    reason=f"real clips not found at {CLIPS} (../shared/realclips beside the repository)",
)
SR, FPS, HOP = 16000, 25, 640


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def delayed(a: np.ndarray, k: int) -> np.ndarray:
    """Audio delayed by k frames (independent of the code under test: a plain index shift)."""
    out = np.zeros_like(a)
    s = k * HOP
    if s >= 0:
        out[s:] = a[: len(a) - s]
    else:
        out[: len(a) + s] = a[-s:]
    return out


@pytest.fixture(scope="module")
def recordings():
    """(clip, landmarks) of the 5 in-sync recordings, whole (up to 10 s)."""
    out = []
    for i in range(1, 6):
        c = load_clip(CLIPS / "recordings" / f"{i}.mp4", n_frames=250)
        out.append((c, detect_landmarks(c.frames)))
    return out


def _est(c, lm, audio):
    return clip_sync(c.frames, lm, audio, SR, FPS, 15, c.meta["valid_frames"])


def test_sync_offsets_on_real_recordings_and_injected_shifts(recordings) -> None:
    """Originals |offset| <= 1 on >= 4 of 5; shifts of +-5 / +-10 / +-15 found within +-1 in
    >= 90 %; the lag-0 confidence is higher at the original than at every |shift| >= 5 in
    >= 90 % of the pairs."""
    orig = [_est(c, lm, c.audio) for c, lm in recordings]
    assert sum(abs(e.offset) <= 1 for e in orig) >= 4
    found, higher = [], []
    for (c, lm), e0 in zip(recordings, orig):
        for k in (-15, -10, -5, 5, 10, 15):
            e = _est(c, lm, delayed(c.audio, k))
            found.append(abs(e.offset - k) <= 1)
            higher.append(e0.confidence > e.confidence)
    assert np.mean(found) >= 0.9, found
    assert np.mean(higher) >= 0.9, higher


def test_sync_confidence_lower_under_foreign_speech(recordings) -> None:
    """Own audio beats speech/1.wav and speech/2.wav dubbed over the video on >= 4 of 5 clips."""
    wins = 0
    for c, lm in recordings:
        own = _est(c, lm, c.audio).confidence
        dubs = [
            _decode_audio(str(w), 0.0, len(c.audio), SR)
            for w in sorted((CLIPS / "speech").glob("*.wav"))
        ]
        assert len(dubs) == 2
        wins += all(own > _est(c, lm, d).confidence for d in dubs)
    assert wins >= 4


@pytest.fixture(scope="module")
def broken_real(tmp_path_factory):
    """From recording 2: the original, its video without audio, a 1-frame file with its audio,
    and a file truncated after ~2 s (faststart remux, bytes cut)."""
    d = tmp_path_factory.mktemp("real_broken")
    src = CLIPS / "recordings" / "2.mp4"
    ff = ffmpeg()
    run = lambda *a: subprocess.run([ff, "-loglevel", "error", "-y", *a], check=True)  # noqa: E731
    run("-i", str(src), "-c", "copy", "-movflags", "+faststart", str(d / "orig.mp4"))
    run("-i", str(src), "-an", "-c:v", "copy", str(d / "mute.mp4"))
    run("-i", str(src), "-frames:v", "1", "-c:v", "libx264", "-c:a", "aac", str(d / "oneframe.mp4"))
    data = (d / "orig.mp4").read_bytes()
    (d / "trunc.mp4").write_bytes(data[: int(len(data) * 0.5)])
    return d


def test_partial_rule_and_truncation_on_real_files(scoring_setup, broken_real, tmp_path) -> None:  # noqa: F811
    names = ["orig", "mute", "oneframe", "trunc"]
    files = [broken_real / f"{n}.mp4" for n in names]
    df = score_with(scoring_setup, files, tmp_path / "cache").set_index("video_id")
    assert df.loc["orig", "status"] == "ok" and df.loc["orig", "warning"] == ""
    assert np.isfinite(df.loc["orig", list(TASKS)].to_numpy(float)).all()
    mute = df.loc["mute"]
    assert mute["status"] == "partial" and mute["warning"].startswith("no audio track")
    assert mute[["lip_sync", "audio_quality", "cross_modal", "overall"]].isna().all()
    assert np.isfinite(float(mute["expression"]))
    one = df.loc["oneframe"]  # a 1-frame file with audio is never plain ok
    assert one["status"] == "partial" and "of real frames" in one["warning"]
    assert one[list(TASKS)].isna().all()
    tr = df.loc["trunc"]
    assert "truncated after" in tr["warning"] and "trunc.mp4" in tr["warning"]
    assert "avcodec" not in tr["warning"] and tr["status"] in {"ok", "partial"}
    with_audio = load_clip(files[3])  # independent: how much the truncated file really holds
    secs = float(tr["warning"].split("truncated after ")[1].split(" s")[0])
    assert secs == pytest.approx(with_audio.meta["truncated_after_s"]) and secs < 4.9


def test_ctrl_c_stops_multi_worker_score(scoring_setup, tmp_path) -> None:  # noqa: F811
    """SIGINT to the process group of `tqa score --workers 2` once one video is cached: exit
    130, no traceback, the collected rows written, finished work kept in the cache, the rest
    interrupted."""
    s = scoring_setup
    videos = tmp_path / "videos"
    videos.mkdir()
    src = sorted((CLIPS / "recordings").glob("*.mp4")) + sorted((CLIPS / "generated").glob("*.mp4"))
    for i, f in enumerate(src):  # links, not copies
        (videos / f"v{i}{f.suffix}").symlink_to(f.resolve())
    params = {**s["params"], "score": {**s["params"].get("score", {}), "cache_dir": None}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    cache, out = tmp_path / "cache", tmp_path / "scores.csv"
    cmd = [sys.executable, "-m", "tqa.cli", "score", str(videos), "--model", str(s["bundle"])]
    cmd += ["--params", str(tmp_path / "params.yaml"), "--workers", "2", "--cache", str(cache)]
    cmd += ["--out", str(out), "--quiet"]
    proc = start_in_own_group(cmd, ROOT, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(cache.glob("*.npz")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)  # a hang guard, not a timing assertion
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("tqa score did not stop after SIGINT")
    err = err.decode(errors="replace")
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    rows = pd.read_csv(out)
    assert len(rows) == len(src)
    assert set(rows["status"]) <= {"ok", "partial", "interrupted"}
    assert (rows["status"] == "interrupted").sum() >= 1
    done = rows[rows["status"] != "interrupted"]
    # a video a worker finished but the main process had not collected when SIGINT came is
    # reported interrupted, and its features are still kept in the cache for the next run
    assert len(list(cache.glob("*.npz"))) >= max(1, len(done))
    assert done[list(TASKS)].notna().any(axis=1).all()


def test_tqa_metrics_reads_a_file_level_delay_as_the_extractor(tmp_path) -> None:
    """Recording 2 with its audio delayed by 3 and 5 frames in the file (ffmpeg adelay, as a
    user shifts a track): `tqa metrics` reads its original's offset + k (within 1), and its sync
    columns are the extractor's reading of the same decoded clip. Before 2026-12-07 (metrics
    v12) it cut the signals to the clip's own 125 frames and read +11 and +13 (the extractor:
    +4 and +6), a second minimum of the distance curve 7 frames on."""
    from tqa.core.params import load_params
    from tqa.features.audio_level import at_level
    from tqa.features.video_metrics import video_metrics

    fp = load_params()["features"]
    src = CLIPS / "recordings" / "2.mp4"
    base = video_metrics(str(src), fp, max_seconds=10.0, syncnet=False)["sync_offset"]
    for k in (3, 5):
        f = tmp_path / f"late{k}.mp4"
        subprocess.run([ffmpeg(), "-loglevel", "error", "-y", "-i", str(src), "-af",
                        f"adelay={40 * k}:all=1", "-c:v", "copy", str(f)], check=True)  # fmt: skip
        m = video_metrics(str(f), fp, max_seconds=10.0, syncnet=False)
        assert abs(m["sync_offset"] - (base + k)) <= 1, (k, base, m["sync_offset"])
        c = at_level(load_clip(f, n_frames=250), fp.get("audio_level_dbfs"))
        e = _est(c, detect_landmarks(c.frames), c.audio)
        assert m["sync_offset"] == e.offset
        assert m["sync_confidence"] == pytest.approx(e.confidence, abs=1e-9)
