"""Weight-free audio features on the 25 fps video grid (part of the weight-free
extractor set: no network weights needed).

Grid frame k covers the 40 ms interval [k/25, (k+1)/25) s = samples [k*H, (k+1)*H),
H = sample_rate / fps (640 at 16 kHz). Spectral features use a Hann window of
``n_fft = 1024`` samples centred on that interval (zero-padded at the clip edges), so the
audio frame k is aligned with video frame k.

``spectral`` columns (per frame):

* ``logmel_00..``: log10 energies of ``features.n_mels`` (40) triangular mel bands
  (HTK mel scale, 0 Hz to Nyquist, Slaney-style area normalisation off: each filter peaks
  at 1), floor 1e-10.
* ``mfcc_00..`` (``n_mfcc``, 13): DCT-II (orthonormal) of the natural-log mel energies
  (Davis & Mermelstein 1980); ``dmfcc_..``: their deltas (regression over +/-2 frames,
  Furui 1986).
* ``rms``: root mean square of the interval's samples (a sine of amplitude A gives A/sqrt 2);
  ``centroid_hz``, ``flatness`` (geometric / arithmetic mean of the power spectrum,
  Wiener entropy), ``rolloff_hz`` (85 % of spectral energy), ``zcr`` (sign changes per
  sample in the interval), ``flux`` (L2 norm of the positive magnitude-spectrum change
  from the previous frame, spectra normalised to unit sum; frame 0 = 0).
* With ``features.audio_egemaps: true``: the 25 openSMILE eGeMAPSv02 low-level
  descriptors (Eyben et al. 2016: loudness, jitter, shimmer, HNR, F0, formants ...),
  computed at 100 Hz and averaged over the LLD frames whose centre falls in each 40 ms
  interval (``egemaps__<name>``). Unvoiced frames are 0 in openSMILE's ``*_sma3nz`` output.

The ``egemaps`` extractor gives the eGeMAPS part alone. A clip without an audio track gives
NaN everywhere (``clip.has_audio`` False).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.fft import dct, rfft

from tqa.features.extractors.base import Clip, ColumnExtractor, Extractor, register

log = logging.getLogger(__name__)

N_FFT = 1024
SCALAR_FEATURES: tuple[str, ...] = ("rms", "centroid_hz", "flatness", "rolloff_hz", "zcr", "flux")
EGEMAPS_LLD: tuple[str, ...] = (
    "Loudness_sma3",
    "alphaRatio_sma3",
    "hammarbergIndex_sma3",
    "slope0-500_sma3",
    "slope500-1500_sma3",
    "spectralFlux_sma3",
    "mfcc1_sma3",
    "mfcc2_sma3",
    "mfcc3_sma3",
    "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz",
    "jitterLocal_sma3nz",
    "shimmerLocaldB_sma3nz",
    "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz",
    "logRelF0-H1-A3_sma3nz",
    "F1frequency_sma3nz",
    "F1bandwidth_sma3nz",
    "F1amplitudeLogRelF0_sma3nz",
    "F2frequency_sma3nz",
    "F2bandwidth_sma3nz",
    "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz",
    "F3bandwidth_sma3nz",
    "F3amplitudeLogRelF0_sma3nz",
)
#: Feature name of an eGeMAPS column, ``{}`` standing for the LLD (``spectral`` and ``egemaps``).
EGEMAPS_NAME = "audio__egemaps__{}"


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular filters, peak 1, edges equally spaced in mel (0..Nyquist)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def frame_audio(audio: np.ndarray, n_frames: int, hop: int, n_fft: int = N_FFT) -> np.ndarray:
    """(n_frames, n_fft) windows centred on the grid intervals [k*hop, (k+1)*hop)."""
    pad_l = (n_fft - hop) // 2
    need = n_frames * hop + n_fft
    x = np.zeros(need, np.float32)
    seg = audio[: need - pad_l]
    x[pad_l : pad_l + len(seg)] = seg
    idx = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None]
    return x[idx]


def deltas(x: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over +/- width frames of (T, D), edges replicated (Furui 1986)."""
    t = len(x)
    pad = np.pad(x, ((width, width), (0, 0)), mode="edge")
    num = sum(
        n * (pad[width + n : width + n + t] - pad[width - n : width - n + t])
        for n in range(1, width + 1)
    )
    return num / (2 * sum(n * n for n in range(1, width + 1)))


def spectral_features(
    audio: np.ndarray,
    sample_rate: int,
    n_frames: int,
    fps: float,
    n_mels: int = 40,
    n_mfcc: int = 13,
) -> np.ndarray:
    """(n_frames, n_mels + 2 n_mfcc + 6) grid-aligned spectral features of mono float audio."""
    hop = int(round(sample_rate / fps))
    win = frame_audio(audio, n_frames, hop) * np.hanning(N_FFT).astype(np.float32)
    mag = np.abs(rfft(win, axis=1)).astype(np.float32)
    power = mag**2
    mel = power @ mel_filterbank(n_mels, N_FFT, sample_rate).T
    logmel = np.log10(np.maximum(mel, 1e-10))
    mfcc = dct(np.log(np.maximum(mel, 1e-10)), type=2, norm="ortho", axis=1)[:, :n_mfcc]
    dmfcc = deltas(mfcc)

    seg = np.zeros(n_frames * hop, np.float32)
    seg[: min(len(audio), len(seg))] = audio[: len(seg)]
    seg = seg.reshape(n_frames, hop)
    rms = np.sqrt(np.mean(seg.astype(np.float64) ** 2, axis=1))
    zcr = np.mean(np.signbit(seg[:, 1:]) != np.signbit(seg[:, :-1]), axis=1)

    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    ptot = power.sum(1)
    safe = np.maximum(ptot, 1e-20)
    centroid = (power * freqs).sum(1) / safe
    flat = np.exp(np.mean(np.log(power + 1e-20), axis=1)) / (np.mean(power, axis=1) + 1e-20)
    cum = np.cumsum(power, axis=1)
    rolloff = freqs[np.minimum((cum < 0.85 * cum[:, -1:]).sum(1), len(freqs) - 1)]
    norm = mag / np.maximum(mag.sum(1, keepdims=True), 1e-20)
    flux = np.zeros(n_frames)
    flux[1:] = np.sqrt(np.sum(np.maximum(norm[1:] - norm[:-1], 0) ** 2, axis=1))
    silent = ptot <= 1e-20
    centroid[silent] = 0.0
    rolloff[silent] = 0.0
    scal = np.stack([rms, centroid, flat, rolloff, zcr, flux], axis=1)
    return np.concatenate([logmel, mfcc, dmfcc, scal], axis=1).astype(np.float32)


_SMILE = None


def egemaps_features(audio: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames, 25) eGeMAPSv02 LLDs (openSMILE, 100 Hz) averaged into the 40 ms grid intervals."""
    global _SMILE
    import opensmile  # noqa: PLC0415 (slow to import; only the egemaps stream needs it)

    if _SMILE is None:
        _SMILE = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
        )
    df = _SMILE.process_signal(np.asarray(audio, np.float32), sample_rate)
    start = df.index.get_level_values("start").total_seconds().to_numpy()
    end = df.index.get_level_values("end").total_seconds().to_numpy()
    centre = (start + end) / 2
    vals = df[list(EGEMAPS_LLD)].to_numpy(np.float64)
    k = np.floor(centre * fps).astype(int)
    keep = (k >= 0) & (k < n_frames)
    sums = np.zeros((n_frames, vals.shape[1]))
    np.add.at(sums, k[keep], vals[keep])
    counts = np.bincount(k[keep], minlength=n_frames)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    return out.astype(np.float32)  # NaN where no LLD frame falls in an interval (clip end)


@register
class SpectralAudio(Extractor):
    """Log-mel, MFCC(+delta), RMS/centroid/flatness/rolloff/ZCR/flux (+ eGeMAPS LLDs) per 40 ms."""

    name = "spectral"
    modality = "audio"

    @property
    def n_mels(self) -> int:
        return int(self.params.get("n_mels", 40))

    @property
    def n_mfcc(self) -> int:
        return int(self.params.get("n_mfcc", 13))

    @property
    def egemaps(self) -> bool:
        return bool(self.params.get("audio_egemaps", True))

    @property
    def dim(self) -> int:
        return (
            self.n_mels
            + 2 * self.n_mfcc
            + len(SCALAR_FEATURES)
            + (len(EGEMAPS_LLD) if self.egemaps else 0)
        )

    def feature_names(self) -> list[str]:
        names = (
            [f"audio__logmel_{i:02d}" for i in range(self.n_mels)]
            + [f"audio__mfcc_{i:02d}" for i in range(self.n_mfcc)]
            + [f"audio__dmfcc_{i:02d}" for i in range(self.n_mfcc)]
            + [f"audio__{n}" for n in SCALAR_FEATURES]
        )
        if self.egemaps:
            names += [EGEMAPS_NAME.format(n) for n in EGEMAPS_LLD]
        return names

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        t = clip.n_frames
        if not clip.has_audio:
            return self.no_output(clip)
        parts = [
            spectral_features(clip.audio, clip.sample_rate, t, clip.fps, self.n_mels, self.n_mfcc)
        ]
        if self.egemaps:
            parts.append(egemaps_features(clip.audio, clip.sample_rate, t, clip.fps))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def options(self) -> dict[str, Any]:
        return {"n_mels": self.n_mels, "n_mfcc": self.n_mfcc, "egemaps": self.egemaps}


@register
class EgemapsAudio(ColumnExtractor):
    """openSMILE eGeMAPSv02 LLDs alone, on the 25 fps grid."""

    name = "egemaps"
    modality = "audio"
    columns = EGEMAPS_LLD
    column_name = EGEMAPS_NAME

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        if not clip.has_audio:
            return self.no_output(clip)
        return egemaps_features(clip.audio, clip.sample_rate, clip.n_frames, clip.fps)
