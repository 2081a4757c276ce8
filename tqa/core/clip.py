"""The decoded-video type every extractor reads (chapter 3.2.2): frames and audio on one grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Clip:
    """One decoded video on the common grid.

    frames: uint8 (T, H, W, 3) RGB, T = grid frames (150) at ``fps`` (25 Hz).
    audio: float32 (S,) mono in [-1, 1] at ``sample_rate`` Hz, S = T / fps * sample_rate
        (zeros and ``has_audio=False`` when the file has no audio track).
    """

    video_id: str
    path: str
    frames: np.ndarray
    audio: np.ndarray
    fps: float = 25.0
    sample_rate: int = 16000
    has_audio: bool = True
    source_fps: float | None = None
    source_frames: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])
