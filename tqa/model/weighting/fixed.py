"""Fixed task weights: total = sum_k w_k L_k with w from params (``weighting.fixed.weights``).

The baseline of every multi-task study (LibMTL's EW when all weights are 1).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tqa.model.weighting.base import WEIGHTINGS, WeightingStrategy


@WEIGHTINGS.register()
class FixedWeighting(WeightingStrategy):
    name = "fixed"

    def __init__(self, n_tasks: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(n_tasks, params)
        w = self.params.get("weights") or [1.0] * n_tasks
        if len(w) != n_tasks:
            raise ValueError(f"weighting.fixed.weights has {len(w)} entries, expected {n_tasks}")
        if any(float(v) < 0 for v in w):
            raise ValueError(f"weighting.fixed.weights must be >= 0, got {w}")
        self.register_buffer("_w", torch.tensor([float(v) for v in w], dtype=torch.float32))

    @property
    def weights(self) -> Tensor:
        return self._w.detach().clone()

    def combine(
        self, losses: Tensor, counts: Tensor, shared: nn.Module | Tensor | None = None
    ) -> Tensor:
        self._check(losses, counts)
        return (self._w.to(losses.device) * losses).sum()
