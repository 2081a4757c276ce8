"""Learning-rate schedule: linear warm-up then cosine annealing (chapter 3.2.5).

Multiplier of the base learning rate at optimizer step ``s`` (0-based), with ``W`` warm-up
steps, ``S`` total steps and floor ratio ``r`` (Loshchilov & Hutter 2017, SGDR, without
restarts; Goyal et al. 2017 for the linear warm-up):

    s <  W:  (s + 1) / W
    s >= W:  r + (1 - r) * 0.5 * (1 + cos(pi * (s - W) / max(1, S - W)))
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (see module docstring)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> LambdaLR:
    """A LambdaLR stepping once per optimizer step (every param group scaled alike)."""
    return LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup_steps, total_steps, min_lr_ratio))
