"""The ``headshift`` au extractor against closed forms: a sinusoidal drift through a moving
mean, white-noise jitter (Rayleigh mean), a still face, scale invariance, missing faces and
padding, and the registry."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tqa.core.clip import Clip
from tqa.data.corpus.face import LANDMARK_TABLE
from tqa.features.extractors.au_headshift import EYE_CORNERS, head_shift
from tqa.features.extractors.base import get_extractor
from tqa.features.face_dynamics import HEAD_WINDOW, moving_mean

FPS = 25.0


def face(scale: float = 1.0) -> np.ndarray:
    """(468, 3) Face Mesh pixel landmarks of a committed frontal portrait, times ``scale``."""
    lm = np.asarray(json.loads(LANDMARK_TABLE.read_text())["sources"]["grace_hopper"], float)
    return lm * scale


def moving(base: np.ndarray, shift_px: np.ndarray) -> np.ndarray:
    """(T, 468, 3): ``base`` translated by ``shift_px`` (T, 2) pixels per frame."""
    lm = np.repeat(base[None], len(shift_px), axis=0)
    lm[:, :, :2] += shift_px[:, None, :]
    return lm


def iod(base: np.ndarray) -> float:
    return float(np.linalg.norm(base[EYE_CORNERS[0], :2] - base[EYE_CORNERS[1], :2]))


def test_a_still_face_reads_zero():
    out = head_shift(moving(face(), np.zeros((150, 2))))
    assert out.shape == (150, 3)
    np.testing.assert_allclose(out, 0.0, atol=1e-12)


def test_sinusoidal_drift_matches_the_moving_mean_closed_form():
    """x(t) = A sin(2 pi f t) px: away from the clip's edges the column is A / IOD times the
    moving mean's gain |sin(pi f N / fps) / (N sin(pi f / fps))| (N = HEAD_WINDOW), in phase
    (the window is centred); y stays 0."""
    base, amp, f, t_len = face(), 3.0, 0.3, 500
    t = np.arange(t_len) / FPS
    out = head_shift(moving(base, np.stack([amp * np.sin(2 * np.pi * f * t), 0 * t], 1)))
    n = HEAD_WINDOW
    gain = abs(math.sin(math.pi * f * n / FPS) / (n * math.sin(math.pi * f / FPS)))
    # an even window centres half a frame late: the oracle's phase follows numpy's "same"
    expect = amp / iod(base) * gain * np.sin(2 * np.pi * f * (t - 0.5 / FPS))
    inner = slice(n, t_len - n)
    centred = out[inner, 0] - (expect[inner] - np.median(expect))  # the median offset only
    assert np.ptp(centred) < 1e-9
    np.testing.assert_allclose(out[:, 1], 0.0, atol=1e-12)
    # the residual of a slow sinusoid from its moving mean is small next to a shake
    assert np.nanmean(out[inner, 2]) < 0.05 * amp / iod(base)


def test_white_noise_jitter_reads_the_rayleigh_mean():
    """i.i.d. N(0, s^2) px shifts on both axes: away from the edges the residual from an N-frame
    moving mean has per-axis sd s sqrt(1 - 1/N), its length the Rayleigh mean of that,
    sd sqrt(pi / 2), in IOD."""
    rng = np.random.default_rng(0)
    base, s = face(), 1.5
    out = head_shift(moving(base, rng.normal(0, s, (4000, 2))))
    n = HEAD_WINDOW
    expect = s * math.sqrt(1 - 1 / n) * math.sqrt(math.pi / 2) / iod(base)
    assert np.nanmean(out[n:-n, 2]) == pytest.approx(expect, rel=0.03)
    # the slow columns average the noise down by sqrt(N)
    assert np.nanstd(out[n:-n, 0]) == pytest.approx(s / math.sqrt(n) / iod(base), rel=0.1)


def test_units_are_the_face_own_size():
    """A face twice as large moving twice as far reads the same (IOD units)."""
    rng = np.random.default_rng(1)
    shift = np.cumsum(rng.normal(0, 0.5, (150, 2)), axis=0)
    a = head_shift(moving(face(1.0), shift))
    b = head_shift(moving(face(2.0), 2 * shift))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_missing_faces_and_padding_are_nan():
    lm = moving(face(), np.zeros((150, 2)))
    lm[40:45] = np.nan
    ext = get_extractor("au", "headshift", {})
    clip = Clip("v", "v.mp4", np.zeros((150, 8, 8, 3), np.uint8), np.zeros(96000, np.float32),
                meta={"valid_frames": np.arange(150) < 120})  # fmt: skip
    out = ext.extract(clip, {"landmarks_px": lm})
    assert out.dtype == np.float32 and out.shape == (150, 3)
    assert np.isnan(out[40:45]).all() and np.isnan(out[120:]).all()
    assert np.isfinite(out[:40]).all() and np.isfinite(out[45:120]).all()
    np.testing.assert_allclose(out[np.isfinite(out[:, 0])], 0.0, atol=1e-6)
    assert np.isnan(head_shift(np.full((10, 468, 3), np.nan))).all()


def test_needs_landmarks_and_stacks_in_the_registry():
    ext = get_extractor("au", "headshift", {})
    assert ext.feature_names() == ["au__headshift_x", "au__headshift_y", "au__headshift_jitter"]
    clip = Clip("v", "v.mp4", np.zeros((5, 8, 8, 3), np.uint8), np.zeros(3200, np.float32))
    with pytest.raises(RuntimeError, match="v.mp4: headshift needs"):
        ext.extract(clip, {})
    stacked = get_extractor("au", "geometry+pose+headshift", {})
    assert stacked.feature_names()[-3:] == ext.feature_names()
    part = stacked.describe()["parts"][-1]
    assert part["name"] == "headshift" and part["window"] == HEAD_WINDOW  # keys the cache


def test_a_clip_shorter_than_the_window_keeps_its_length():
    """6 frames against a 10-frame window (the GPU extractor's test clips): one row per
    frame, the moving mean taken over the clip's own length."""
    rng = np.random.default_rng(2)
    out = head_shift(moving(face(), rng.normal(0, 1.0, (6, 2))))
    assert out.shape == (6, 3) and np.isfinite(out).all()
    x = rng.normal(size=4)
    np.testing.assert_allclose(moving_mean(x, 10), np.convolve(x, np.ones(4) / 4, mode="same")
                               * 4 / np.convolve(np.ones(4), np.ones(4), mode="same"))  # fmt: skip
