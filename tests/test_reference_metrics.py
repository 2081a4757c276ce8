"""Full-reference metrics of `tqa metrics --ground-truth` (tqa.features.reference_metrics,
tqa.serve.metrics_reference) against closed forms, an independent SSIM (Wang et al. 2004
with scipy's Gaussian filter) and an end-to-end run on small videos."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter
from test_media import face_frames

from tqa.features.decode import write_video
from tqa.features.extractors.landmarks_mediapipe import EYE_OUTER_L, EYE_OUTER_R
from tqa.features.extractors.visual_cadence import luma
from tqa.features.reference_metrics import (
    LIP_POINTS,
    PSNR_CAP,
    frame_psnr,
    frame_ssim,
    lip_distance,
    reference_metrics,
)
from tqa.serve.metrics_reference import ground_truth_map, twin
from tqa.serve.metrics_report import main


def test_psnr_closed_form() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(50, 200, (3, 16, 24, 3)).astype(np.uint8)
    np.testing.assert_allclose(frame_psnr(a + 10, a), 10 * np.log10(255**2 / 100.0))
    assert (frame_psnr(a, a) == PSNR_CAP).all()  # identical frames: the cap, not inf


def _ssim_wang(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004's SSIM with an 11-tap Gaussian window (sigma 1.5), the mean over
    the pixels at least 5 from the border: written from the paper with scipy."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    f = lambda z: gaussian_filter(z, 1.5, truncate=3.5, mode="reflect")  # noqa: E731
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def test_ssim_matches_the_paper_and_falls_with_noise() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (2, 40, 48, 3)).astype(np.uint8)
    noisy = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    got = frame_ssim(noisy, a)
    want = [_ssim_wang(luma(noisy)[i], luma(a)[i]) for i in range(2)]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert (frame_ssim(a, a) == 1.0).all() and (got < 0.99).all()


def _face_landmarks(t: int, rng: np.random.Generator) -> np.ndarray:
    lm = rng.uniform(50, 150, (t, 468, 3))
    lm[:, EYE_OUTER_L, :2], lm[:, EYE_OUTER_R, :2] = (60.0, 80.0), (140.0, 80.0)  # IOD 80 px
    return lm


def test_lip_distance_ignores_where_the_head_is_and_reads_the_mouth_shape() -> None:
    rng = np.random.default_rng(2)
    ref = _face_landmarks(4, rng)
    moved = ref.copy()
    moved[..., :2] += (7.0, -3.0)  # the same face elsewhere in the frame
    np.testing.assert_allclose(lip_distance(moved, ref), 0.0, atol=1e-9)
    wide = ref.copy()
    lips = ref[:, list(LIP_POINTS), :2]
    c = lips.mean(axis=1, keepdims=True)
    wide[:, list(LIP_POINTS), :2] = c + 1.1 * (lips - c)  # the mouth 10 % larger
    want = 100 * np.linalg.norm(0.1 * (lips - c), axis=2).mean(axis=1) / 80.0
    np.testing.assert_allclose(lip_distance(wide, ref), want)
    gone = wide.copy()
    gone[1] = np.nan  # no face in frame 1
    assert math.isnan(lip_distance(gone, ref)[1])


def test_reference_metrics_sizes_and_lengths() -> None:
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, (5, 32, 48, 3)).astype(np.uint8)
    lm = _face_landmarks(5, rng)
    vals, notes = reference_metrics(ref[:4], lm[:4], ref, lm)
    assert vals["psnr"] == PSNR_CAP and vals["ssim"] == 1.0 and vals["lmd"] == 0.0
    assert notes == ["4 frames against the ground truth's 5: compared over the first 4"]
    big = np.repeat(np.repeat(ref, 2, axis=1), 2, axis=2)  # the same picture at twice the size
    vals, notes = reference_metrics(big, lm, ref, lm)
    assert notes == ["frames 96x64 resized to the ground truth's 48x32"]
    assert vals["psnr"] == PSNR_CAP  # a 2x2 block average gives the original pixels back
    tall = np.zeros((5, 48, 48, 3), np.uint8)
    vals, notes = reference_metrics(tall, lm, ref, lm)
    assert math.isnan(vals["psnr"]) and math.isnan(vals["ssim"]) and vals["lmd"] == 0.0
    assert notes == ["frames 48x48 against the ground truth's 48x32: no PSNR / SSIM"]


def test_ground_truth_pairs_by_name_and_refuses_ambiguity(tmp_path) -> None:
    gt = tmp_path / "real"
    (gt / "sub").mkdir(parents=True)
    for name in ("p1_a1_real.mp4", "sub/p2_a1.mp4"):
        (gt / name).write_bytes(b"x")
    truth = ground_truth_map(gt)
    assert twin(tmp_path / "p1_a1_wav2lip.mp4", "wav2lip", truth) == gt / "p1_a1_real.mp4"
    assert twin(tmp_path / "p2_a1.mp4", "sadtalker", truth) == gt / "sub" / "p2_a1.mp4"
    assert twin(tmp_path / "p3_a1.mp4", "sadtalker", truth) is None
    (gt / "p1_a1.mp4").write_bytes(b"x")  # p1_a1 twice once 'real' is left out
    with pytest.raises(ValueError, match="have the same name"):
        ground_truth_map(gt)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        ground_truth_map(tmp_path / "nope")


def test_tqa_metrics_against_the_ground_truth(tmp_path) -> None:
    """A copy of the ground truth reads PSNR at the cap, SSIM 1 and LMD 0; a blurred
    re-render reads less on both pixel columns; a video with no twin says so."""
    import cv2

    frames = face_frames(50, 128)
    t = np.arange(2 * 16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(6 * np.pi * t))).astype(
        np.float32
    )
    for folder, f in (
        ("real", frames),
        ("copy", frames),
        ("blurred", np.stack([cv2.GaussianBlur(x, (0, 0), 1.5) for x in frames])),
    ):
        (tmp_path / folder).mkdir()
        for k, name in enumerate(("p1", "p2")):  # two portraits: two pairs for paired.csv
            write_video(tmp_path / folder / f"{name}.mp4", np.roll(f, 3 * k, axis=2), audio=tone)
    write_video(tmp_path / "blurred" / "p9.mp4", frames, audio=tone)  # no twin
    out = tmp_path / "out"
    args = [str(tmp_path / "copy"), str(tmp_path / "blurred"), "--ground-truth",
            str(tmp_path / "real"), "--out", str(out), "--quiet", "--no-plot"]  # fmt: skip
    assert main(args) == 0
    df = pd.read_csv(out / "metrics.csv").set_index(["group", "video"])
    assert list(df.columns[-3:]) == ["psnr", "ssim", "lmd"]
    same, blur = df.loc[("copy", "p1")], df.loc[("blurred", "p1")]
    assert same["psnr"] == PSNR_CAP and same["ssim"] == 1.0 and same["lmd"] == 0.0
    assert blur["psnr"] < 45 and blur["ssim"] < 0.99 and blur["lmd"] >= 0.0
    lone = df.loc[("blurred", "p9")]
    assert math.isnan(lone["psnr"]) and "no video of this name in --ground-truth" in lone["error"]
    assert "| psnr | dB | higher |" in (out / "summary.md").read_text()
    assert set(pd.read_csv(out / "paired.csv")["metric"]) >= {"psnr", "ssim", "lmd"}
    # without --ground-truth the table has no reference columns
    assert main([str(tmp_path / "copy"), "--out", str(tmp_path / "o2"), "--quiet",
                 "--no-plot"]) == 0  # fmt: skip
    assert "psnr" not in pd.read_csv(tmp_path / "o2" / "metrics.csv").columns


def test_the_cache_is_keyed_by_the_ground_truth_file(tmp_path, monkeypatch) -> None:
    """A row measured against one ground-truth file is not handed back against another (nor
    after that file changed); against the same, unchanged one it is."""
    import os

    import tqa.serve.metrics_report as mr

    calls = []

    def fake(path, fparams, seconds, start_s, reference):
        calls.append(reference)
        return {"psnr": float(len(calls))}

    monkeypatch.setattr(mr, "measure_against", fake)
    video, gt1, gt2 = (tmp_path / n for n in ("v.mp4", "g1.mp4", "g2.mp4"))
    for f in (video, gt1, gt2):
        f.write_bytes(b"x")
    cache = str(tmp_path / "cache")
    first = mr.one_video(str(video), {}, None, cache, reference=str(gt1))
    assert mr.one_video(str(video), {}, None, cache, reference=str(gt1)) == first
    assert mr.one_video(str(video), {}, None, cache, reference=str(gt2))["psnr"] == 2.0
    gt1.write_bytes(b"xy")  # the ground truth changed (size)
    os.utime(gt1, (1, 1))
    assert mr.one_video(str(video), {}, None, cache, reference=str(gt1))["psnr"] == 3.0
    assert calls == [str(gt1), str(gt2), str(gt1)]
