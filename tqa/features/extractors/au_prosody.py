"""Speech-coupled expression: do the brows and mouth corners move with the voice?

Weight-free ``au`` extractor ``prosody`` (stack it: ``features.au: geometry+pose+prosody``).
Per clip, :func:`tqa.features.face_dynamics.expression_speech_coupling`: the Pearson r of
the pose-free brow height and mouth-corner distance against the speech-band envelope
(:func:`~tqa.features.extractors.sync_correlation.speech_envelope`), both averaged over
0.4 s. 2 float32 columns ``au__prosody_<label>``:

* ``brow``: r of brow height and speech energy (raised brows on emphasis);
* ``smile``: r of mouth width and speech energy (mouth corners).

Why (issue 26): a generator that animates the face from other speech, or a dubbed clip,
keeps a moving, lively face whose expression follows another voice; the lip-sync columns
read the mouth's opening only and the motion columns how much the face moves, not with
what. The two per-clip values are repeated on every valid frame with a face (the model's
pooled statistics see them); NaN without audio, without a face, or under 1 s of both. What it
cannot see: a speaker whose expression does not follow their own energy (a flat, read
voice) reads low as well, so it ranks clips of one speaker better than speakers against
each other; the mouth-corner channel also moves with articulation (wide vowels), so
foreign speech can keep part of it. Needs ``context["landmarks_px"]``.
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
from tqa.features.extractors.sync_correlation import speech_envelope
from tqa.features.face_dynamics import COUPLED_EXPRESSION, HEAD_WINDOW, expression_speech_coupling


@register
class ProsodyAU(ColumnExtractor):
    """Pearson r of brow height and of mouth width with the speech envelope (per clip)."""

    name: ClassVar[str] = "prosody"
    modality: ClassVar[str] = "au"
    version: ClassVar[str] = "1"
    columns = tuple(label for label, _ in COUPLED_EXPRESSION)
    column_name: ClassVar[str] = "au__prosody_{}"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm = np.asarray(landmarks_from(clip, context, "prosody needs", MEDIAPIPE_FIRST), np.float64)
        if not clip.has_audio:
            return self.no_output(clip)
        valid = valid_frames(clip)
        env = speech_envelope(clip.audio, clip.sample_rate, clip.fps, clip.n_frames)
        env[~valid] = np.nan
        lm = lm.copy()
        lm[~valid] = np.nan
        r = expression_speech_coupling(lm, env, clip.fps)
        out = self.no_output(clip)
        face = valid & np.all(np.isfinite(lm[:, :, :2]), axis=(1, 2))
        out[face] = [r[label] for label in self.columns]
        return out

    def options(self) -> dict[str, Any]:
        return {"window": HEAD_WINDOW, "channels": dict(COUPLED_EXPRESSION)}
