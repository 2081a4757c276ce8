"""Playback volume is not quality (tqa.features.audio_level): every extractor hears a clip
at ``features.audio_level_dbfs``. Oracles: closed-form RMS levels, and invariance (a clip
and its 20 dB quieter copy give the same features; with the level switched off they do
not, so the test can fail)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tqa.core.clip import Clip
from tqa.features.audio_level import at_level, level_dbfs, level_gain
from tqa.features.extractors.base import get_extractor, run_extractor

SR, FPS, T = 16000, 25.0, 75


def _voice(amplitude: float = 0.3, lead_zeros_s: float = 0.4) -> np.ndarray:
    """(S,) float32: digital silence, then a vowel-like tone whose loudness moves at 3 Hz,
    over a faint noise floor (3 s at 16 kHz)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(T / FPS * SR)) / SR
    wave = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 1200 * t)
    floor = 0.01 * rng.standard_normal(len(t))
    x = amplitude * (wave * (0.55 + 0.45 * np.sin(2 * np.pi * 3 * t)) + floor)
    x[: int(lead_zeros_s * SR)] = 0.0
    return x.astype(np.float32)


def _clip(audio: np.ndarray, has_audio: bool = True) -> Clip:
    return Clip("v", "v.mp4", np.zeros((T, 8, 8, 3), np.uint8), audio, FPS, SR, has_audio)


def test_level_is_the_rms_of_the_samples_that_are_not_zero() -> None:
    t = np.arange(SR) / SR
    sine = 0.5 * np.sin(2 * np.pi * 100 * t + 0.3)  # RMS 0.5 / sqrt(2); no sample is 0
    expected = 20 * math.log10(0.5 / math.sqrt(2))
    assert level_dbfs(sine) == pytest.approx(expected, abs=1e-6)
    assert level_dbfs(np.r_[np.zeros(SR), sine, np.zeros(7)]) == pytest.approx(expected, abs=1e-6)
    assert level_dbfs(np.zeros(100)) is None
    assert level_gain(np.zeros(100), -26.0) == 1.0
    # the level is rounded to 1e-6 dB first: the gain within 10^(5e-7 / 20) - 1 = 5.8e-8
    assert level_gain(sine, expected - 20.0) == pytest.approx(0.1, rel=6e-8)


def test_at_level_sets_the_level_and_forgets_the_volume() -> None:
    loud = _clip(_voice(0.3))
    quiet = _clip(_voice(0.003))
    a, b = at_level(loud, -26.0), at_level(quiet, -26.0)
    assert level_dbfs(a.audio) == pytest.approx(-26.0, abs=1e-4)
    np.testing.assert_allclose(a.audio, b.audio, rtol=1e-5, atol=1e-9)
    zeros = loud.audio == 0
    assert zeros.sum() == int(0.4 * SR) and np.array_equal(a.audio == 0, zeros)
    assert loud.audio.max() == pytest.approx(_voice(0.3).max())  # the input is not modified
    assert at_level(loud, None) is loud
    mute = _clip(np.zeros_like(loud.audio), has_audio=False)
    assert at_level(mute, -26.0) is mute


@pytest.mark.parametrize("level", [-26.0, None])
def test_the_audio_features_do_not_hear_the_volume(level) -> None:
    """Every default audio extractor (spectral log-mel / MFCC / eGeMAPS, DNSMOS, clipping)
    through run_extractor, as every cache-filling path calls it: a clip and its 20 dB
    quieter copy give the same columns at the default level; the file's own level
    (``None``) gives other ones."""
    ext = get_extractor(
        "audio", "spectral+dnsmos+clipping", {"audio_level_dbfs": level, "n_mels": 40}
    )
    loud = run_extractor(ext, _clip(_voice(0.3)), {})
    quiet = run_extractor(ext, _clip(_voice(0.03)), {})
    ok = np.isfinite(loud) & np.isfinite(quiet)
    assert ok.sum() > 0.5 * loud.size
    same = np.isclose(loud[ok], quiet[ok], rtol=1e-3, atol=1e-3)
    if level is None:
        assert not same.all()
    else:
        assert same.all(), np.flatnonzero(~same)[:10]
