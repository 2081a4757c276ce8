"""Finding pretrained weights on disk and loading them strictly (never downloading).

One place for the three neural extractors (ResNet-101, HuBERT, SyncNet):

* :func:`resolve_weights` -- where the weights for ``kind`` are: the path in
  ``features.weights.<kind>`` (relative paths are taken from the repository root), else,
  for ``resnet101`` only, torchvision's cache ``$TORCH_HOME/hub/checkpoints/resnet101-*.pth``
  (``TORCH_HOME`` defaults to ``~/.cache/torch``, as in ``torch.hub``).
* :func:`load_state_dict_checked` -- load a state-dict file into a module after checking
  every key and shape, raising :class:`WeightsError` that names the file and the first
  mismatched keys instead of torch's long generic message.
* :func:`missing_weights_message` -- the refusal text when nothing is found.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tqa.core.params import resolve

log = logging.getLogger(__name__)

#: Weight kinds and what each must be on disk.
KINDS: dict[str, str] = {
    "resnet101": "a torchvision resnet101 state_dict file (.pth)",
    "hubert": "a local transformers HubertModel directory (config.json + model weights)",
    "syncnet": "a SyncNet state_dict file (syncnet_python's syncnet_v2.model)",
}
#: torchvision's file names for ImageNet ResNet-101 (V1 and V2 weights).
RESNET101_GLOB: str = "resnet101-*.pth"
#: Key prefixes stripped before loading (DataParallel, syncnet_python's instance wrapper).
STRIP_PREFIXES: tuple[str, ...] = ("module.", "__S__.")
#: How many offending keys an error message lists.
SHOW_KEYS: int = 5


class WeightsError(RuntimeError):
    """Weights are absent, unreadable or do not fit the architecture (names the file)."""


def torch_home() -> Path:
    """``$TORCH_HOME`` or ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch`` (torch.hub's rule)."""
    env = os.environ.get("TORCH_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "torch"


def hub_checkpoints_dir() -> Path:
    return torch_home() / "hub" / "checkpoints"


def configured_path(kind: str, params: Mapping[str, Any] | None) -> Path | None:
    """The path written in ``features.weights.<kind>`` (resolved from the repo root) or None."""
    if kind not in KINDS:
        raise KeyError(f"unknown weights kind {kind!r}; known: {sorted(KINDS)}")
    raw = ((params or {}).get("weights") or {}).get(kind)
    return resolve(os.path.expanduser(str(raw))) if raw else None


def resolve_weights(kind: str, params: Mapping[str, Any] | None) -> Path | None:
    """Path of the weights for ``kind`` (``resnet101`` | ``hubert`` | ``syncnet``) or None.

    ``params`` is the ``features`` section. A configured path that does not exist is an
    error (a typo must not silently fall back to random weights or to another file).
    """
    path = configured_path(kind, params)
    if path is not None:
        if not path.exists():
            raise WeightsError(
                f"features.weights.{kind} = {path} does not exist (expected {KINDS[kind]})"
            )
        if kind == "hubert" and not path.is_dir():
            raise WeightsError(
                f"features.weights.hubert = {path} is not a directory (expected {KINDS[kind]})"
            )
        return path
    if kind == "resnet101":
        found = sorted(hub_checkpoints_dir().glob(RESNET101_GLOB))
        if found:
            return found[-1]
    return None


def missing_weights_message(kind: str, extractor: str) -> str:
    """Refusal text naming every place that was searched."""
    places = [f"features.weights.{kind} in params.yaml (currently unset)"]
    if kind == "resnet101":
        places.append(f"{hub_checkpoints_dir() / RESNET101_GLOB} (TORCH_HOME={torch_home()})")
    return (
        f"extractor {extractor!r} needs {KINDS[kind]} and none was found; looked in: "
        + "; ".join(places)
        + ". Weights are never downloaded: copy them there, or select the weight-free extractor "
        "in params.yaml (features.visual: nss / features.audio: spectral / "
        "features.sync: correlation)."
    )


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``torch.save``-d state dict (or a checkpoint holding one), on CPU."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling/format error
        raise WeightsError(f"cannot read weights file {path}: {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"weights file {path} does not hold a state dict of tensors")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        for p in STRIP_PREFIXES:
            if k.startswith(p):
                k = k[len(p) :]
        out[k] = v
    return out


def check_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise WeightsError naming ``source`` unless keys and shapes equal ``module``'s."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches, first: {shapes[:SHOW_KEYS]}")
        if missing:
            parts.append(f"{len(missing)} missing keys, first: {missing[:SHOW_KEYS]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys, first: {unexpected[:SHOW_KEYS]}")
        raise WeightsError(
            f"weights {source} do not fit {type(module).__name__}: " + "; ".join(parts)
        )


def load_state_dict_checked(module: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load the state dict in ``path`` into ``module`` (strict; clear error on mismatch)."""
    state = read_state_dict(path)
    check_state_dict(module, state, str(path))
    module.load_state_dict(state, strict=True)
    log.info("loaded %s weights from %s", type(module).__name__, path)
    return module
