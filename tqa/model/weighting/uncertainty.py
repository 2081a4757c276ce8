"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018, eq. 7 for regression).

With a learnable log-variance s_k = log sigma_k^2 per task, the exact objective is

    total = sum_{k present} [ 0.5 * exp(-s_k) * L_k + 0.5 * s_k ]

(= sum 1/(2 sigma_k^2) L_k + log sigma_k). This is the same form as LibMTL's ``UW``.
Differences from LibMTL: s_k starts at ``weighting.uncertainty.init_log_var`` (LibMTL
uses -0.5; our default 0.0 gives the fixed baseline's relative weights at step 0), and a
task with no label in the batch is left out of the sum entirely, so its s_k receives no
gradient. Each s_k is its own scalar parameter: an optimizer skips a parameter whose
``grad`` is None, so an absent task's s_k is not moved by Adam momentum or weight decay
either. ``weights`` reports the actual multiplier 0.5 * exp(-s_k).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tqa.model.weighting.base import WEIGHTINGS, WeightingStrategy, present_mask


@WEIGHTINGS.register()
class UncertaintyWeighting(WeightingStrategy):
    name = "uncertainty"

    def __init__(self, n_tasks: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(n_tasks, params)
        s0 = float(self.params.get("init_log_var", 0.0))
        self.log_vars = nn.ParameterList([nn.Parameter(torch.tensor(s0)) for _ in range(n_tasks)])

    @property
    def log_var(self) -> Tensor:
        """(T,) current s_k, detached."""
        return torch.stack([p.detach() for p in self.log_vars])

    @property
    def weights(self) -> Tensor:
        return 0.5 * torch.exp(-self.log_var)

    def combine(
        self, losses: Tensor, counts: Tensor, shared: nn.Module | Tensor | None = None
    ) -> Tensor:
        self._check(losses, counts)
        present = present_mask(counts).tolist()
        terms = [
            0.5 * torch.exp(-s) * losses[k] + 0.5 * s
            for k, s in enumerate(self.log_vars)
            if present[k]
        ]
        if not terms:
            return losses.sum() * 0.0
        return torch.stack(terms).sum()

    def optim_parameters(self) -> list[nn.Parameter]:
        return list(self.log_vars)
