"""Controlled degradations applied by the generator profiles (one function, one defect).

Every function takes the clean signal and a continuous level, so the ground truth is
a number in ``degradations.csv``. Audio: float32 (S,) mono in [-1, 1]; video: uint8
(T, H, W, 3) RGB.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.signal import butter, istft, sosfiltfilt, stft


def shift_audio(audio: np.ndarray, offset_frames: int, fps: float, sample_rate: int) -> np.ndarray:
    """Shift the track by ``offset_frames`` video frames; positive = audio DELAYED vs video.

    Length is kept: a delay pads silence at the start and drops the end.
    """
    k = int(round(offset_frames * sample_rate / fps))
    if k == 0:
        return audio.copy()
    out = np.zeros_like(audio)
    if k > 0:
        out[k:] = audio[:-k]
    else:
        out[:k] = audio[-k:]
    return out


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise at ``snr_db`` relative to the power of the speech (active part)."""
    active = audio[np.abs(audio) > 0.02 * (np.abs(audio).max() or 1.0)]
    p_sig = float(np.mean(active.astype(np.float64) ** 2)) if active.size else 1e-6
    sigma = np.sqrt(p_sig / (10.0 ** (snr_db / 10.0)))
    return (audio + rng.normal(0, sigma, audio.shape)).astype(np.float32)


def lowpass(audio: np.ndarray, cutoff_hz: float, sample_rate: int, order: int = 6) -> np.ndarray:
    """Band-limit with a zero-phase Butterworth low-pass at ``cutoff_hz`` (telephone-like)."""
    if cutoff_hz <= 0 or cutoff_hz >= sample_rate / 2:
        return audio
    sos = butter(order, cutoff_hz, btype="low", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, audio).astype(np.float32)


def hard_clip(audio: np.ndarray, level: float) -> np.ndarray:
    """Overdrive: scale the peak to 1, clip at ``level`` (fraction of peak), restore loudness."""
    if level >= 1.0:
        return audio
    peak = float(np.abs(audio).max()) or 1.0
    x = np.clip(audio / peak, -level, level) / level
    return (x * 0.8).astype(np.float32)


def normalise_peak(audio: np.ndarray, peak: float = 0.9) -> np.ndarray:
    m = float(np.abs(audio).max())
    return (audio * (peak / m)).astype(np.float32) if m > peak else audio.astype(np.float32)


def blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of every frame (``sigma`` in px)."""
    if sigma <= 0.05:
        return frames
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])


def jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """Per-frame JPEG round trip at ``quality`` (1-100): blocking and ringing artefacts."""
    if quality >= 100:
        return frames
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        out[i] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return out


def flicker(frames: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Temporal flicker: an independent brightness gain 1 + amplitude * N(0, 1) per frame."""
    if amplitude <= 0:
        return frames
    gains = 1.0 + amplitude * np.clip(rng.standard_normal(len(frames)), -2.5, 2.5)
    out = frames.astype(np.float32) * gains[:, None, None, None].astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# --- temporally localised defects (one segment / a few frames) ------------------------


def segment_frames(start_s: float, dur_s: float, fps: float, n_frames: int) -> slice:
    """Frame slice of the segment [start_s, start_s + dur_s) on a ``fps`` grid (clipped)."""
    a = int(np.clip(round(start_s * fps), 0, n_frames))
    b = int(np.clip(round((start_s + dur_s) * fps), a, n_frames))
    return slice(a, b)


def desync_segment(mouth: np.ndarray, offset_frames: int, seg: slice) -> np.ndarray:
    """Mouth drive (T,) whose segment ``seg`` follows the speech ``offset_frames`` frames
    late (+) or early (-): mouth[t] = mouth[t - offset] inside the segment only."""
    out = mouth.copy()
    if offset_frames == 0 or seg.stop <= seg.start:
        return out
    t = np.arange(seg.start, seg.stop)
    out[t] = mouth[np.clip(t - int(offset_frames), 0, len(mouth) - 1)]
    return out


def freeze_segment(mouth: np.ndarray, seg: slice) -> np.ndarray:
    """Mouth drive (T,) held at its value at the segment's start (a frozen mouth)."""
    out = mouth.copy()
    if seg.stop > seg.start:
        out[seg] = mouth[seg.start]
    return out


def flicker_burst(
    frames: np.ndarray, amplitude: float, seg: slice, rng: np.random.Generator
) -> np.ndarray:
    """Brightness gains 1 + amplitude * N(0, 1) (clipped at 2.5 sd) on the frames of ``seg``."""
    if amplitude <= 0 or seg.stop <= seg.start:
        return frames
    out = frames.copy()
    n = seg.stop - seg.start
    gains = 1.0 + amplitude * np.clip(rng.standard_normal(n), -2.5, 2.5)
    burst = out[seg].astype(np.float32) * gains[:, None, None, None].astype(np.float32)
    out[seg] = np.clip(burst + 0.5, 0, 255).astype(np.uint8)
    return out


def glitch_index(n_frames: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Source frame of each output frame (T,) with dropped and duplicated frames.

    About ``rate * n_frames / 2`` events, each a duplicate (frame t repeats t-1) followed a few
    frames later by a drop (a frame is skipped), so the clip length and the overall A/V
    alignment are kept while motion stutters."""
    idx = np.arange(n_frames)
    if rate <= 0 or n_frames < 8:
        return idx
    n_events = max(1, int(round(rate * n_frames / 2)))
    steps = np.ones(n_frames, dtype=np.int64)
    steps[0] = 0
    for start in rng.choice(
        np.arange(2, n_frames - 5), size=min(n_events, n_frames - 7), replace=False
    ):
        gap = int(rng.integers(1, 5))
        steps[start] = 0  # duplicate: the previous frame again
        steps[min(start + gap, n_frames - 1)] += 1  # drop: skip one source frame
    return np.clip(np.cumsum(steps), 0, n_frames - 1)


def codec_artefacts(audio: np.ndarray, kbps: float, sample_rate: int) -> np.ndarray:
    """Low-bitrate transform-codec artefacts without a codec: band limit and coarse spectral
    quantisation, deterministic on every machine (numpy FFT, element-wise arithmetic).

    STFT (512-sample Hann, hop 256); bins above ``min(Nyquist, 250 * kbps)`` Hz are removed
    (6 kbps -> 1.5 kHz, 32 kbps -> 8 kHz); each frame's coefficients are quantised with a step
    of mean|X| * 8 / kbps, so small coefficients vanish (spectral holes, "birdies") as in an
    MDCT codec starved of bits. Used for the corpus's ``audio_kbps`` defect when the corpus
    audio is stored losslessly (``corpus.audio_codec: alac``)."""
    if kbps >= 64:
        return audio
    n = len(audio)
    _, _, z = stft(audio.astype(np.float64), fs=sample_rate, nperseg=512, noverlap=256)
    freqs = np.arange(z.shape[0]) * sample_rate / 512.0
    z[freqs > min(sample_rate / 2.0, 250.0 * float(kbps))] = 0.0
    step = np.abs(z).mean(axis=0, keepdims=True) * (8.0 / float(kbps)) + 1e-12
    z = (np.round(z.real / step) + 1j * np.round(z.imag / step)) * step
    _, x = istft(z, fs=sample_rate, nperseg=512, noverlap=256)
    out = np.zeros(n, np.float32)
    out[: min(n, len(x))] = x[:n]
    return out
