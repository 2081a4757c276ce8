"""`tqa metrics` (tqa.serve.metrics_report, tqa.features.video_metrics) against closed forms,
planted signals and an end-to-end run on two folders of small videos."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_media import face_frames

from tqa.features.decode import write_video
from tqa.features.video_metrics import (
    EYE_LEFT,
    EYE_RIGHT,
    METRICS,
    blink_rate,
    eye_aspect_ratio,
    head_motion,
    landmark_jitter,
)
from tqa.serve.metrics_report import collect, main
from tqa.serve.metrics_summary import mean_ci, summarize, summary_rows


def test_mean_ci_matches_scipy_t_interval() -> None:
    x = np.array([3.1, 2.7, 3.9, 3.3, np.nan, 2.2])
    v = x[np.isfinite(x)]
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    mean, half, n = mean_ci(x)
    assert n == 5 and mean == pytest.approx(v.mean()) and half == pytest.approx((hi - lo) / 2)
    assert math.isnan(mean_ci([1.0])[1]) and mean_ci([])[2] == 0


def _eyes(ear: np.ndarray) -> np.ndarray:
    """(T, 468, 3) landmarks whose eye aspect ratio is ``ear`` (corners 20 px apart)."""
    lm = np.zeros((len(ear), 468, 3))
    for idx, x0 in ((EYE_LEFT, 30.0), (EYE_RIGHT, 70.0)):
        p1, p2, p3, p4, p5, p6 = idx
        lm[:, p1, 0], lm[:, p4, 0] = x0, x0 + 20
        half = ear * 20 / 2  # |p2 - p6| = |p3 - p5| = ear * |p1 - p4|
        for up, low, dx in ((p2, p6, 7), (p3, p5, 13)):
            lm[:, up, 0] = lm[:, low, 0] = x0 + dx
            lm[:, up, 1], lm[:, low, 1] = -half, half
    return lm


def test_eye_aspect_ratio_and_blink_rate_planted() -> None:
    ear = np.full(750, 0.3)  # 30 s at 25 fps
    for start in (100, 300, 305, 500):  # 305 is the same blink as 300 (3 frames apart)
        ear[start : start + 3] = 0.1
    np.testing.assert_allclose(eye_aspect_ratio(_eyes(ear)), ear)
    assert blink_rate(ear, 25) == pytest.approx(3 / 30 * 60)
    assert math.isnan(blink_rate(ear[:10], 25))  # under 1 s of face


def test_landmark_jitter_and_head_motion_planted() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 100, (468, 3))
    base[33, :2], base[263, :2] = (30, 50), (70, 50)  # IOD 40 px
    t = 50
    steady = np.repeat(base[None], t, axis=0)
    steady[:, :, 0] += np.arange(t)[:, None] * 2.0  # the head moves 2 px per frame, rigidly
    assert landmark_jitter(steady) == pytest.approx(0.0, abs=1e-9)  # pose removed
    assert head_motion(steady, 25) == pytest.approx(2.0 / 40 * 25)
    noisy = steady.copy()
    noisy[:, :, :2] += rng.normal(0, 0.4, (t, 468, 2))
    assert landmark_jitter(noisy) > 0.01


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    sr, n = 16000, 50
    t = np.arange(n * sr // 25) / sr
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )
    frames = face_frames(n, 192)
    for group, blur in (("sharp", 0), ("blurred", 1.2)):
        (root / group).mkdir()
        for i in range(2):
            f = frames if not blur else np.stack([_blur(x, blur) for x in frames])
            write_video(root / group / f"v{i}.mp4", np.roll(f, i, axis=2), audio=tone)
    (root / "sharp" / "broken.mp4").write_bytes(b"not a video")
    return root


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma)


def test_tqa_metrics_end_to_end(two_folders, tmp_path, capsys) -> None:
    items = collect([two_folders / "sharp", two_folders / "blurred"])
    assert [g for g, _ in items] == ["sharp"] * 3 + ["blurred"] * 2
    out = tmp_path / "out"
    rc = main(
        [str(two_folders / "sharp"), str(two_folders / "blurred"), "--out", str(out), "--quiet"]
    )
    assert rc == 1  # one file failed
    df = pd.read_csv(out / "metrics.csv")
    assert list(df.columns[:5]) == ["group", "video", "path", "status", "error"]
    assert set(METRICS) <= set(df.columns)
    bad = df[df["video"] == "broken"].iloc[0]
    assert bad["status"] == "failed" and "broken.mp4" in bad["error"]
    ok = df[df["status"] == "ok"]
    assert len(ok) == 4 and (ok["face_rate"] > 0.9).all() and (ok["fps"] == 25).all()
    assert (ok["faces"] == 1).all() and ok["error"].isna().all()
    g = ok.groupby("group")
    # known degradation: blur lowers sharpness and raises BRISQUE of the face
    assert g["sharpness_face"].mean()["blurred"] < g["sharpness_face"].mean()["sharp"] / 2
    assert g["brisque_face"].mean()["blurred"] > g["brisque_face"].mean()["sharp"]
    # the summary is the per-group mean of the per-video table (independent: pandas)
    summ = pd.read_csv(out / "summary.csv").set_index(["group", "metric"])
    for grp in ("sharp", "blurred"):
        assert summ.loc[(grp, "dnsmos_ovrl"), "mean"] == pytest.approx(
            g["dnsmos_ovrl"].mean()[grp], rel=1e-5
        )
        assert summ.loc[(grp, "dnsmos_ovrl"), "n"] == 2
    md = (out / "summary.md").read_text()
    assert "| metric | unit | better | sharp (n=2) | blurred (n=2) |" in md
    assert "| brisque_face | 0-100 | lower |" in md and "broken (sharp): failed" in md
    assert (out / "metrics.png").stat().st_size > 10_000
    # the paper table: the sharper folder's face sharpness in bold, the blurred one's not
    tex = (out / "summary.tex").read_text()
    row = next(line for line in tex.splitlines() if line.startswith(r"sharpness\_face"))
    sharp_cell, blurred_cell = row.split(" & ")[1:3]
    assert sharp_cell.startswith(r"\textbf{") and not blurred_cell.startswith(r"\textbf{")
    # the two folders hold v0 and v1 each: paired, blurred against sharp (the first folder)
    paired = pd.read_csv(out / "paired.csv").set_index("metric")
    assert set(paired["group"]) == {"blurred"} and set(paired["reference"]) == {"sharp"}
    sharp = ok[ok["group"] == "sharp"].set_index("video")["sharpness_face"]
    blurred = ok[ok["group"] == "blurred"].set_index("video")["sharpness_face"]
    diff = (blurred - sharp.reindex(blurred.index)).to_numpy()
    assert paired.loc["sharpness_face", "delta"] == pytest.approx(diff.mean(), rel=1e-5)
    assert paired.loc["sharpness_face", "share_better"] == 0.0  # blur loses both pairs
    # two pairs cannot reach p < 0.5: no verdict on so little
    assert paired.loc["sharpness_face", "verdict"] == "no detectable difference"
    assert "## blurred vs sharp (2 pairs)" in (out / "paired.md").read_text()
    # a re-run reads every finished video from the cache (identical table)
    again = pd.read_csv(out / "metrics.csv")
    assert (
        main(
            [
                str(two_folders / "sharp"),
                str(two_folders / "blurred"),
                "--out",
                str(out),
                "--quiet",
                "--no-plot",
            ]
        )
        == 1
    )
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), again)
    # the other folder as the reference; a reference that is no folder: exit 2, nothing run
    assert main([str(two_folders / "sharp"), str(two_folders / "blurred"), "--out", str(out),
                 "--quiet", "--no-plot", "--reference", "blurred"]) == 1  # fmt: skip
    assert set(pd.read_csv(out / "paired.csv")["group"]) == {"sharp"}
    assert main([str(two_folders / "sharp"), "--out", str(out), "--reference", "nope"]) == 2
    assert "'nope' is not one of the folders ['sharp']" in capsys.readouterr().err
    # one folder: nothing to pair, and no paired table of the earlier run left behind
    assert main([str(two_folders / "sharp"), "--out", str(out), "--quiet", "--no-plot"]) == 1
    assert not (out / "paired.csv").exists() and not (out / "paired.md").exists()
    assert summarize(df).shape[0] == 2 * len(summary_rows())


def test_a_side_by_side_video_counts_two_faces_and_says_so(tmp_path) -> None:
    """Two faces side by side: ``faces`` 2 and a note in ``error`` (status still ok: every
    column is measured, of one of the faces)."""
    from tqa.serve.metrics_report import one_video

    frames = face_frames(50, 128)
    pair = tmp_path / "pair.mp4"
    write_video(pair, np.concatenate([frames, frames[:, :, ::-1]], axis=2))
    row = one_video(str(pair), {}, 10.0, None)
    assert row["status"] == "ok" and row["faces"] == 2
    assert row["error"] == f"{pair}: 2 faces in the picture; the face columns read one"


def test_a_cached_row_is_measured_again_under_other_feature_settings(tmp_path, monkeypatch):
    """The per-video cache is keyed by the features params too: the same file under another
    audio level is measured again; under the same settings (another cache_dir entry for
    the location keys only) it is read back."""
    import tqa.serve.metrics_report as mr

    calls = []

    def fake(path, fparams, max_seconds, start_s=0.0):
        calls.append(fparams.get("audio_level_dbfs"))
        return {"dnsmos_ovrl": 3.0 + len(calls)}

    monkeypatch.setattr(mr, "video_metrics", fake)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    cache = str(tmp_path / "cache")
    first = mr.one_video(str(video), {"audio_level_dbfs": -26}, 10.0, cache)
    again = mr.one_video(
        str(video), {"audio_level_dbfs": -26, "cache_dir": "elsewhere"}, 10.0, cache
    )
    other = mr.one_video(str(video), {"audio_level_dbfs": None}, 10.0, cache)
    assert calls == [-26, None]
    assert again == first and other["dnsmos_ovrl"] == 5.0


def test_an_offset_at_the_edge_of_the_search_is_noted(tmp_path, monkeypatch) -> None:
    """A row whose sync offset reads -sync_max_offset keeps its values and says in `error`
    that the offset is a bound; one inside the search says nothing."""
    from tqa.serve import metrics_report

    f = tmp_path / "v.mp4"
    f.write_bytes(b"x")
    for offset, noted in ((-15.0, True), (14.0, False)):
        monkeypatch.setattr(
            metrics_report, "video_metrics", lambda *a, o=offset, **k: {"sync_offset": o}
        )
        row = metrics_report.one_video(str(f), {"sync_max_offset": 15}, 10.0, None)
        assert row["status"] == "ok" and row["sync_offset"] == offset
        assert ("at the edge of the +-15-frame search" in row["error"]) is noted
