"""Device, precision and batching helpers shared by the neural extractors.

``features.device`` picks the device (``auto`` = CUDA when available, else CPU).
Mixed precision (``torch.autocast``) is used only where asked: the GPU-optimised path asks
for it on CUDA (bf16 where the GPU supports it, else fp16); CPU stays fp32 unless
``precision="bf16"`` is requested explicitly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "auto")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/None -> cuda if available else cpu; ``cuda`` without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"features.device = {device!r} but torch sees no CUDA device")
    return torch.device(name)


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None = plain fp32).

    ``auto``: bf16 on CUDA when supported, else fp16; fp32 on CPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} not in {PRECISIONS}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


@contextlib.contextmanager
def precision_context(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.inference_mode`` plus autocast to ``dtype`` (no autocast when None)."""
    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield


def to_device(
    x: np.ndarray | torch.Tensor, device: torch.device, pin: bool = False
) -> torch.Tensor:
    """Host array -> tensor on ``device``; pinned memory + non_blocking copy on CUDA when
    ``pin``."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    if device.type != "cuda":
        return t.to(device)
    if pin:
        t = t.pin_memory()
    return t.to(device, non_blocking=pin)


def batches(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``size`` items."""
    size = max(1, int(size))
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
