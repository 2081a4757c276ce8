"""Head translation on screen: how much the head drifts, and how much it shakes.

Weight-free ``au`` extractor ``headshift`` (stack it: ``features.au: geometry+pose+headshift``).
Reads ``context["landmarks_px"]`` (float32 (T, 468, 3) pixel landmarks, NaN rows where no
face) and returns float32 (T, 3), NaN rows where no face:

* ``au__headshift_x``, ``au__headshift_y`` (IOD): the head's position, the centroid of the
  rigid upper-face points (:data:`tqa.features.extractors.au_pose.STABLE`) over the clip's
  median inter-ocular distance (outer eye corners 33-263), averaged over
  :data:`~tqa.features.face_dynamics.HEAD_WINDOW` frames (0.4 s at 25 fps), minus its clip
  median. Their standard deviation over time (the pooled ``__std``) is the amplitude of the
  slow head drift;
* ``au__headshift_jitter`` (IOD): per frame, the distance of the raw position from that
  0.4 s average: a shaking, re-detected or re-rendered head reads high, a smooth one ~0.

Why (issue 26): the ``pose`` columns give rotation and pose-free face motion, and the
landmark stream is similarity-normalised (``features.normalize_landmarks``), so neither
sees the head moving across the frame. A generator that freezes the head, or damps all
of the face's motion, leaves its position still; one that re-renders every frame on its
own makes it shake. On the sample corpus (``frozen`` damps the simulated head's drift of
about 2 px, ``expr_jitter`` adds per-frame noise; docs/corpus.md), over its 240 videos, the
drift amplitude (the std over time of x plus that of y) ranks the frozen level with
Spearman -0.40 (each axis -0.35) and the mean jitter the jitter level with 0.73; the best
earlier column for ``frozen`` read -0.30 (``au__pose_roll`` std). The window is
``HEAD_WINDOW``, reused, not tuned; the corpus both motivated and measured these figures.
What it cannot see: a camera that pans with the head (the face stays put in the frame) or
a deliberately still speaker (reads like a frozen one); a whole-frame shake (camera shake)
reads as head jitter. Cost: a moving mean per clip (well under 1 ms).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from tqa.features.extractors.au_pose import STABLE
from tqa.features.extractors.base import (
    MEDIAPIPE_FIRST,
    Clip,
    ColumnExtractor,
    landmarks_from,
    register,
    valid_frames,
)
from tqa.features.face_dynamics import HEAD_WINDOW, moving_mean

#: Outer eye corners whose distance is the inter-ocular distance (IOD) unit.
EYE_CORNERS: tuple[int, int] = (33, 263)


def head_position(lm_px: np.ndarray) -> np.ndarray:
    """(T, 2) head position in units of the clip's median IOD: the centroid of the
    :data:`STABLE` points of ``lm_px`` (T, 468, >= 2); NaN rows where a point is missing."""
    lm = np.asarray(lm_px, np.float64)[:, :, :2]
    iod = np.linalg.norm(lm[:, EYE_CORNERS[0]] - lm[:, EYE_CORNERS[1]], axis=1)
    ok = np.isfinite(iod) & (iod > 0)
    if not ok.any():
        return np.full((len(lm), 2), np.nan)
    return lm[:, list(STABLE)].mean(axis=1) / float(np.median(iod[ok]))


def head_shift(lm_px: np.ndarray, window: int = HEAD_WINDOW) -> np.ndarray:
    """(T, 3) [slow x, slow y, jitter] of :func:`head_position` (module docstring), IOD."""
    pos = head_position(lm_px)
    slow = np.stack([moving_mean(pos[:, j], window) for j in range(2)], axis=1)
    out = np.full((len(pos), 3), np.nan)
    face = np.isfinite(pos).all(axis=1)
    if not face.any():
        return out
    out[face, :2] = slow[face] - np.median(slow[face], axis=0)
    out[face, 2] = np.linalg.norm(pos[face] - slow[face], axis=1)
    return out


@register
class HeadShiftAU(ColumnExtractor):
    """Slow head drift across the frame (x, y) and frame-to-frame head jitter, in IOD."""

    name: ClassVar[str] = "headshift"
    modality: ClassVar[str] = "au"
    version: ClassVar[str] = "1"
    columns = ("x", "y", "jitter")
    column_name: ClassVar[str] = "au__headshift_{}"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm = np.array(landmarks_from(clip, context, "headshift needs", MEDIAPIPE_FIRST), np.float64)
        lm[~valid_frames(clip)] = np.nan  # padding of a short clip is not a still head
        return head_shift(lm).astype(np.float32)

    def options(self) -> dict[str, Any]:
        return {"window": HEAD_WINDOW, "points": list(STABLE), "iod": list(EYE_CORNERS)}
