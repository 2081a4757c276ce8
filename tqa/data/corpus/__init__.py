"""Embedded synthetic sample corpus: talking-face videos with known degradations.

NOT EmotionTalk. Real face (``skimage.data.astronaut()`` morphs), real (formant)
speech (eSpeak NG), a landmark-driven 2-D talking-head renderer, simulated generators
whose videos carry several co-occurring, continuous and temporally localised defects, and
simulated ratings from several raters (their mean is the label).

Modules: ``speech`` (eSpeak NG), ``face`` (identities), ``animate`` (renderer and drive
signals), ``degrade`` (audio/video defects), ``profiles`` (ground-truth plan),
``ratings`` (labels), ``media`` (mp4 mux), ``card`` (contact sheet, data card),
``build`` (orchestration, ``tqa corpus``).
"""

from tqa.data.corpus.profiles import GENERATORS, plan_corpus
from tqa.data.corpus.ratings import (
    label_stats,
    rater_reliability,
    simulate_labels,
    simulate_ratings,
)

__all__ = [
    "GENERATORS",
    "plan_corpus",
    "simulate_labels",
    "simulate_ratings",
    "rater_reliability",
    "label_stats",
    "build_corpus",
]


def build_corpus(*args, **kwargs):
    """See :func:`tqa.data.corpus.build.build_corpus` (imported lazily: it pulls in PyAV/OpenCV)."""
    from tqa.data.corpus.build import build_corpus as _build  # noqa: PLC0415 - PyAV/OpenCV

    return _build(*args, **kwargs)
