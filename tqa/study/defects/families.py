"""The defect families: levels, declared feature and direction, fixed before any run.

Each family names, before any number is seen, the one feature that should see it and its
direction ("worse" = the direction a defect moves it); levels are expressed on tqa's grid
(25 fps, 16 kHz mono) and span the sample corpus's ranges where the corpus has the family.
A declared feature is a column name, or ``abs(<column>)`` (:func:`feature_value`).

Changed once, and said so: after the first runs, four families had no feature that saw them
(``seg_desync`` and ``freeze``: ``sync__confidence``, ``glitch``: ``visual__face__tdiff__std``,
``clip``: ``audio__dnsmos_p808__mean``). Detectors built for them (extractors ``avlocal``,
``cadence`` and ``clipping``, issue 26) became their declared features before those
detectors' first benchmark run (each was only checked for its sign on a dozen corpus videos,
no parameter changed after); the earlier declarations stay as their first ``also`` entry, so
both are in every table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

#: tqa's grid: frames per second, audio samples per second, samples per video frame.
FPS, SR = 25, 16000
HOP = SR // FPS


@dataclass(frozen=True)
class Family:
    """One defect family: levels mild -> severe, the declared feature and its direction.

    ``feature``: a pooled column (``visual__face__sharpness__mean``), a sync field
    (``sync__confidence``), ``abs(sync__offset)`` (absolute value) or a ``tqa metrics`` column
    (``AUDIO_METRICS``, ``VIDEO_METRICS`` of :mod:`tqa.study.defects.variant_features`);
    ``worse``: ``higher`` or ``lower`` (the direction the defect moves it). ``also``: other
    candidate features, for information only.
    ``signs``: the level is applied with each sign (the A/V offset: audio late and early).
    ``corpus``: the family's column of the sample corpus's ``degradations.csv`` (None: none).
    """

    name: str
    what: str
    unit: str
    levels: tuple[float, ...]
    middle: float
    feature: str
    worse: str
    changes: str  # "audio" | "video"
    also: tuple[tuple[str, str], ...] = ()
    signs: tuple[int, ...] = (1,)
    corpus: str | None = None
    corpus_note: str = ""

    def features(self) -> list[tuple[str, str]]:
        return [(self.feature, self.worse), *self.also]


#: Candidate features of the audio-explained mouth motion (extractor ``avsync``, measured on
#: every variant by :mod:`tqa.study.defects.variant_features`), for information only.
AVSYNC = ("au__avsync_explained__mean", "lower")
AVSYNC_OFFSET = ("abs(au__avsync_offset__mean)", "higher")

#: The benchmark's families, in table order. Levels span the sample corpus's ranges
#: (tqa/data/corpus/profiles.py) where the corpus has the family.
FAMILIES: tuple[Family, ...] = (
    Family(
        "offset", "whole-clip A/V offset, audio shifted by k frames (+ late, - early)",
        "frames", (1, 2, 3, 5, 10), 3, "abs(sync__offset)", "higher", "audio",
        also=(("sync__confidence", "lower"), ("sync__distance", "higher"), AVSYNC_OFFSET, AVSYNC,
              ("abs(sync_offset_subframe)", "higher")),
        signs=(1, -1), corpus="av_offset_frames",
    ),
    Family(
        "seg_desync", "audio shifted by k frames inside one 1.5 s segment (middle of the clip)",
        "frames", (3, 6, 12), 6, "au__avlocal_deficit__mean", "higher", "audio",
        also=(("sync__confidence", "lower"), ("au__avlocal_offset_dev__mean", "higher"),
              ("sync__distance", "higher"), ("abs(sync__offset)", "higher"), AVSYNC),
        corpus="seg_desync_frames", corpus_note="mouth follows shifted speech in 1-2.5 s",
    ),
    Family(
        "freeze", "video frozen for d seconds (middle of the clip), the audio runs on",
        "s", (0.5, 1.0, 2.0), 1.0, "visual__cadence_still_s__mean", "higher", "video",
        also=(("sync__confidence", "lower"), ("au__avlocal_still_voiced__mean", "higher"),
              ("au__avlocal_deficit__mean", "higher"), ("visual__face__tdiff__mean", "lower"),
              ("head_motion", "lower"), AVSYNC),
        corpus="mouth_freeze_dur_s", corpus_note="only the mouth is held still",
    ),
    Family(
        "glitch", "dropped + duplicated frames at rate r (degrade.glitch_index pairs)",
        "rate", (0.04, 0.08, 0.16), 0.08, "visual__cadence_dup__mean", "higher", "video",
        also=(("visual__face__tdiff__std", "higher"), ("visual__cadence_jump__std", "higher"),
              ("landmark_jitter", "higher"), ("sync__confidence", "lower")),
        corpus="frame_glitch_rate",
    ),
    Family(
        "foreign", "the last share of the clip dubbed with the next recording's audio",
        "of the clip", (1 / 3, 2 / 3, 1.0), 2 / 3, "sync__confidence", "lower", "audio",
        also=(("sync__distance", "higher"), AVSYNC),
        corpus="swapped_audio", corpus_note="whole clip: another sentence, same voice",
    ),
    Family(
        "foreign_speech", "the whole clip dubbed with speech/1.wav or speech/2.wav (2 per clip)",
        "of the clip", (1.0,), 1.0, "sync__confidence", "lower", "audio",
        also=(("sync__distance", "higher"), AVSYNC),
    ),
    Family(
        "noise", "white noise at an exact SNR (vs the clip's mean audio power)",
        "dB SNR", (30, 20, 10, 5, 0), 10, "audio__dnsmos_p808__mean", "lower", "audio",
        also=(("dnsmos_bak", "lower"), ("dnsmos_ovrl", "lower"),
              ("audio__flatness__mean", "higher")),
        corpus="snr_db",
    ),
    Family(
        "band", "low-pass (6th-order Butterworth, zero phase) at the cut-off",
        "Hz", (4000, 2000, 1000), 2000, "audio__rolloff_hz__mean", "lower", "audio",
        also=(("audio__centroid_hz__mean", "lower"), ("audio__dnsmos_p808__mean", "lower"),
              ("dnsmos_sig", "lower")),
        corpus="lowpass_hz",
    ),
    Family(
        "clip", "hard clipping at a share of the peak, RMS restored",
        "of peak", (0.5, 0.2, 0.05), 0.2, "audio__clipping_peak_share__mean", "higher", "audio",
        also=(("audio__dnsmos_p808__mean", "lower"), ("audio__clipping_crest_db__mean", "lower"),
              ("dnsmos_sig", "lower"), ("dnsmos_ovrl", "lower")),
        corpus="clip_level",
    ),
    Family(
        "codec", "MP3 round trip (libmp3lame, 16 kHz mono) at the bitrate",
        "kbps", (32, 16, 8), 16, "audio__dnsmos_p808__mean", "lower", "audio",
        also=(("audio__rolloff_hz__mean", "lower"), ("dnsmos_ovrl", "lower")),
        corpus="audio_kbps", corpus_note="numpy codec simulation (degrade.codec_artefacts)",
    ),
    Family(
        "blur", "Gaussian blur of every frame (sigma in px of the 256-px grid)",
        "px", (0.75, 1.5, 3.0), 1.5, "visual__face__sharpness__mean", "lower", "video",
        also=(("visual__brisque_face__mean", "higher"), ("sharpness_face", "lower")),
        corpus="blur_sigma",
    ),
    Family(
        "compression", "per-frame JPEG round trip at the quality",
        "quality", (50, 25, 10), 25, "visual__face__blockiness__mean", "higher", "video",
        also=(("visual__brisque_face__mean", "higher"),
              ("visual__full__blockiness__mean", "higher")),
        corpus="jpeg_quality",
    ),
    Family(
        "flicker", "brightness gain 1 + a N(0, 1) per frame (clipped at 2.5 sd)",
        "a", (0.03, 0.08, 0.2), 0.08, "visual__full__luma_mean__std", "higher", "video",
        also=(("visual__full__tdiff__mean", "higher"), ("visual__brisque_frame__mean", "higher")),
        corpus="flicker_amp",
    ),
)  # fmt: skip

FAMILY = {f.name: f for f in FAMILIES}


def feature_value(row: dict[str, Any] | pd.Series, name: str) -> float:
    """Value of a declared feature in a row of columns (``abs(x)``: the absolute value of x)."""
    col = column_of(name)
    v = row.get(col, math.nan)
    if v is None:
        return math.nan
    return abs(float(v)) if col != name else float(v)


def column_of(name: str) -> str:
    """The column a declared feature reads (``abs(x)`` -> ``x``)."""
    return name[4:-1] if name.startswith("abs(") and name.endswith(")") else name
