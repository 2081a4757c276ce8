"""Audio-explained mouth motion (tqa/features/av_explained.py, extractor ``avsync``).

Oracles independent of the code under test: audio built from sinusoids at the centres of
the HTK-mel filters with known per-frame amplitudes, the mouth a known linear function of
their log amplitudes at a known lag; synthetic faces whose lips open with a known envelope;
the real in-sync recordings (skipped when ../shared/realclips is absent).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tqa.core.clip import Clip
from tqa.core.params import ROOT
from tqa.features import av_explained as AE
from tqa.features.extractors.base import get_extractor

SR, FPS, HOP, T = 16000, 25, 640, 150
#: Nearly no shrinkage: a noiseless linear mouth must be explained almost entirely.
LOOSE = AE.Settings(alpha=1e-3)
CLIPS = ROOT.parent / "shared" / "realclips"


def log_amplitudes(rng: np.random.Generator, n_bands: int, n: int = T) -> np.ndarray:
    """(n, n_bands) smooth random log amplitudes (syllable-rate: a 3-frame moving mean)."""
    x = rng.standard_normal((n + 2, n_bands))
    return (x[:-2] + x[1:-1] + x[2:]) / 3


def tone_audio(logamp: np.ndarray, delay: int = 0, n_bands: int = 8) -> np.ndarray:
    """Sinusoids at the HTK-mel filter centres (mel 2595 log10(1 + f / 700), 0..8 kHz in
    n_bands + 1 equal steps), amplitude exp(logamp) of frame t - delay held over frame t."""
    mel_top = 2595 * np.log10(1 + 8000 / 700)
    centres = 700 * (10 ** (mel_top * np.arange(1, n_bands + 1) / (n_bands + 1) / 2595) - 1)
    amp = np.exp(np.roll(logamp, delay, axis=0))
    if delay > 0:
        amp[:delay] = amp[delay]
    elif delay < 0:
        amp[delay:] = amp[delay - 1]
    t = np.arange(len(logamp) * HOP) / SR
    per_sample = np.repeat(amp, HOP, axis=0)  # frame k covers samples centred on k / fps
    per_sample = np.roll(per_sample, -HOP // 2, axis=0)
    return (per_sample * np.sin(2 * np.pi * centres * t[:, None])).sum(axis=1).astype(np.float32)


def linear_mouth(logamp: np.ndarray, rng: np.random.Generator, noise: float = 0.02) -> np.ndarray:
    """(T, 3) mouth = a random linear map of the log amplitudes + a little noise."""
    w = rng.standard_normal((logamp.shape[1], 3))
    return logamp @ w + noise * rng.standard_normal((len(logamp), 3))


@pytest.mark.parametrize("k", [0, 3, -4, 7])
def test_linear_mouth_at_a_known_lag_gives_that_offset_and_r2_near_one(k):
    rng = np.random.default_rng(10 + k)
    la = log_amplitudes(rng, 8)
    mouth = linear_mouth(la, rng)
    bands = AE.audio_bands(tone_audio(la, k), SR, FPS, T, 8)
    res = AE.av_explained(mouth, bands, LOOSE)
    assert abs(res.offset - k) < 0.5
    assert res.curve.max() > 0.9
    if k == 0:
        assert res.explained > 0.9 and res.margin > 0.5
    else:
        assert res.explained < 0.5
    shipped = AE.av_explained(mouth, bands)  # the default (shrunk) settings find it too
    assert abs(shipped.offset - k) < 0.5


def test_foreign_or_shuffled_audio_explains_nothing():
    rng = np.random.default_rng(3)
    la = log_amplitudes(rng, 8)
    mouth = linear_mouth(la, rng)
    foreign = AE.audio_bands(tone_audio(log_amplitudes(rng, 8)), SR, FPS, T, 8)
    shuffled = AE.audio_bands(tone_audio(la[rng.permutation(T)]), SR, FPS, T, 8)
    for bands in (foreign, shuffled):
        for st in (LOOSE, AE.DEFAULT):
            assert AE.av_explained(mouth, bands, st).explained < 0.1


def test_nan_frames_padding_silence_and_short_clips():
    rng = np.random.default_rng(5)
    la = log_amplitudes(rng, 8)
    mouth = linear_mouth(la, rng)
    bands = AE.audio_bands(tone_audio(la, 2), SR, FPS, T, 8)
    mouth[40:55] = np.nan  # no face
    valid = np.arange(T) < 125  # a short clip's padding
    res = AE.av_explained(mouth, bands, LOOSE, valid)
    assert abs(res.offset - 2) < 0.5 and res.curve.max() > 0.8
    assert np.isnan(res.residual[40:55]).all() and np.isnan(res.residual[125:]).all()
    assert np.isfinite(res.residual[60:100]).all()
    silent = AE.audio_bands(np.zeros(T * HOP, np.float32), SR, FPS, T, 8)
    assert np.isnan(silent).all()
    assert np.isnan(AE.av_explained(mouth, silent).explained)
    short = AE.av_explained(mouth[:40], bands[:40])  # under MIN_FRAMES: undefined
    assert np.isnan([short.explained, short.offset, short.margin]).all()
    mid = AE.av_explained(mouth[75:], bands[75:], LOOSE)  # 75 frames: fewer lags, still defined
    assert 3 < len(mid.lags) < 31 and abs(mid.offset - 2) < 0.5


def test_peak_offset_is_the_centre_of_the_top():
    lags = np.arange(-5, 6)
    plateau = np.where(np.abs(lags - 2) <= 2, 0.8, 0.0)
    assert AE.peak_offset(lags, plateau) == pytest.approx(2.0)
    tilted = -((lags - 1.3) ** 2)
    assert abs(AE.peak_offset(lags, tilted) - 1.3) < 0.25
    two_peaks = np.where(np.isin(lags, [-4, 3]), 1.0, 0.0)  # the run around the argmax only
    assert AE.peak_offset(lags, two_peaks) in (-4.0, 3.0)
    assert np.isnan(AE.peak_offset(lags, np.full(11, np.nan)))


def test_block_folds_partition_and_keep_the_gap():
    folds = AE.block_folds(103, 5, 2)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(103))
    for tr, te in folds:
        assert np.all(np.abs(tr[:, None] - te[None]).min(axis=1) > 2)


def test_alignment_removes_similarity_motion():
    rng = np.random.default_rng(8)
    base = rng.uniform(50, 150, (468, 3))
    lm = np.repeat(base[None], 20, axis=0)
    ang, s = np.linspace(-0.3, 0.3, 20), np.linspace(0.7, 1.4, 20)
    rot = np.stack([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]).transpose(2, 0, 1)
    lm[..., :2] = s[:, None, None] * np.einsum("tij,pj->tpi", rot, base[:, :2]) + 30
    m = AE.mouth_trajectory(lm)
    assert np.allclose(m, m[0], atol=1e-9)


# ------------------------------------------------------------------------------ extractor
def synthetic_face(aperture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 (T, 96, 96, 3), landmarks (T, 468, 3)): a fixed face whose inner and outer
    lips part by ``aperture`` px and whose mouth shows a dark gap as tall as the aperture."""
    n = len(aperture)
    lm = np.zeros((n, 468, 3))
    lm[:, :, 0], lm[:, :, 1] = 48.0, 40.0
    anchors = {33: (30, 30), 133: (40, 31), 362: (56, 31), 263: (66, 30),
               168: (48, 33), 6: (48, 38), 197: (48, 43), 195: (48, 48)}  # fmt: skip
    for i, (x, y) in anchors.items():
        lm[:, i, :2] = x, y
    upper = (13, 82, 312, 81, 311, 80, 310, 0)
    lower = (14, 87, 317, 178, 402, 88, 318, 17)
    for j, (u, lo) in enumerate(zip(upper, lower)):
        x = 48 + (j - 3.5) * 1.5
        lm[:, u, 0], lm[:, lo, 0] = x, x
        lm[:, u, 1] = 70 - aperture / 2 - (2 if u == 0 else 0)
        lm[:, lo, 1] = 70 + aperture / 2 + (2 if lo == 17 else 0)
    for i, x in {61: 36, 291: 60, 78: 38, 308: 58}.items():
        lm[:, i, :2] = x, 70
    frames = np.full((n, 96, 96, 3), 200, np.uint8)
    for t in range(n):
        h = int(round(aperture[t] / 2))
        frames[t, 70 - h : 70 + h + 1, 38:59] = 20
    return frames, lm


def avsync_clip(k: int, has_audio: bool = True) -> tuple[Clip, dict]:
    """A 6 s synthetic clip whose lips follow a 1 kHz tone's envelope, audio late by k frames."""
    rng = np.random.default_rng(21)
    env = np.exp(log_amplitudes(rng, 1)[:, 0])
    frames, lm = synthetic_face(2 + 6 * env / env.max())
    audio = tone_audio(np.log(env)[:, None] + np.zeros((1, 8)), k) if has_audio else None
    audio = np.zeros(T * HOP, np.float32) if audio is None else audio
    clip = Clip("syn", "syn.mp4", frames, audio, has_audio=has_audio)
    return clip, {"landmarks_px": lm}


def test_extractor_registers_stacks_and_reads_the_offset():
    stack = get_extractor("au", "geometry+avsync", {})
    assert stack.dim == 17 + 4
    assert stack.feature_names()[-4:] == [
        "au__avsync_explained", "au__avsync_offset", "au__avsync_margin", "au__avsync_residual",
    ]  # fmt: skip
    ext = get_extractor("au", "avsync", {"sync_max_offset": 12})
    assert {"ridge_alpha_per_frame", "context_frames", "max_offset"} <= set(ext.describe())
    assert ext.describe()["max_offset"] == 12
    clip, ctx = avsync_clip(3)
    out = ext.extract(clip, ctx)
    assert out.shape == (T, 4) and out.dtype == np.float32
    assert np.all(out[:, :3] == out[0, :3])  # per-clip scalars on every frame
    assert abs(out[0, 1] - 3) < 0.5 and out[0, 0] < out[0, 0] + out[0, 2]
    both = stack.extract(clip, dict(ctx))
    alone = get_extractor("au", "avsync", {}).extract(clip, dict(ctx))
    assert both.shape == (T, 21) and np.array_equal(both[:, 17:], alone, equal_nan=True)


def test_extractor_nan_without_face_audio_or_landmarks():
    ext = get_extractor("au", "avsync", {})
    clip, ctx = avsync_clip(0)
    ctx["landmarks_px"][10:20] = np.nan
    clip.meta["valid_frames"] = np.arange(T) < 130
    out = ext.extract(clip, ctx)
    assert np.isnan(out[10:20]).all() and np.isnan(out[130:]).all()
    assert np.isfinite(out[30:100, :3]).all()
    silent, sctx = avsync_clip(0, has_audio=False)
    assert np.isnan(ext.extract(silent, sctx)).all()
    muted = dataclasses.replace(silent, has_audio=True)
    assert np.isnan(ext.extract(muted, sctx)).all()
    with pytest.raises(RuntimeError, match="landmarks_px"):
        ext.extract(clip, {})


# ------------------------------------------------------------------------------ real footage
@pytest.mark.skipif(
    not (CLIPS / "recordings").is_dir(),
    reason=f"real clips not found at {CLIPS} (../shared/realclips beside the repository)",
)
def test_in_sync_recordings_read_within_one_frame_and_beat_foreign_speech():
    from tqa.core.params import load_params
    from tqa.features.decode import _decode_audio
    from tqa.features.pipeline import FeatureExtractor

    fx = FeatureExtractor(load_params())
    ext = get_extractor("au", "avsync", fx.fparams)
    foreign = _decode_audio(str(CLIPS / "speech" / "1.wav"), 0.0, T * HOP, SR)
    for i in range(1, 6):
        clip = fx.load(str(CLIPS / "recordings" / f"{i}.mp4"), f"rec{i}")
        ctx: dict = {}
        fx.extractors["landmarks"].extract(clip, ctx)
        own = ext.extract(clip, dict(ctx))
        dub = ext.extract(dataclasses.replace(clip, audio=foreign), dict(ctx))
        offset = float(np.nanmean(own[:, 1]))
        assert round(offset) in (-1, 0, 1), f"recording {i}: offset {offset:+.2f}"
        assert np.nanmean(own[:, 0]) > np.nanmean(dub[:, 0]), f"recording {i}"
