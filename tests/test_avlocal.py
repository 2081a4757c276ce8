"""Local lip sync (``avlocal``, issue 26): a desynchronised stretch and a still mouth.

Oracles: a mouth signal that *is* the speech envelope (in sync: no deficit, no drift), the
same with the envelope shifted by a known number of frames inside one stretch (the windows
inside it find that shift), and a mouth frozen during speech.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from tqa.features.extractors.au_avlocal import HOP, WINDOW, LocalSyncAU, local_sync, still_voiced
from tqa.features.extractors.base import Clip, get_extractor

T, D = 150, 15


def _envelope(seed: int = 0) -> np.ndarray:
    """(T,) a smooth random 'speech envelope' (syllable-rate bumps)."""
    return gaussian_filter1d(np.random.default_rng(seed).normal(0, 1, T), 1.5)


def test_in_sync_mouth_has_no_deficit_and_no_drift():
    env = _envelope()
    deficit, dev = local_sync([env.copy(), env.copy()], env, D)
    covered = np.isfinite(deficit)
    assert covered.sum() == T - 2 * D  # every frame a window reaches
    assert not covered[:D].any() and not covered[T - D :].any()
    np.testing.assert_allclose(deficit[covered], 0.0, atol=1e-12)
    np.testing.assert_array_equal(dev[covered], 0.0)


@pytest.mark.parametrize("shift", [-8, 6])
def test_a_shifted_stretch_is_found_where_it_is(shift):
    """The mouth follows the audio shifted by ``shift`` frames inside frames 70-100 only (1.2 s:
    the clip's own offset stays 0)."""
    env = _envelope(1)
    mouth = env.copy()
    seg = np.arange(70, 100)
    mouth[seg] = env[seg + shift]  # mouth[t] = env[t + shift]: best lag = shift there
    deficit, dev = local_sync([mouth], env, D)
    inside = [s for s in range(D, T - D - WINDOW + 1, HOP) if s >= 70 and s + WINDOW <= 100]
    assert inside, "a window lies inside the stretch"
    for s in inside:
        assert dev[s + WINDOW // 2] == abs(shift)  # the clip's offset stays 0
        assert deficit[s + WINDOW // 2] > 0.3
    assert np.nanmax(dev[:45]) == 0 and np.nanmax(deficit[:45]) < 1e-9  # before the stretch


def _speech(seed: int = 3) -> np.ndarray:
    """(T,) envelope in dB: 1 s of silence (-40 dB), then syllable-rate modulated speech."""
    env = 10.0 * _envelope(seed) / np.std(_envelope(seed))
    env[:25] = -40.0
    return env


def test_a_mouth_that_follows_the_speech_is_not_still():
    env = _speech()
    out = still_voiced(0.2 + 0.01 * env, env, 25.0)  # aperture linear in the envelope
    covered = np.isfinite(out)
    assert covered[60:].all()
    np.testing.assert_allclose(out[covered], 0.0, atol=1e-9)  # every ratio is the median
    np.testing.assert_allclose(still_voiced(0.6 + 0.03 * env, env, 25.0), out, atol=1e-9)  # scale


def test_still_mouth_while_speaking():
    env = _speech()
    rng = np.random.default_rng(2)
    aperture = 0.2 + 0.01 * env + 0.002 * rng.normal(0, 1, T)
    frozen = aperture.copy()
    frozen[70:110] = frozen[70]  # held for 1.6 s while the speech runs on
    out, moving = still_voiced(frozen, env, 25.0), still_voiced(aperture, env, 25.0)
    assert np.isnan(out[:20]).all()  # frames that only pause windows cover are not judged
    inside = slice(70, 110)  # covered by the windows that lie wholly in the frozen stretch
    np.testing.assert_allclose(out[inside], 1.0)
    assert np.nanmax(moving) < 0.6 and np.nanmean(moving) < 0.2
    assert np.nanmean(out) > np.nanmean(moving) + 0.2
    assert np.isnan(still_voiced(aperture, np.full(T, np.nan), 25.0)).all()  # no audio


def test_extractor_shapes_and_nan_without_audio_or_face():
    ext = get_extractor("au", "geometry+pose+avsync+avlocal", {})
    assert ext.feature_names()[-3:] == [
        "au__avlocal_deficit", "au__avlocal_offset_dev", "au__avlocal_still_voiced"
    ]  # fmt: skip
    frames = np.zeros((T, 32, 32, 3), np.uint8)
    lm = np.full((T, 468, 3), np.nan, np.float32)
    clip = Clip("v", "v.mp4", frames, np.zeros(96000, np.float32), 25.0, has_audio=False)
    assert np.isnan(LocalSyncAU().extract(clip, {"landmarks_px": lm})).all()
    clip = Clip("v", "v.mp4", frames, np.random.default_rng(0).normal(0, 0.1, 96000).astype(
        np.float32), 25.0)  # fmt: skip
    out = LocalSyncAU().extract(clip, {"landmarks_px": lm})
    assert out.shape == (T, 3) and out.dtype == np.float32 and np.isnan(out).all()
