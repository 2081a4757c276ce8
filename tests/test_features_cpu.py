"""Weight-free extractors against independent oracles and known degradations."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_media import face_frames, face_image

from tqa.core.schema import AU_CODES
from tqa.features.extractors.au_geometry import au_estimates
from tqa.features.extractors.au_openface import OpenFaceAU, read_openface_csv
from tqa.features.extractors.audio_spectral import (
    EGEMAPS_LLD,
    SpectralAudio,
    egemaps_features,
    mel_filterbank,
    spectral_features,
)
from tqa.features.extractors.base import Clip, get_extractor
from tqa.features.extractors.landmarks_mediapipe import (
    detect_landmarks,
    landmark_context,
    normalize_shape,
)
from tqa.features.extractors.sync_correlation import (
    INNER_LIP_PAIRS,
    CorrelationSync,
    combine_curves,
    estimate_offset,
    mouth_darkness,
)
from tqa.features.extractors.visual_nss import (
    REGION_FEATURES,
    aggd_fit,
    blockiness,
    colourfulness,
    ggd_fit,
    luminance,
    region_features,
    sharpness,
)

SR, FPS, T = 16000, 25, 150
COL = {n: i for i, n in enumerate(REGION_FEATURES)}


def clip_of(frames: np.ndarray, audio: np.ndarray | None = None, **meta) -> Clip:
    n = len(frames)
    a = np.zeros(n * SR // FPS, np.float32) if audio is None else audio.astype(np.float32)
    return Clip("t", "t.mp4", frames, a, has_audio=audio is not None, meta=meta)


# ---------------------------------------------------------------- visual NSS
def test_ggd_fit_recovers_shape_of_scipy_gennorm_samples() -> None:
    rng = np.random.default_rng(0)
    for beta in (0.8, 1.0, 2.0, 3.0):
        x = stats.gennorm.rvs(beta, size=(2, 200_000), random_state=rng).astype(np.float32)
        alpha, var = ggd_fit(x)
        assert alpha == pytest.approx([beta, beta], rel=0.05)
        assert var == pytest.approx(np.full(2, stats.gennorm.var(beta)), rel=0.05)
        a = aggd_fit(x)  # symmetric: AGGD alpha = beta, eta ~ 0, equal side variances
        assert a[:, 0] == pytest.approx([beta, beta], rel=0.07)
        assert np.abs(a[:, 1]).max() < 0.02
        assert a[:, 2] == pytest.approx(a[:, 3], rel=0.05)


def test_sharpness_falls_monotonically_with_blur() -> None:
    img = face_image(128)
    blurred = np.stack([img] + [cv2.GaussianBlur(img, (0, 0), s) for s in (0.5, 1.0, 2.0, 4.0)])
    s = sharpness(luminance(blurred))
    assert np.all(np.diff(s) < 0), s


def test_jpeg_raises_blockiness() -> None:
    img = face_image(128)
    ok, enc = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 8])
    jpg = cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1]
    b = blockiness(luminance(np.stack([img, jpg])))
    assert b[1] > 1.3 * b[0] and b[1] > 1.2


def test_noise_changes_mscn_statistics() -> None:
    img = face_image(128)
    rng = np.random.default_rng(1)
    noisy = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
    f = region_features(np.stack([img, noisy]))
    # white noise raises MSCN variance and removes the heavy tails of natural images: the
    # GGD shape grows (Mittal et al. 2012, fig. 2: WN shifts the MSCN histogram's shape up)
    assert f[1, COL["mscn_var"]] > f[0, COL["mscn_var"]]
    assert f[1, COL["ggd_alpha"]] > f[0, COL["ggd_alpha"]] + 0.3
    assert f[1, COL["mscn_kurt"]] < f[0, COL["mscn_kurt"]]


def test_colourfulness_closed_form() -> None:
    grey = np.repeat(face_image(64).mean(-1, keepdims=True), 3, -1).astype(np.uint8)
    assert colourfulness(grey[None])[0] == pytest.approx(0.0, abs=1e-6)
    # two-colour image: half pure red, half pure blue (even columns, so subsampling keeps the mix)
    img = np.zeros((1, 8, 8, 3), np.uint8)
    img[0, :, :4, 0] = 255
    img[0, :, 4:, 2] = 255
    rg = np.r_[np.full(32, 255.0), np.zeros(32)]
    yb = np.r_[np.full(32, 127.5), np.full(32, -255.0)]
    want = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert colourfulness(img)[0] == pytest.approx(want, rel=1e-5)


def test_nss_extractor_face_and_full_columns(tmp_path: Path) -> None:
    frames = face_frames(6, 128)
    ext = get_extractor("visual", "nss", {"face_crop": True})
    boxes = np.tile(np.array([[30, 30, 90, 100]], np.float32), (6, 1))
    boxes[2] = np.nan  # no face in frame 2
    out = ext.extract(clip_of(frames), {"face_box": boxes})
    k = len(REGION_FEATURES)
    assert out.shape == (6, ext.dim) == (6, len(ext.feature_names()))
    assert np.isfinite(out[:, :k]).all()  # full frame always
    assert np.isnan(out[2, k : 2 * k]).all() and np.isfinite(out[[0, 1, 3], k : 2 * k]).all()
    assert np.isfinite(ext.extract(clip_of(frames), {})[:, :k]).all()


# ---------------------------------------------------------------- audio
def test_mel_filterbank_tone_peaks_in_band_containing_it() -> None:
    fb = mel_filterbank(40, 1024, SR)
    # independent HTK mel band centres
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    centres = 700 * (10 ** (np.linspace(0, mel(SR / 2), 42)[1:-1] / 2595) - 1)
    for f0 in (300.0, 1000.0, 3000.0):
        t = np.arange(96000) / SR
        feats = spectral_features(np.sin(2 * np.pi * f0 * t).astype(np.float32), SR, T, FPS)
        logmel = feats[10:-10, :40].mean(0)
        assert logmel.argmax() == np.abs(centres - f0).argmin()
    assert fb.max() <= 1.0 + 1e-6 and fb.shape == (40, 513)


def test_spectral_scalars_on_sine_and_noise() -> None:
    t = np.arange(96000) / SR
    amp, f0 = 0.4, 500.0
    sine = (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
    f = spectral_features(sine, SR, T, FPS)
    n_mel, n_mfcc = 40, 13
    rms, centroid, flat, rolloff, zcr, flux = f[5:-5, n_mel + 2 * n_mfcc :].T
    assert rms == pytest.approx(np.full_like(rms, amp / np.sqrt(2)), rel=1e-3)
    assert np.median(centroid) == pytest.approx(f0, rel=0.05)
    assert np.median(zcr) == pytest.approx(2 * f0 / SR, rel=0.05)
    noise = np.random.default_rng(0).normal(0, 0.1, 96000).astype(np.float32)
    fn = spectral_features(noise, SR, T, FPS)
    assert np.median(fn[:, n_mel + 2 * n_mfcc + 2]) > 10 * np.median(
        flat
    )  # noise is flat, a tone is not
    # MFCC = orthonormal DCT-II of ln mel energies, by the explicit cosine sum
    logmel10 = f[50, :n_mel].astype(np.float64)
    ln = logmel10 * np.log(10)
    k, n = np.arange(n_mfcc)[:, None], np.arange(n_mel)[None]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_mel)) * np.sqrt(2 / n_mel)
    basis[0] /= np.sqrt(2)
    assert f[50, n_mel : n_mel + n_mfcc] == pytest.approx(basis @ ln, rel=1e-3, abs=1e-2)


def test_spectral_extractor_dims_nan_without_audio_and_egemaps() -> None:
    frames = np.zeros((T, 8, 8, 3), np.uint8)
    ext = SpectralAudio({"audio_egemaps": True})
    assert ext.dim == len(ext.feature_names()) == 40 + 26 + 6 + 25
    assert np.isnan(ext.extract(clip_of(frames), {})).all()
    t = np.arange(96000) / SR
    quiet = (0.05 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )
    e_q = egemaps_features(quiet, SR, T, FPS)
    e_l = egemaps_features(quiet * 10, SR, T, FPS)
    li = EGEMAPS_LLD.index("Loudness_sma3")
    assert e_q.shape == (T, 25) and np.isfinite(e_q[:-1]).all()
    assert np.nanmean(e_l[:, li]) > 2 * np.nanmean(e_q[:, li])


# ---------------------------------------------------------------- landmarks + AU geometry
@pytest.fixture(scope="module")
def face_landmarks() -> np.ndarray:
    return detect_landmarks(face_frames(10, 192))


def test_mediapipe_finds_face_and_blank_frames_are_nan(face_landmarks: np.ndarray) -> None:
    assert face_landmarks.shape == (10, 468, 3) and np.isfinite(face_landmarks).all()
    blank = detect_landmarks(
        np.zeros((5, 192, 192, 3), np.uint8)
    )  # right after a face clip: no leak
    assert np.isnan(blank).all()
    ctx = landmark_context(np.concatenate([face_landmarks[:3], blank[:2]]))
    assert ctx["face_detected"].tolist() == [True] * 3 + [False] * 2
    assert (
        np.isnan(ctx["face_box"][3:]).all()
        and (ctx["face_box"][:3, 2] > ctx["face_box"][:3, 0]).all()
    )
    assert np.isfinite(ctx["mouth_open"][:3]).all() and np.isnan(ctx["mouth_open"][3:]).all()


def test_landmark_extractor_blank_clip_gives_nan_rows_not_crash() -> None:
    ext = get_extractor("landmarks", "mediapipe", {"normalize_landmarks": True})
    frames = face_frames(6, 192)
    frames[2:4] = 0
    ctx: dict = {}
    out = ext.extract(clip_of(frames), ctx)
    assert out.shape == (6, 1404)
    assert np.isnan(out[2:4]).all() and np.isfinite(out[[0, 1, 4, 5]]).all()


def test_normalisation_removes_translation_scale_rotation(face_landmarks: np.ndarray) -> None:
    p = face_landmarks[:1].astype(np.float64)
    a = np.deg2rad(20)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    q = p.copy()
    q[..., :2] = (p[..., :2] @ rot.T) * 1.7 + np.array([13.0, -40.0])
    q[..., 2] *= 1.7
    n_p, n_q = normalize_shape(p), normalize_shape(q)
    assert np.abs(n_p - n_q).max() < 1e-4
    assert np.abs(n_p[0, :, :2].mean(0)).max() < 1e-5
    assert np.sqrt((n_p[0, :, :2] ** 2).sum(1).mean()) == pytest.approx(1.0, rel=1e-5)
    assert n_p[0, 263, 1] == pytest.approx(n_p[0, 33, 1], abs=1e-5)  # eye line horizontal


def test_au_geometry_invariant_to_similarity_and_responds_to_lip_gap(
    face_landmarks: np.ndarray,
) -> None:
    p = face_landmarks[:1].astype(np.float64)
    a = np.deg2rad(-12)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    q = p.copy()
    q[..., :2] = (p[..., :2] @ rot.T) * 0.6 + 50
    q[..., 2] *= 0.6
    au_p, au_q = au_estimates(p), au_estimates(q)
    assert au_p.shape == (1, 17)
    assert np.abs(au_p[:, :-1] - au_q[:, :-1]).max() < 1e-4  # AU45 is clip-relative
    opened = p.copy()
    iod = np.linalg.norm(p[0, 263, :2] - p[0, 33, :2])
    opened[0, 14, 1] += 0.2 * iod  # drop the inner lower lip
    d = au_estimates(opened)[0] - au_p[0]
    assert d[AU_CODES.index("AU25")] == pytest.approx(0.2, rel=0.15)  # inner-lip gap / IOD
    assert abs(d[AU_CODES.index("AU26")]) < 1e-6 and abs(d[AU_CODES.index("AU01")]) < 1e-6
    ext = get_extractor("au", "geometry", {})
    assert ext.feature_names()[0] == "au__AU01_est"
    with pytest.raises(RuntimeError, match="landmarks_px"):
        ext.extract(clip_of(np.zeros((2, 8, 8, 3), np.uint8)), {})


# ---------------------------------------------------------------- OpenFace
def test_openface_csv_parsed_onto_grid(tmp_path: Path) -> None:
    n = 90  # 3 s at 30 fps
    df = pd.DataFrame(
        {"frame": np.arange(1, n + 1), " timestamp": np.arange(n) / 30, " success": 1}
    )
    for i, c in enumerate(AU_CODES):
        df[f" {c}_r"] = np.arange(n) * 0 + i + np.arange(n) / 100
    df.loc[10, " success"] = 0
    path = tmp_path / "vid1.csv"
    df.to_csv(path, index=False)
    out = read_openface_csv(path, T, FPS)
    assert out.shape == (T, 17)
    k = 20  # 0.8 s -> source frame 24
    assert out[k, 0] == pytest.approx(0 + 24 / 100)
    assert out[k, 5] == pytest.approx(5 + 24 / 100)
    assert np.isnan(out[80:]).all()  # past the 3 s of rows
    j = int(np.argmin(np.abs(np.arange(T) / FPS - 10 / 30)))  # grid frame nearest the failed row
    assert np.isnan(out[j]).all()
    ext = OpenFaceAU(
        {"openface_csv_dir": str(tmp_path), "openface_bin": "FeatureExtraction-absent"}
    )
    c = Clip("vid1", "vid1.mp4", np.zeros((T, 8, 8, 3), np.uint8), np.zeros(96000, np.float32))
    assert np.allclose(ext.extract(c, {}), out, equal_nan=True)
    with pytest.raises(RuntimeError, match="OpenFace AUs unavailable"):
        ext.extract(Clip("other", "other.mp4", c.frames, c.audio), {})


# ---------------------------------------------------------------- sync
def _smooth_signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.convolve(rng.normal(size=n + 10), np.ones(5) / 5, mode="same")[5:-5]
    return np.abs(x)


@pytest.mark.parametrize("k", [6, -4, 0, 13])
def test_estimate_offset_recovers_injected_offset_synthetic(k: int) -> None:
    m = _smooth_signal(T + 40, 3)
    mouth = m[20 : 20 + T]
    env = m[20 - k : 20 - k + T]  # audio delayed by k: env[t] = mouth[t - k]
    est = estimate_offset(mouth, env, 15)
    assert est.offset == k and est.best_distance < 0.05 and est.best_confidence > 0.3
    # the in-sync scores are read at lag 0: perfect only when k == 0
    assert (est.distance < 0.05) == (k == 0)
    assert est.confidence == pytest.approx(np.median(est.curve) - est.curve[15])


@pytest.mark.parametrize("delta", [1.4, -2.3, 0.25, 5.0])
def test_subframe_offset_recovers_a_fractional_delay(delta: float) -> None:
    """A smooth signal and the same signal delayed by a fractional number of frames (a sum of
    sinusoids evaluated at t and t - delta: an exact fractional delay, the oracle): the
    integer offset is the nearest frame, the sub-frame one lies within 0.15 frame of delta
    and within half a frame of the integer one."""
    rng = np.random.default_rng(7)
    freq = rng.uniform(0.3, 3.0, 12) / 25.0  # cycles per frame: 0.3-3 Hz at 25 fps
    phase, amp = rng.uniform(0, 2 * np.pi, 12), rng.uniform(0.5, 1.0, 12)
    t = np.arange(T, dtype=float)

    def signal(tt: np.ndarray) -> np.ndarray:
        return (amp * np.sin(2 * np.pi * freq * tt[:, None] + phase)).sum(axis=1)

    est = estimate_offset(signal(t), signal(t - delta), 15)  # audio delayed by delta
    assert est.offset == round(delta)
    assert abs(est.offset_subframe - delta) < 0.15
    assert abs(est.offset_subframe - est.offset) <= 0.5
    blank = estimate_offset(np.full(T, np.nan), signal(t), 15)
    assert np.isnan(blank.offset) and np.isnan(blank.offset_subframe)


@pytest.mark.parametrize("n", [40, 60, 70, 75, 90])
def test_a_short_clip_reads_the_same_offset_with_or_without_the_grid_padding(n: int) -> None:
    """A clip of n frames (audio delayed by 4) read on its own frames (`tqa metrics`) and on
    the 150-frame grid with NaN padding (the feature cache): no offset under 71 frames either
    way, the injected one from 75 (the whole-clip window's MIN_FALLBACK_PAIRS = 60 finite
    pairs at every lag: n >= 60 + 15). Between, the padded grid's 2 s windows already fit
    (72-74 frames: 2 windows, the injected offset) and the unpadded clip has none. Before,
    the unpadded reading of 40 frames needed 6 pairs and gave an offset (+13 on a real
    in-sync recording cut to 1.6 s)."""
    from tqa.features.extractors.sync_correlation import MIN_FALLBACK_PAIRS

    assert MIN_FALLBACK_PAIRS == 2 * 30  # MIN_WINDOWS x 60 % of a 50-frame window
    k, m = 4, _smooth_signal(n + 40, 5)
    mouth, env = m[20 : 20 + n], m[20 - k : 20 - k + n]
    pad = np.full(T - n, np.nan)
    alone = estimate_offset(mouth, env, 15)
    padded = estimate_offset(np.r_[mouth, pad], np.r_[env, pad], 15)
    if n - 15 < MIN_FALLBACK_PAIRS and n <= 70:
        assert np.isnan(alone.offset) and np.isnan(padded.offset)
    else:
        assert alone.offset == k and padded.offset == k


def test_combine_curves_weights_each_curve_by_its_confidence() -> None:
    """w_s = max(0, median - min) of each curve, against numpy's weighted average; a curve
    with no dip (w = 0) drops out; all weights 0 -> the plain mean; "mean" ignores weights."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 1.5, 31), rng.uniform(0.8, 1.2, 31)
    wa, wb = np.median(a) - a.min(), np.median(b) - b.min()
    np.testing.assert_allclose(combine_curves([a, b]), np.average([a, b], axis=0, weights=[wa, wb]))
    flat = np.full(31, 0.9)
    np.testing.assert_allclose(combine_curves([a, flat]), a)
    np.testing.assert_allclose(combine_curves([flat, flat + 0.1]), flat + 0.05)
    np.testing.assert_allclose(combine_curves([a, b], "mean"), (a + b) / 2)
    with pytest.raises(ValueError, match="combine must be one of"):
        combine_curves([a], "median")


def test_a_low_confidence_signal_cannot_pull_the_offset_to_its_own_dip() -> None:
    """Two mouth signals: one follows the audio at the injected lag +3, the other (noisy
    landmarks, say) is the audio at lag -9 minus the mouth, so its curve dips at -9 and
    peaks at +3, with a lower prominence than the first one's (0.70 vs 1.01). Their plain
    mean reads -9 (the rule before 2026-12-07, what recording 4 of the real clips did with
    its audio advanced); weighted by their confidence the curves read +3 (the injection is
    the oracle)."""
    k, j = 3, -9
    m = _smooth_signal(T + 60, 0)
    mouth, env = m[30 : 30 + T], m[30 - k : 30 - k + T]
    other = m[30 - k + j : 30 - k + j + T] - mouth
    other = other + 0.5 * other.std() * np.random.default_rng(100).normal(size=T)
    assert estimate_offset([mouth, other], env, 15, combine="mean").offset == j
    assert estimate_offset([mouth, other], env, 15).offset == k
    # one signal: the weighting has nothing to weigh
    one = estimate_offset(mouth, env, 15)
    np.testing.assert_array_equal(one.curve, estimate_offset(mouth, env, 15, combine="mean").curve)


def _mouth_landmarks(aperture: np.ndarray) -> np.ndarray:
    """(T, 468, 3) pixel landmarks: eyes 40 px apart, 7 inner-lip pairs ``aperture`` px apart."""
    lm = np.zeros((len(aperture), 468, 3), np.float32)
    lm[:, 33, :2], lm[:, 263, :2] = (40, 50), (80, 50)
    lm[:, 78, :2], lm[:, 308, :2] = (50, 80), (70, 80)
    for j, (up, low) in enumerate(INNER_LIP_PAIRS):
        lm[:, up, 0] = lm[:, low, 0] = 52 + 2 * j
        lm[:, up, 1], lm[:, low, 1] = 80 - aperture / 2, 80 + aperture / 2
    return lm


@pytest.mark.parametrize("k", [5, -7])
def test_correlation_sync_on_speech_like_audio_shifted_by_k_frames(k: int) -> None:
    """AM noise whose envelope drives the inner-lip aperture; audio then delayed by k frames.
    The frames are flat grey (mouth darkness constant: that signal drops out)."""
    rng = np.random.default_rng(7)
    hop = SR // FPS
    drive = _smooth_signal(T + 40, 11)
    # envelope sampled at sample times (frame k's value at time k / fps, linear in between)
    env = np.interp(np.arange(drive.size * hop) / hop, np.arange(drive.size), drive / drive.max())
    audio = 0.3 * env * rng.normal(0, 1, env.size)
    shifted = audio[(20 - k) * hop : (20 - k) * hop + T * hop].astype(np.float32)
    lm = _mouth_landmarks(4 + 10 * drive[20 : 20 + T] / drive.max())
    frames = np.full((T, 128, 128, 3), 128, np.uint8)
    sync = CorrelationSync({"sync_max_offset": 15})
    ctx: dict = {"landmarks_px": lm}
    off, dist, conf = sync.extract(clip_of(frames, shifted), ctx)
    assert off == k and ctx["sync_detail"]["best_confidence"] > 0.2
    in_sync = sync.extract(clip_of(frames, audio[20 * hop : 20 * hop + T * hop]), ctx)
    assert in_sync[0] == 0 and in_sync[2] > conf and in_sync[1] < dist  # lag-0 scores
    silent = clip_of(frames)
    assert np.isnan(sync.extract(silent, {"landmarks_px": lm})).all()


def test_mouth_darkness_reads_the_mouth_box() -> None:
    """A black mouth box on a white face reads ~1, white ~0; NaN without landmarks."""
    lm = _mouth_landmarks(np.full(3, 6.0, np.float32))
    frames = np.full((3, 128, 128, 3), 255, np.uint8)
    frames[0, 70:90, 45:75] = 0  # open, dark mouth on frame 0 only
    lm[2] = np.nan
    d = mouth_darkness(frames, lm)
    assert d[0] == pytest.approx(1.0) and d[1] == pytest.approx(0.0) and np.isnan(d[2])
