"""DNSMOS speech quality on the 25 fps grid (models trained on human P.835 / P.808 ratings).

Four columns per frame, MOS scale 1-5, higher = better (:mod:`tqa.features.nets.dnsmos`):

* ``audio__dnsmos_p808``: DNSMOS P.808 (Reddy et al., ICASSP 2021) over **sliding windows of
  3 s with a 1.5 s hop** (``features.dnsmos_window_s`` / ``dnsmos_hop_s``; 3 windows on a
  6 s clip, centres 1.5 / 3.0 / 4.5 s); each window is tiled to the model's fixed 9.01 s input
  and a frame takes the window whose centre is nearest its time. ~23 ms per window.
* ``audio__dnsmos_sig``, ``_bak``, ``_ovrl``: DNSMOS P.835 (Reddy et al., ICASSP 2022),
  **once per video** (the clip's real audio tiled to 9.01 s, one window: ~0.4 s per clip, the
  model's floor) and repeated on every frame: a per-video pooled input carried in the stream.
  Only with ``features.dnsmos_p835: true``; by default (false) the extractor has the P.808
  column alone, to keep CPU extraction >= 1.5 videos/s on 2 cores (``tqa metrics`` always
  reports P.835).

Only the clip's decoded audio enters (``clip.meta["valid_frames"]`` bounds it, so padding of
short clips is not tiled in). No audio track -> all NaN. These models were trained on human
ratings of noisy / enhanced speech (DNS Challenge); they rate the *audio alone*, so the same
audio under different videos gets the same values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tqa.features.extractors.base import Clip, ColumnExtractor, register
from tqa.features.nets.dnsmos import dnsmos_frames, dnsmos_scores

DNSMOS_COLUMNS: tuple[str, ...] = ("sig", "bak", "ovrl", "p808")


def valid_samples(clip: Clip) -> int:
    """Number of audio samples that belong to decoded frames (padding of short clips excluded)."""
    valid = clip.meta.get("valid_frames")
    n = int(np.sum(valid)) if valid is not None else clip.n_frames
    return max(1, min(len(clip.audio), int(round(n / clip.fps * clip.sample_rate))))


@register
class DnsmosAudio(ColumnExtractor):
    """DNSMOS P.808 per frame (sliding windows) + P.835 SIG/BAK/OVRL per video."""

    name = "dnsmos"
    modality = "audio"
    column_name = "audio__dnsmos_{}"

    @property  # type: ignore[override]
    def columns(self) -> tuple[str, ...]:
        """The output columns: sig, bak, ovrl, p808 with P.835, else p808 alone."""
        return DNSMOS_COLUMNS if self._settings()[2] else ("p808",)

    def _settings(self) -> tuple[float, float, bool]:
        p = self.params
        return (
            float(p.get("dnsmos_window_s", 3.0)),
            float(p.get("dnsmos_hop_s", 1.5)),
            bool(p.get("dnsmos_p835", False)),
        )

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        out = self.no_output(clip)
        if not clip.has_audio:
            return out
        win, hop, p835 = self._settings()
        n = valid_samples(clip)
        out[:, -1] = dnsmos_frames(
            clip.audio, clip.sample_rate, clip.fps, clip.n_frames, win, hop, valid_samples=n
        )[:, 3]
        if p835:
            s = dnsmos_scores(clip.audio, clip.sample_rate, n_windows=1, valid_samples=n)
            out[:, :3] = [s["sig"], s["bak"], s["ovrl"]]
            context["dnsmos_video"] = s
        return out

    def options(self) -> dict[str, Any]:
        win, hop, p835 = self._settings()
        return {"window_s": win, "hop_s": hop, "p835": p835}
