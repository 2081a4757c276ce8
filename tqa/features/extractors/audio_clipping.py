"""Hard clipping of the audio (``audio`` modality, weight-free).

An overdriven recording or a generator's saturated vocoder flattens every peak at one level:
the samples pile up at the top of the amplitude range, where speech otherwise has almost
none, and the peak falls towards the RMS (issue 26: the ``clip`` defect family, which
DNSMOS and the spectral statistics see only weakly). With P the clip's peak |x| over its own
samples (padding excluded), per grid frame k (the 40 ms interval [k/25, (k+1)/25) s, as the
``spectral`` extractor), 2 float32 columns ``audio__clipping_<label>``:

* ``peak_share``: share of the interval's samples with |x| >= :data:`NEAR_PEAK` x P
  (hard clipping at a share c of the peak puts every sample that exceeded c P there; clean
  speech has a few per clip, so the clip mean reads ~0 for it and several % when clipped);
* ``crest_db``: the clip's crest factor 20 log10(P / RMS) in dB, on every frame (clean speech
  ~ 20 dB; clipping lowers it).

A clip without audio or with silent audio gives NaN. What it cannot see: clipping followed by
a lossy codec or strong noise (the plateau is smeared), and soft limiting (no plateau).
:data:`NEAR_PEAK` (0.9) was fixed before any benchmark run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tqa.features.extractors.audio_dnsmos import valid_samples
from tqa.features.extractors.base import Clip, ColumnExtractor, register

#: Samples at or above this share of the clip's peak count as "at the peak".
NEAR_PEAK = 0.9


def clipping_columns(
    audio: np.ndarray, n_frames: int, hop: int, n_samples: int | None = None
) -> np.ndarray:
    """(n_frames, 2) float32 [peak_share, crest_db] of ``audio`` (float, (S,)); frame k covers
    samples [k hop, (k + 1) hop); only the first ``n_samples`` (the clip's own audio, default
    all) define the peak and the RMS, and frames past them are NaN."""
    x = np.asarray(audio, dtype=np.float64)
    n = len(x) if n_samples is None else min(int(n_samples), len(x))
    out = np.full((n_frames, 2), np.nan, np.float32)
    own = np.abs(x[:n])
    peak = float(own.max()) if n else 0.0
    rms = float(np.sqrt(np.mean(own**2))) if n else 0.0
    if peak <= 0.0 or rms <= 0.0:
        return out
    near = own >= NEAR_PEAK * peak
    crest = 20.0 * np.log10(peak / rms)
    for k in range(n_frames):
        a, b = k * hop, min((k + 1) * hop, n)
        if b > a:
            out[k] = [near[a:b].mean(), crest]
    return out


@register
class ClippingAudio(ColumnExtractor):
    """Samples piled up at the peak, and the crest factor (2 columns)."""

    name = "clipping"
    modality = "audio"
    columns = ("peak_share", "crest_db")
    column_name = "audio__clipping_{}"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        if not clip.has_audio:
            return self.no_output(clip)
        hop = int(round(clip.sample_rate / clip.fps))
        return clipping_columns(clip.audio, clip.n_frames, hop, valid_samples(clip))

    def options(self) -> dict[str, Any]:
        return {"near_peak": NEAR_PEAK}
