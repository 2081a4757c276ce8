"""Neural network architectures used by the reference extractors (no weights shipped).

* :mod:`tqa.nets.resnet`  -- ResNet-101 (He et al. 2016), torchvision state-dict layout.
* :mod:`tqa.nets.syncnet` -- SyncNet (Chung & Zisserman 2016), joonson/syncnet_python layout.
* :mod:`tqa.nets.weights` -- finding weight files on disk and loading them strictly.

Weights are never downloaded: they are read from a path in ``params.yaml``
(``features.weights.*``) or, for ResNet-101, from torch's hub cache.
"""
from __future__ import annotations

from tqa.nets.resnet import ResNet101, resnet101
from tqa.nets.syncnet import SyncNet
from tqa.nets.weights import WeightsError, load_state_dict_checked, resolve_weights

__all__ = ["ResNet101", "resnet101", "SyncNet", "WeightsError", "load_state_dict_checked", "resolve_weights"]
