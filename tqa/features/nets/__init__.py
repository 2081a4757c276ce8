"""Neural network architectures used by the reference extractors (no weights shipped).

* :mod:`tqa.features.nets.resnet`  -- ResNet-101 (He et al. 2016), torchvision state-dict layout.
* :mod:`tqa.features.nets.syncnet` -- SyncNet (Chung & Zisserman 2016), in the
  joonson/syncnet_python layout.
* :mod:`tqa.features.nets.weights` -- finding weight files on disk and loading them strictly.

Weights are never downloaded: they are read from a path in ``params.yaml``
(``features.weights.*``) or, for ResNet-101, from torch's hub cache.
"""

from __future__ import annotations

from tqa.features.nets.resnet import ResNet101, build_resnet101, pooled_features, resnet101
from tqa.features.nets.syncnet import SyncNet
from tqa.features.nets.weights import WeightsError, load_state_dict_checked, resolve_weights

__all__ = [
    "ResNet101",
    "build_resnet101",
    "pooled_features",
    "resnet101",
    "SyncNet",
    "WeightsError",
    "load_state_dict_checked",
    "resolve_weights",
]
