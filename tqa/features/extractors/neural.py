"""Common machinery of the neural (weights-needing) extractors.

A neural extractor splits its work in three steps so that
:class:`tqa.features.gpu.GPUOptimizedExtractor` can batch frames *across videos*:

1. :meth:`NeuralExtractor.prepare` (CPU, per clip): named *unit streams*, each a numpy
   array whose first axis indexes units (a frame crop, a 5-frame window, a waveform);
2. :meth:`NeuralExtractor.forward_units` (device, per batch): units -> embeddings;
3. :meth:`NeuralExtractor.finish` (CPU, per clip): embeddings -> the (T, D) stream.

:meth:`NeuralExtractor.extract` chains the three for one clip in fp32, ``batch_frames``
frames per forward (``batch_frames=1`` is the naive per-frame loop of the benchmark).

Weights: resolved once at construction by :func:`tqa.features.nets.weights.resolve_weights`;
none found -> :class:`~tqa.features.nets.weights.WeightsError` naming every place searched, unless
the extractor is built with ``allow_random_init=True`` (tests and benchmarks only; then
``describe()["random_init"]`` is True and every cache file says so). The network is built
and loaded lazily, once per extractor instance, and can be shared between instances by
passing ``model=``.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
from torch import nn

from tqa.features.extractors.base import Clip, Extractor, random_init_is_allowed
from tqa.features.extractors.base import random_init_allowed as random_init_allowed
from tqa.features.nets.runtime import batches, precision_context, resolve_device, to_device
from tqa.features.nets.weights import (
    WeightsError,
    load_state_dict_checked,
    missing_weights_message,
    resolve_weights,
)

log = logging.getLogger(__name__)

#: Seed of random-init networks, so that two random-init extractors hold the same weights.
RANDOM_INIT_SEED: int = 0
#: Used when params carry no ``batch_frames``.
DEFAULT_BATCH_FRAMES: int = 256


class NeuralExtractor(Extractor):
    """An :class:`Extractor` backed by a torch network loaded once."""

    needs_weights: ClassVar[bool] = True
    #: key of ``features.weights`` (and of tqa.features.nets.weights.KINDS)
    weights_kind: ClassVar[str]

    def __init__(
        self,
        params: dict | None = None,
        *,
        allow_random_init: bool = False,
        device: str | torch.device | None = None,
        model: nn.Module | None = None,
    ) -> None:
        super().__init__(params)
        self.device = resolve_device(
            device if device is not None else self.params.get("device", "auto")
        )
        self.batch_frames = int(self.params.get("batch_frames") or DEFAULT_BATCH_FRAMES)
        self.allow_random_init = allow_random_init or random_init_is_allowed()
        self.weights_path: Path | None = (
            None if model is not None else resolve_weights(self.weights_kind, self.params)
        )
        if model is None and self.weights_path is None and not self.allow_random_init:
            raise WeightsError(missing_weights_message(self.weights_kind, self.name))
        #: True unless the weights came from a file (a supplied ``model=`` counts as unverified)
        self.random_init = self.weights_path is None
        self._model = model
        self._placed = False
        self.channels_last = False

    # ---- model -------------------------------------------------------------------------
    @abstractmethod
    def build_model(self) -> nn.Module:
        """The architecture with random weights."""

    def load_weights(self, path: Path) -> nn.Module:
        """The architecture with the weights in ``path`` (strict, clear error on mismatch)."""
        return load_state_dict_checked(self.build_model(), path)

    @property
    def model(self) -> nn.Module:
        """The network on ``self.device`` in eval mode (built/loaded on first use, once)."""
        if self._model is None:
            if self.weights_path is not None:
                net = self.load_weights(self.weights_path)
            else:
                log.warning(
                    "%s: RANDOM-INIT weights (tests/benchmarks only; features are not meaningful)",
                    self.name,
                )
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(RANDOM_INIT_SEED)
                    net = self.build_model()
            self._model = net
        if not self._placed:
            self._model.eval().to(self.device)
            self._placed = True
        return self._model

    def use_channels_last(self, enabled: bool = True) -> None:
        """Switch 4-D conv inputs and weights to channels_last (NHWC), faster on tensor cores."""
        self.channels_last = enabled
        if enabled:
            self.model.to(memory_format=torch.channels_last)

    # ---- the three steps ---------------------------------------------------------------
    @abstractmethod
    def prepare(self, clip: Clip, context: dict[str, Any]) -> dict[str, np.ndarray]:
        """Named unit streams of one clip (CPU work: crops, resizing, MFCC)."""

    @abstractmethod
    def forward_units(self, stream: str, x: torch.Tensor) -> torch.Tensor:
        """A batch of units of ``stream`` (already on the device) -> (N, E) embeddings."""

    @abstractmethod
    def finish(
        self, clip: Clip, context: dict[str, Any], outputs: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Embeddings of every stream -> the extractor's output for the clip."""

    def unit_frames(self, stream: str) -> int:
        """How many grid frames one unit of ``stream`` stands for (batch sizing)."""
        return 1

    def units_per_batch(self, stream: str, batch_frames: int | None = None) -> int:
        return max(1, int(batch_frames or self.batch_frames) // self.unit_frames(stream))

    def run_units(
        self,
        stream: str,
        units: np.ndarray,
        batch_frames: int | None = None,
        dtype: torch.dtype | None = None,
        pin: bool = False,
    ) -> np.ndarray:
        """Forward every unit of ``stream`` in batches; float32 (N, E) on the host."""
        if len(units) == 0:
            return np.zeros((0, 0), np.float32)
        model_ready = self.model  # noqa: F841 - load once before the loop
        outs = []
        with precision_context(self.device, dtype):
            for sl in batches(len(units), self.units_per_batch(stream, batch_frames)):
                x = to_device(units[sl], self.device, pin=pin)
                outs.append(self.forward_units(stream, x).float().cpu())
        return torch.cat(outs).numpy()

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        """One clip, fp32, ``batch_frames`` frames per forward (FeatureExtractor's path)."""
        prep = self.prepare(clip, context)
        outputs = {s: self.run_units(s, u) for s, u in prep.items()}
        return self.finish(clip, context, outputs)

    def options(self) -> dict[str, Any]:
        # no device here: it changes how, not what, is computed (it must not key the cache)
        return {
            "weights": self.weights_path.name if self.weights_path else None,
            "random_init": bool(self.random_init),
        }


# ---- crops shared by the visual and lip-sync networks ------------------------------------


def fill_boxes(boxes: np.ndarray | None, n_frames: int) -> np.ndarray | None:
    """(T, 4) x0, y0, x1, y1 boxes with NaN rows replaced by the nearest valid frame's box.

    None when no frame has a box (no face anywhere in the clip): callers fall back to the
    full frame. Holding the nearest box keeps the crop stable through short detection drops.
    """
    if boxes is None:
        return None
    boxes = np.asarray(boxes, np.float64).reshape(n_frames, 4)
    ok = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not ok.any():
        return None
    good = np.flatnonzero(ok)
    pos = (
        np.clip(np.searchsorted(good, np.arange(n_frames)), 1, len(good) - 1)
        if len(good) > 1
        else None
    )
    if pos is None:
        return np.repeat(boxes[good[:1]], n_frames, axis=0)
    left, right = good[pos - 1], good[pos]
    nearest = np.where(
        np.abs(np.arange(n_frames) - left) <= np.abs(right - np.arange(n_frames)), left, right
    )
    return boxes[nearest]


def square_around(box: np.ndarray, margin: float) -> np.ndarray:
    """Square x0, y0, x1, y1 centred on ``box`` with side max(w, h) * (1 + 2 * margin)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def centre_square(height: int, width: int) -> np.ndarray:
    """The largest centred square of an (height, width) frame, as x0, y0, x1, y1."""
    side = min(height, width)
    x0, y0 = (width - side) / 2.0, (height - side) / 2.0
    return np.array([x0, y0, x0 + side, y0 + side])


def crop_resize(
    frame: np.ndarray, box: np.ndarray, size: int, border_value: int | None = None
) -> np.ndarray:
    """Crop ``box`` (x0, y0, x1, y1 in pixel-edge coordinates, may leave the frame) from (H, W, 3)
    uint8 -> (size, size, 3).

    One affine warp (bilinear); outside the frame the border is replicated, or filled with
    ``border_value`` when given.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    sx, sy = size / max(x1 - x0, 1e-6), size / max(y1 - y0, 1e-6)
    # pixel-centre aligned (as cv2.resize): output centre j + 0.5 <- box edge + (j + 0.5) / s
    m = np.array([[sx, 0.0, sx * (0.5 - x0) - 0.5], [0.0, sy, sy * (0.5 - y0) - 0.5]], np.float64)
    if border_value is None:
        return cv2.warpAffine(
            frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return cv2.warpAffine(
        frame,
        m,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value,) * 3,
    )
