"""The ``prosody`` au extractor (speech-coupled brows and mouth corners; opt-in, no ``tqa metrics``
column): planted signals on a real face (the committed Face Mesh table of a source portrait),
invariance to head rotation, an independent numpy / pandas oracle of the correlation, and the
extractor's output on a clip (per-clip value on face frames, NaN without audio). The real
recordings are measured by benchmarks/expression_coupling.py, not here."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, sosfiltfilt
from scipy.spatial.transform import Rotation

from tqa.core.clip import Clip
from tqa.core.params import ROOT
from tqa.data.corpus.face import LANDMARK_TABLE
from tqa.features.extractors import au_pose as P
from tqa.features.extractors.base import get_extractor
from tqa.features.extractors.sync_correlation import speech_envelope
from tqa.features.face_dynamics import HEAD_WINDOW, expression_speech_coupling

FPS = 25.0
SR = 16000
T = 150
CLIPS = ROOT.parent / "shared" / "realclips"


def face() -> np.ndarray:
    """(468, 3) pixel landmarks of the committed grace_hopper portrait."""
    return np.asarray(json.loads(LANDMARK_TABLE.read_text())["sources"]["grace_hopper"], float)


def animated(brow: np.ndarray, width: np.ndarray, rotate: bool = False) -> np.ndarray:
    """(T, 468, 3): brows moved up by ``brow`` px and mouth corners apart by ``width`` px per
    frame; with ``rotate``, each frame also turned by its own yaw / pitch / roll (<= 12 deg),
    scaled and moved (a moving head)."""
    base = face()
    iod = np.linalg.norm(base[263] - base[33])
    out = np.repeat(base[None], len(brow), axis=0)
    out[:, list(P.BROWS), 1] -= brow[:, None] * iod / 10
    left, right = P.MOUTH_CORNERS
    out[:, left, 0] -= width * iod / 20
    out[:, right, 0] += width * iod / 20
    if rotate:
        rng = np.random.default_rng(3)
        centre = base.mean(axis=0)
        for t in range(len(out)):
            rot = Rotation.from_euler("ZYX", rng.uniform(-12, 12, 3), degrees=True)
            out[t] = rot.apply(out[t] - centre) * rng.uniform(0.8, 1.2) + centre + [5.0, -3.0, 0]
    return out


def smooth(seed: int, n: int = T) -> np.ndarray:
    """A slow random contour (low-passed noise at ~1 Hz), like speech energy over words."""
    x = np.random.default_rng(seed).normal(size=n + 100)
    return sosfiltfilt(butter(2, 1.0, fs=FPS, output="sos"), x)[50:-50]


def oracle_r(level: np.ndarray, env: np.ndarray) -> float:
    """Pearson r (numpy) of pandas centred rolling means over HEAD_WINDOW frames."""
    roll = lambda v: pd.Series(v).rolling(HEAD_WINDOW, center=True, min_periods=1).mean()  # noqa: E731
    return float(np.corrcoef(roll(level), roll(env))[0, 1])


def test_planted_brows_follow_the_envelope_and_rotation_changes_nothing() -> None:
    env = smooth(0)
    other = smooth(1)
    still = np.zeros(T)
    for rotate in (False, True):
        r = expression_speech_coupling(animated(env, still, rotate), env, FPS)
        assert r["brow"] == pytest.approx(1.0, abs=1e-3)  # the brow level is env, affinely
        r2 = expression_speech_coupling(animated(other, env, rotate), env, FPS)
        assert r2["brow"] == pytest.approx(oracle_r(other, env), abs=2e-3)
        assert r2["smile"] == pytest.approx(1.0, abs=1e-3)


def test_a_face_driven_by_other_speech_reads_low() -> None:
    """Brows and corners that follow one contour, heard with ten others: |r| is what chance
    gives, well under the own-speech r of 1."""
    drive = smooth(10)
    lm = animated(drive, drive, rotate=True)
    rs = [expression_speech_coupling(lm, smooth(20 + k), FPS)["brow"] for k in range(10)]
    want = [oracle_r(drive, smooth(20 + k)) for k in range(10)]
    assert rs == pytest.approx(want, abs=5e-3)
    assert np.median(np.abs(rs)) < 0.5


def test_short_or_faceless_input_is_nan() -> None:
    env = smooth(0)
    lm = animated(env, env)
    assert all(math.isnan(v) for v in expression_speech_coupling(lm[:20], env[:20], FPS).values())
    lm[:] = np.nan
    assert all(math.isnan(v) for v in expression_speech_coupling(lm, env, FPS).values())


def _am_speech(contour: np.ndarray, seed: int = 0) -> np.ndarray:
    """float32 noise in the speech band, its amplitude following ``contour`` (per frame)."""
    n = int(len(contour) * SR / FPS)
    x = np.random.default_rng(seed).normal(size=n)
    x = sosfiltfilt(butter(4, [300, 3000], "band", fs=SR, output="sos"), x)
    amp = np.interp(np.arange(n) / SR * FPS, np.arange(len(contour)), contour)
    return (0.1 * x * amp).astype(np.float32)


def test_extractor_repeats_the_clip_value_on_face_frames() -> None:
    contour = 1.5 + smooth(5)
    lm = animated(np.log(contour), np.zeros(T), rotate=True).astype(np.float32)
    lm[140:] = np.nan  # the face lost for the last 10 frames
    clip = Clip("x", "x.mp4", np.zeros((T, 8, 8, 3), np.uint8), _am_speech(contour), FPS, SR)
    ext = get_extractor("au", "prosody", {})
    out = ext.extract(clip, {"landmarks_px": lm})
    assert out.shape == (T, 2) and out.dtype == np.float32
    assert ext.feature_names() == ["au__prosody_brow", "au__prosody_smile"]
    assert np.isnan(out[140:]).all() and np.isfinite(out[:140, 0]).all()
    want = expression_speech_coupling(lm, speech_envelope(clip.audio, SR, FPS, T), FPS)
    assert out[:140, 0] == pytest.approx(np.full(140, want["brow"]), abs=1e-6)
    assert out[0, 0] > 0.8  # brows planted on the log of the speech amplitude
    silent = Clip("x", "x.mp4", clip.frames, np.zeros(T * 640, np.float32), FPS, SR, False)
    assert np.isnan(ext.extract(silent, {"landmarks_px": lm})).all()
    with pytest.raises(RuntimeError, match="landmarks_px"):
        ext.extract(clip, {})
