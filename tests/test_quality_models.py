"""DNSMOS (speechmos) and BRISQUE (brisque) wrappers vs the packages' own reference calls,
and the extractors built on them vs known degradations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_media import face_frames, face_image

from tqa.core.clip import Clip
from tqa.features.extractors.audio_dnsmos import DnsmosAudio
from tqa.features.extractors.base import StackedExtractor, get_extractor
from tqa.features.extractors.visual_brisque import BrisqueVisual
from tqa.features.nets.brisque import brisque_features, brisque_frames, brisque_score
from tqa.features.nets.dnsmos import (
    dnsmos_frames,
    dnsmos_scores,
    dnsmos_windows,
    mel_filterbank,
    p808_melspec,
)

SR = 16000


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic 'voiced' bursts (120-180 Hz pitch, 3 Hz syllables) + a little noise, [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 150 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
    return (0.3 * voiced * env / 3 + 0.002 * rng.normal(size=t.size)).astype(np.float32)


# ------------------------------------------------------------------------------ BRISQUE
def test_brisque_score_equals_the_library_score() -> None:
    from brisque import BRISQUE

    ref = BRISQUE(url=False)
    img = face_image(160)
    for im in (img, cv2.GaussianBlur(img, (0, 0), 2.0), face_image(96)):
        assert brisque_score(im) == pytest.approx(float(ref.score(im)), abs=1e-9)
    assert brisque_features(img).shape == (36,)


def test_brisque_rises_with_blur_and_jpeg() -> None:
    img = face_image(160)
    base = brisque_score(img)
    blur = brisque_score(cv2.GaussianBlur(img, (0, 0), 3.0))
    ok, enc = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 5])
    jpeg = brisque_score(cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1].copy())
    assert blur > base + 10 and jpeg > base + 5


def test_brisque_frames_hold_and_face_nan() -> None:
    frames = face_frames(60, 128)
    boxes = np.tile([20.0, 20.0, 108.0, 108.0], (60, 1))
    boxes[30:] = np.nan  # no face in the second half
    out = brisque_frames(frames, boxes, every=25, face_size=96, full_size=128)
    assert out.shape == (60, 2)
    assert np.isfinite(out[:30, 0]).all() and np.isnan(out[30:, 0]).all()
    assert np.isfinite(out[:, 1]).all()
    # zero-order hold: frames 0-24 share frame 0's full-frame score, which is the library's
    assert np.all(out[:25, 1] == out[0, 1]) and out[0, 1] == pytest.approx(brisque_score(frames[0]))
    ext = BrisqueVisual({"brisque_every": 25})
    clip = Clip("v", "v.mp4", frames, np.zeros(60 * 640, np.float32))
    got = ext.extract(clip, {"face_box": boxes.astype(np.float32)})
    np.testing.assert_allclose(got[:, 1], out[:, 1].astype(np.float32), rtol=1e-6)


# ------------------------------------------------------------------------------ DNSMOS
def test_mel_front_end_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    fb = librosa.filters.mel(sr=SR, n_fft=321, n_mels=120)
    np.testing.assert_allclose(mel_filterbank(), fb, atol=1e-7)
    x = speechlike(9.0)[:144000]
    spec = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=321, hop_length=160, n_mels=120)
    ref = ((librosa.power_to_db(spec, ref=np.max) + 40) / 40).T
    np.testing.assert_allclose(p808_melspec(x), ref, atol=1e-4)


def test_dnsmos_scores_equal_speechmos_run() -> None:
    pytest.importorskip("librosa")
    from speechmos import dnsmos

    x = speechlike(6.0, seed=1)
    ref = dnsmos.run(x, SR)
    got = dnsmos_scores(x, SR, n_windows=None)
    for k_ref, k in (("ovrl_mos", "ovrl"), ("sig_mos", "sig"), ("bak_mos", "bak")):
        assert got[k] == pytest.approx(ref[k_ref], abs=1e-3)
    assert got["p808"] == pytest.approx(ref["p808_mos"], abs=1e-3)


def test_dnsmos_background_falls_with_noise() -> None:
    x = speechlike(6.0, seed=2)
    rng = np.random.default_rng(0)
    p = np.mean(x**2)
    vals = []
    for snr in (30, 10, 0):
        noisy = x + rng.normal(0, np.sqrt(p / 10 ** (snr / 10)), x.size).astype(np.float32)
        vals.append(dnsmos_scores(np.clip(noisy, -1, 1), SR)["bak"])
    assert vals[0] > vals[1] > vals[2]


def test_dnsmos_windows_and_extractor_layout() -> None:
    assert dnsmos_windows(6 * SR, SR, 3.0, 1.5) == [(0, 48000), (24000, 72000), (48000, 96000)]
    assert dnsmos_windows(2 * SR, SR, 3.0, 1.5) == [(0, 32000)]
    x = speechlike(6.0, seed=3)
    per_frame = dnsmos_frames(x, SR, 25, 150)
    # nearest window centre (1.5, 3.0, 4.5 s): frame 0 -> window 0, frame 149 (5.96 s) -> 2
    assert per_frame[0, 3] == per_frame[37, 3] and per_frame[149, 3] == per_frame[113, 3]
    clip = Clip("v", "v.mp4", np.zeros((150, 8, 8, 3), np.uint8), x)
    out = DnsmosAudio({"dnsmos_p835": True}).extract(clip, {})
    assert out.shape == (150, 4)
    np.testing.assert_allclose(out[:, 3], per_frame[:, 3], rtol=1e-6)
    video = dnsmos_scores(x, SR, n_windows=1)
    np.testing.assert_allclose(out[0, :3], [video["sig"], video["bak"], video["ovrl"]], rtol=1e-6)
    assert np.all(out[:, :3] == out[0, :3])  # per-video values repeated on every frame
    lite = DnsmosAudio({"dnsmos_p835": False})  # the default: P.808 alone
    assert lite.feature_names() == ["audio__dnsmos_p808"]
    np.testing.assert_array_equal(lite.extract(clip, {})[:, 0], out[:, 3])
    mute = Clip("v", "v.mp4", clip.frames, np.zeros_like(x), has_audio=False)
    assert np.isnan(DnsmosAudio({"dnsmos_p835": True}).extract(mute, {})).all()


def test_stacked_extractor_concatenates_columns() -> None:
    ext = get_extractor("audio", "spectral+dnsmos", {"audio_egemaps": False, "dnsmos_p835": True})
    assert isinstance(ext, StackedExtractor) and ext.name == "spectral+dnsmos"
    spectral = get_extractor("audio", "spectral", {"audio_egemaps": False})
    assert ext.dim == spectral.dim + 4
    assert ext.feature_names()[-4:] == [
        f"audio__dnsmos_{c}" for c in ("sig", "bak", "ovrl", "p808")
    ]
    clip = Clip("v", "v.mp4", np.zeros((150, 8, 8, 3), np.uint8), speechlike(6.0, seed=4))
    out = ext.extract(clip, {})
    np.testing.assert_allclose(out[:, : spectral.dim], spectral.extract(clip, {}), equal_nan=True)
    assert [p["name"] for p in ext.describe()["parts"]] == ["spectral", "dnsmos"]


def test_nss_mscn_statistics_agree_with_the_brisque_library() -> None:
    """The nss extractor's vectorised MSCN fit (kept for per-frame speed) against the library's
    first-scale BRISQUE features of the same natural images: GGD shape and variance, and the
    H-pair AGGD shape and mean agree within 5 % (borders differ: replicate vs zero padding;
    on smooth, blurred images the low MSCN variance makes them drift further apart)."""
    from tqa.features.extractors.visual_nss import REGION_FEATURES, region_features

    col = {n: i for i, n in enumerate(REGION_FEATURES)}
    img = face_image(160)
    for im in (img, face_image(224)):
        ours = region_features(im[None])[0]
        lib = brisque_features(im)  # [alpha, sigma2, H alpha, H mean, H sl2, H sr2, ...]
        for name, j in (("ggd_alpha", 0), ("ggd_sigma2", 1), ("H_alpha", 2), ("H_eta", 3)):
            assert ours[col[name]] == pytest.approx(lib[j], rel=0.05), name
