"""Playback volume is not quality: every extractor hears a clip at one speech level.

The log-mel energies, MFCC c0, frame RMS and DNSMOS read absolute levels, so turning a
recording down changed its learned scores: the 5 real recordings of ``../shared/realclips``
re-encoded 10, 20 and 30 dB quieter read audio_quality up to 0.61 above the same re-encode
at full volume (0.05-0.61 at -30 dB; quieter read better; 2026-12-07, scratch files), and
DNSMOS P.835 OVRL up to 1.46 lower. The
sample corpus never shows level as a defect (its tracks are peak-limited to 0.9 and their
RMS moves with the clipping defect), so a level cue there is a proxy for clipping, which the
level-free ``clipping`` extractor measures directly; and the real recordings (-25.3 to
-32.3 dBFS RMS) already lie at or below the corpus's quietest (-25.6 dBFS; median -20.4).

:func:`at_level` therefore scales a clip's audio so that its RMS over the samples that hold
sound (every sample not exactly 0: digital silence and the padding of a short clip are left
out, as the decoder's ``audio_frames`` leave them) is ``features.audio_level_dbfs``, -26 dBFS
by default: the speech level ITU-T P.56 / P.800 listening tests normalise to (-26 dBov),
which DNSMOS's P.808 / P.835 ratings were collected at. Not tuned on any figure. Every path
that fills the feature cache runs it through :func:`tqa.features.extractors.base.run_extractor`,
and ``tqa metrics`` on its clip, so a file, its 10 dB quieter copy and the defect
benchmark's in-memory variants are measured alike. ``null`` keeps the file's own level.

What it cannot undo: a level so low that the codec's quantisation noise is part of the
signal (scaled up with it), and a track that is all noise (scaled to speech level: the
other rules of ``tqa score`` and DNSMOS judge it then, not its faintness).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tqa.core.clip import Clip


def level_dbfs(audio: np.ndarray) -> float | None:
    """RMS level (dB re full scale 1.0) of the samples of ``audio`` (S,) that are not exactly
    0; None when every sample is 0 (no sound to measure)."""
    x = np.asarray(audio, np.float64)
    sound = x[x != 0]
    if sound.size == 0:
        return None
    return 10.0 * math.log10(float(np.mean(sound * sound)))


#: Decimals (dB) the measured level is rounded to before the gain is computed: numpy's sum
#: of squares may differ in its last bit between CPUs (SIMD width), and the rounded level
#: does not (a 1e-6 dB step moves the gain by 1.2e-7, below the cache's 6.1e-5 rounding).
LEVEL_DECIMALS = 6


def level_gain(audio: np.ndarray, target_dbfs: float) -> float:
    """Linear gain that brings :func:`level_dbfs` of ``audio`` (rounded to
    :data:`LEVEL_DECIMALS`) to ``target_dbfs`` (1 when the track holds no sound)."""
    level = level_dbfs(audio)
    if level is None:
        return 1.0
    return 10.0 ** ((float(target_dbfs) - round(level, LEVEL_DECIMALS)) / 20.0)


def at_level(clip: Clip, target_dbfs: float | None) -> Clip:
    """``clip`` with its audio (float32 (S,)) scaled to ``target_dbfs`` (see the module
    docstring); the same object when the target is None or the clip has no audio track.
    Zeros stay exactly 0, so the decoder's digital-silence rule reads the same frames."""
    if target_dbfs is None or not clip.has_audio:
        return clip
    gain = level_gain(clip.audio, float(target_dbfs))
    if gain == 1.0:
        return clip
    audio = (np.asarray(clip.audio, np.float64) * gain).astype(np.float32)
    return dataclasses.replace(clip, audio=audio)
