"""How much of the mouth's motion the audio explains, per frame (``au`` modality, weight-free).

The measure of :mod:`tqa.features.av_explained` (ridge regression of the mouth's opening
from mel-band audio, cross-validated within the clip, at every A/V lag) on the 150-frame
grid, as 4 float32 columns ``au__avsync_<label>``:

* ``explained``: cross-validated R2 at lag 0 (share of the mouth's motion the audio
  explains; ~0 or below for foreign audio);
* ``offset``: centre of the top of the R2-over-lags curve (frames, > 0 = audio late);
* ``margin``: R2(0) minus the median R2 over lags (confidence in the in-sync alignment);
* ``residual``: the lag-0 cross-validated squared prediction error of the frame (z units).

The three per-clip scalars are repeated on every frame with a face, so the model's pooled
statistics see them; frames without a face, and the padding after a short clip's end, are
NaN. A clip without audio (or silent) gives NaN everywhere. Needs ``context["landmarks_px"]``
(the landmark extractor runs first) and the clip's frames (mouth darkness). Stack it with the
AU estimates: ``features.au: geometry+avsync``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from tqa.features.av_explained import DEFAULT, DETREND, MOUTH_SETS, Settings, clip_av_explained
from tqa.features.extractors.base import (
    MEDIAPIPE_FIRST,
    Clip,
    ColumnExtractor,
    landmarks_from,
    register,
    valid_frames,
)


@register
class AVSyncAU(ColumnExtractor):
    """Audio-explained mouth motion: R2 at lag 0, offset, margin (per clip) + residual."""

    name: ClassVar[str] = "avsync"
    modality: ClassVar[str] = "au"
    version: ClassVar[str] = "1"
    columns = ("explained", "offset", "margin", "residual")
    column_name: ClassVar[str] = "au__avsync_{}"

    def settings(self) -> Settings:
        """:data:`~tqa.features.av_explained.DEFAULT`, lags +-``features.sync_max_offset``."""
        lags = int(self.params.get("sync_max_offset", DEFAULT.max_offset))
        return dataclasses.replace(DEFAULT, max_offset=lags)

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm = np.asarray(landmarks_from(clip, context, "avsync needs", MEDIAPIPE_FIRST), np.float64)
        if not clip.has_audio:
            return self.no_output(clip)
        valid = valid_frames(clip)
        res = clip_av_explained(
            lm, clip.audio, clip.sample_rate, clip.fps, clip.frames, valid, self.settings()
        )
        out = self.no_output(clip)
        face = valid & np.all(np.isfinite(lm[:, :, :2]), axis=(1, 2))
        out[face, :3] = [res.explained, res.offset, res.margin]
        out[:, 3] = res.residual
        context["avsync_detail"] = {
            "explained": res.explained,
            "offset": res.offset,
            "margin": res.margin,
            "n_frames": res.n_frames,
        }
        return out

    def options(self) -> dict[str, Any]:
        st = self.settings()
        return {
            "mouth": list(MOUTH_SETS[st.mouth]),
            "mel_bands": st.n_bands,
            "context_frames": st.context,
            "ridge_alpha_per_frame": st.alpha,
            "cv_blocks": st.n_blocks,
            "max_offset": st.max_offset,
            "detrend_frames": DETREND,
        }
