"""BRISQUE image quality on the face crop and the full frame (SVR trained on LIVE human ratings).

Two columns per frame, about 0-100, **higher = worse** (:mod:`tqa.features.nets.brisque`,
Mittal, Moorthy & Bovik, IEEE TIP 2012, via the ``brisque`` package):

* ``visual__brisque_face``: the square landmark face box (``context["face_box"]``) cropped
  and resized to ``features.brisque_face_px`` (96) px; NaN on frames without a face;
* ``visual__brisque_frame``: the whole frame downscaled (area) to a long side of
  ``features.brisque_frame_px`` (160) px.

Scored on every ``features.brisque_every``-th frame (default 50: one per 2 s, 3 per 6 s clip)
and held until the next sample (zero-order hold): ~0.1 core-s per clip (25 costs about twice
that, which takes CPU extraction under 1.5 videos/s on 2 cores; docs/real-videos.md).
Scores depend on the size scored,
so both sizes are fixed; values compare within one configuration only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tqa.features.extractors.base import Clip, ColumnExtractor, register
from tqa.features.nets.brisque import brisque_frames

BRISQUE_COLUMNS: tuple[str, ...] = ("face", "frame")


@register
class BrisqueVisual(ColumnExtractor):
    """BRISQUE of the face crop and of the full frame, sampled once per second."""

    name = "brisque"
    modality = "visual"
    columns = BRISQUE_COLUMNS
    column_name = "visual__brisque_{}"

    def _settings(self) -> tuple[int, int, int]:
        p = self.params
        return (
            int(p.get("brisque_every", 50)),
            int(p.get("brisque_face_px", 96)),
            int(p.get("brisque_frame_px", 160)),
        )

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        every, face_px, frame_px = self._settings()
        boxes = context.get("face_box")
        return brisque_frames(clip.frames, boxes, every, face_px, frame_px).astype(np.float32)

    def options(self) -> dict[str, Any]:
        every, face_px, frame_px = self._settings()
        return {"every": every, "face_px": face_px, "frame_px": frame_px}
