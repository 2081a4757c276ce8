"""Weight-free lip sync: mouth opening vs speech envelope cross-correlation.

The SyncNet idea (Chung & Zisserman 2016) without a network: on the 25 fps grid, the
mouth opening m(t) (``context["mouth_open"]``: outer-lip height over face height, from
the landmark extractor) and the speech envelope
e(t) (RMS of each 40 ms interval of the 16 kHz audio, band-passed to 100-4000 Hz, as
log(1 + RMS / median RMS)) are each z-scored; for every candidate offset d in
[-D, D] (``features.sync_max_offset``, 15) the Pearson correlation

    c(d) = corr( m(t), e(t + d) )   over all t where both are defined

is computed. Sign convention (the corpus's ``av_offset_frames``, SyncNet's): **d > 0 means
the audio is delayed relative to the video** (the sound of the mouth movement at t comes at
t + d).

Outputs (SYNC_FIELDS order):

* ``offset`` = argmax_d c(d) (frames);
* ``distance`` = 1 - max_d c(d), in [0, 2]; lower = better synchronised (LSE-D-like);
* ``confidence`` = max_d c(d) - median_d c(d) (SyncNet's median-minus-min *distance*
  rule applied to the distance 1 - c, LSE-C-like; higher = more certain).

All three are NaN when the clip has no audio, or fewer than 25 frames with a face.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
from scipy.signal import butter, sosfiltfilt

from tqa.core.schema import SYNC_FIELDS
from tqa.features.extractors.base import Clip, Extractor, register

log = logging.getLogger(__name__)

MIN_PAIRS = 25


def speech_envelope(audio: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames,) log-compressed band-passed RMS per grid interval of mono audio."""
    hop = int(round(sample_rate / fps))
    x = np.zeros(n_frames * hop, np.float64)
    x[: min(len(audio), len(x))] = audio[: len(x)]
    hi = min(4000.0, 0.45 * sample_rate)
    sos = butter(4, [100.0, hi], btype="band", fs=sample_rate, output="sos")
    x = sosfiltfilt(sos, x)
    rms = np.sqrt(np.mean(x.reshape(n_frames, hop) ** 2, axis=1))
    ref = np.median(rms[rms > 0]) if np.any(rms > 0) else 1.0
    return np.log1p(rms / ref)


def lagged_correlation(
    m: np.ndarray, e: np.ndarray, max_offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets d in [-max_offset, max_offset] and c(d) = corr(m[t], e[t + d]) over valid pairs."""
    t = len(m)
    offs = np.arange(-max_offset, max_offset + 1)
    corr = np.full(len(offs), np.nan)
    for i, d in enumerate(offs):
        a = m[max(0, -d) : t - max(0, d)]
        b = e[max(0, d) : t - max(0, -d)]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < MIN_PAIRS:
            continue
        a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        corr[i] = (a * b).sum() / den if den > 0 else np.nan
    return offs, corr


def correlation_sync(mouth: np.ndarray, envelope: np.ndarray, max_offset: int = 15) -> np.ndarray:
    """float32 (3,) offset, distance, confidence (see the module docstring)."""
    offs, c = lagged_correlation(
        np.asarray(mouth, np.float64), np.asarray(envelope, np.float64), max_offset
    )
    if not np.isfinite(c).any():
        return np.full(len(SYNC_FIELDS), np.nan, np.float32)
    k = int(np.nanargmax(c))
    return np.array([offs[k], 1.0 - c[k], c[k] - np.nanmedian(c)], np.float32)


@register
class CorrelationSync(Extractor):
    """Offset / distance / confidence from mouth-opening vs speech-envelope correlation."""

    name: ClassVar[str] = "correlation"
    modality: ClassVar[str] = "sync"
    version: ClassVar[str] = "1"

    @property
    def dim(self) -> int:
        return len(SYNC_FIELDS)

    def feature_names(self) -> list[str]:
        return [f"sync__{f}" for f in SYNC_FIELDS]

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        mouth = context.get("mouth_open")
        if mouth is None:
            raise RuntimeError(
                f"{clip.path}: correlation sync needs context['mouth_open'] from a landmark extractor"
            )
        if not clip.has_audio:
            return np.full(len(SYNC_FIELDS), np.nan, np.float32)
        mouth = np.asarray(mouth, np.float64).copy()
        valid = clip.meta.get("valid_frames")
        if valid is not None:
            mouth[~np.asarray(valid, bool)] = np.nan
        env = speech_envelope(clip.audio, clip.sample_rate, clip.n_frames, clip.fps)
        return correlation_sync(mouth, env, int(self.params.get("sync_max_offset", 15)))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_offset": int(self.params.get("sync_max_offset", 15))}


def offset_agreement(predicted: np.ndarray, injected: np.ndarray) -> dict[str, float]:
    """Exact-match rate, MAE (frames) and within-1 rate of predicted vs injected offsets (NaN skipped)."""
    p, t = np.asarray(predicted, np.float64), np.asarray(injected, np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    if not ok.any():
        return {
            "n": 0,
            "exact_match": float("nan"),
            "within_1": float("nan"),
            "mae_frames": float("nan"),
        }
    d = np.abs(p[ok] - t[ok])
    return {
        "n": int(ok.sum()),
        "exact_match": float(np.mean(d == 0)),
        "within_1": float(np.mean(d <= 1)),
        "mae_frames": float(d.mean()),
    }
