"""ResNet-101 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

:func:`build_resnet101` is what the ``resnet101`` extractor uses: torchvision's
``torchvision.models.resnet101`` whenever torchvision imports (``pip install -e .[gpu]``
installs a torch/torchvision pair that does), else :class:`ResNet101` below, the fallback
for the CPU-only install (torchvision does not import beside its CPU torch 2.13).
:func:`pooled_features` gives the same pooled embedding from either.

:class:`ResNet101` is written without torchvision but with the exact module tree of
``torchvision.models.resnet101`` (v1.5: stride on the 3x3 conv of each bottleneck), so
torchvision's ImageNet files ``resnet101-63fe2227.pth`` (V1) and ``resnet101-cd907fc2.pth``
(V2) load with ``strict=True``: keys ``conv1``, ``bn1``,
``layer1..layer4.<i>.{conv1,bn1,conv2,bn2,conv3,bn3,downsample.0,downsample.1}``, ``fc``.
Parameter count including ``fc``: 44,549,160.

Chapter 3.2.2 uses the 2048-d global-average-pooled output as the per-frame visual feature;
:meth:`ResNet101.features` returns exactly that (``fc`` is kept only for weight loading).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

#: Bottleneck blocks per stage for ResNet-101.
LAYERS_101: tuple[int, int, int, int] = (3, 4, 23, 3)
#: Output channels of a bottleneck relative to its width.
EXPANSION: int = 4
#: Width of the pooled feature (512 * EXPANSION).
FEATURE_DIM: int = 2048


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 bottleneck with identity / projection shortcut."""

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        out_ch = width * EXPANSION
        self.conv1 = nn.Conv2d(in_ch, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet101(nn.Module):
    """ResNet-101 for (N, 3, H, W) ImageNet-normalised images.

    ``forward`` returns ImageNet logits (N, num_classes) as torchvision does;
    ``features`` returns the (N, 2048) global-average-pooled embedding used as the
    chapter's visual stream.
    """

    def __init__(self, num_classes: int = 1000, layers: tuple[int, ...] = LAYERS_101) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._in_ch = 64
        self.layer1 = self._make_layer(64, layers[0], stride=1)
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * EXPANSION, num_classes)
        self._init_weights()

    def _make_layer(self, width: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._in_ch != width * EXPANSION:
            downsample = nn.Sequential(
                nn.Conv2d(self._in_ch, width * EXPANSION, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(width * EXPANSION),
            )
        mods = [Bottleneck(self._in_ch, width, stride, downsample)]
        self._in_ch = width * EXPANSION
        mods += [Bottleneck(self._in_ch, width) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def _init_weights(self) -> None:
        # torchvision's init (Kaiming fan-out for convs, unit BN); matters for random init only.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 2048) global-average-pooled layer4 output."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet101(num_classes: int = 1000) -> ResNet101:
    """A randomly initialised ResNet-101 (load weights with tqa.features.nets.weights)."""
    return ResNet101(num_classes=num_classes)


def _torchvision_models():
    """``torchvision.models``, or None when torchvision is absent or does not import beside
    the installed torch (a mismatched pair fails at import with RuntimeError/OSError)."""
    try:
        from torchvision import models  # noqa: PLC0415 (optional: the [gpu] extra)
    except (ImportError, RuntimeError, OSError) as exc:
        log.debug("torchvision unavailable (%s): using tqa's own ResNet-101", exc)
        return None
    return models


def build_resnet101(num_classes: int = 1000) -> nn.Module:
    """A randomly initialised ResNet-101: torchvision's when torchvision imports, else
    :class:`ResNet101`. Both have the same state_dict keys and shapes, so the same weight
    files load into either (strictly, by tqa.features.nets.weights)."""
    models = _torchvision_models()
    if models is not None:
        return models.resnet101(weights=None, num_classes=num_classes)
    return ResNet101(num_classes=num_classes)


def pooled_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) ImageNet-normalised images -> (N, 2048) global-average-pooled layer4
    output of a torchvision-layout ResNet (torchvision's own, which has no ``features``
    method, or :class:`ResNet101`)."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = stage(x)
    return torch.flatten(model.avgpool(x), 1)
