"""``resnet101``: 2048-d ImageNet ResNet-101 embedding per frame (chapter 3.1.1 (1)).

Per frame: the face crop (``features.face_crop: true``; the landmark bounding box from
``context["face_box"]`` made square with a 20 % margin each side, frames without a face take
the nearest frame's box, a clip with no face at all falls back to the full frame) or the
centred square of the full frame, resized to 224 x 224 (bilinear), scaled to [0, 1] and
normalised with the ImageNet mean/std (torchvision's convention), then the global-average-
pooled output of ``layer4`` (He et al. 2016) -- float32 (T, 2048).

Weights: ``features.weights.resnet101`` (a torchvision ``resnet101-*.pth``), else
``$TORCH_HOME/hub/checkpoints/resnet101-*.pth``; otherwise construction fails with a
message naming both places (``allow_random_init=True`` only for tests/benchmarks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tqa.features.extractors.base import Clip, register
from tqa.features.extractors.neural import (
    NeuralExtractor,
    centre_square,
    crop_resize,
    fill_boxes,
    square_around,
)
from tqa.features.nets.resnet import FEATURE_DIM, build_resnet101, pooled_features

#: Input side of the network (pixels).
INPUT_SIZE: int = 224
#: ImageNet channel statistics (RGB, [0, 1] scale) used by torchvision's weights.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Margin added on each side of the landmark box (fraction of its longer side).
FACE_MARGIN: float = 0.2


def frame_crops(
    clip: Clip,
    context: dict[str, Any],
    face_crop: bool,
    size: int = INPUT_SIZE,
    margin: float = FACE_MARGIN,
) -> tuple[np.ndarray, str]:
    """uint8 (T, size, size, 3) RGB crops and which region was used (``face`` | ``full_frame``)."""
    t, h, w = clip.frames.shape[:3]
    boxes = fill_boxes(context.get("face_box"), t) if face_crop else None
    region = "face" if boxes is not None else "full_frame"
    full = centre_square(h, w)
    out = np.empty((t, size, size, 3), np.uint8)
    for i in range(t):
        box = square_around(boxes[i], margin) if boxes is not None else full
        out[i] = crop_resize(clip.frames[i], box, size)
    return out, region


@register
class ResNet101Extractor(NeuralExtractor):
    """Per-frame ImageNet ResNet-101 pooled features (visual modality)."""

    name = "resnet101"
    modality = "visual"
    weights_kind = "resnet101"
    dim = FEATURE_DIM

    def __init__(self, params: dict | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.face_crop = bool(self.params.get("face_crop", True))
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def build_model(self) -> nn.Module:
        return build_resnet101()  # torchvision's when it imports, else tqa's own

    def prepare(self, clip: Clip, context: dict[str, Any]) -> dict[str, np.ndarray]:
        crops, region = frame_crops(clip, context, self.face_crop)
        context["resnet101_region"] = region
        return {"frames": crops}

    def forward_units(self, stream: str, x: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 224, 224, 3) RGB -> (N, 2048)."""
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self._mean.to(x.device)) / self._std.to(x.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return pooled_features(self.model, x)

    def finish(
        self, clip: Clip, context: dict[str, Any], outputs: dict[str, np.ndarray]
    ) -> np.ndarray:
        return outputs["frames"].astype(np.float32, copy=False)

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "face_crop": self.face_crop,
            "input_size": INPUT_SIZE,
            "face_margin": FACE_MARGIN,
        }
