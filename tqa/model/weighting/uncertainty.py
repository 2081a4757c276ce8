"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018, eq. 7 for regression).

With a learnable log-variance s_k = log sigma_k^2 per task, the exact objective is

    total = sum_{k present} [ 0.5 * exp(-s_k) * L_k + 0.5 * s_k ]

(= sum 1/(2 sigma_k^2) L_k + log sigma_k). This is the same form as LibMTL's ``UW``.
d total / d s_k = 0.5 - 0.5 exp(-s_k) L_k vanishes at s_k = log L_k: at convergence
exp(s_k) tracks task k's (mean) loss and its weight is 0.5 / L_k.

Learning the log-variances (``weighting.uncertainty``):

- ``lr``: the s_k get their OWN AdamW group with this lr (null = ``train.lr``) and no weight
  decay. ``scheduled: false`` (default) keeps that group OUT of the warm-up/cosine schedule.
  Why: at the model's lr (1e-3) under its schedule the s_k moved by <= 0.25 in ~260 steps
  (weights 0.50 -> 0.58-0.64), i.e. the strategy behaved like fixed weights at 0.5; Adam
  moves a parameter by about lr per step, so reaching s_k = log L_k ~ -2 needs lr ~ 0.01-0.05.
- ``min_log_var``: guard against a near-constant task taking all the weight. The optimum
  0.5 / L_k grows without bound as L_k -> 0: the chapter's lip_sync (std ~0.02, train loss
  ~7e-4) would get ~700x the weight of the other tasks and dominate the shared layers while
  it has nothing left to learn. s_k is projected to ``s_k >= min_log_var`` after every
  optimizer step (and at start), so a task's weight never exceeds 0.5 * exp(-min_log_var):
  a loss below exp(min_log_var) counts as "as good as the labels allow". Default
  log(0.1) = -2.3: 0.1 score^2 is RMSE 0.32, below the rater noise of the corpus and about a
  third of the chapter's label variances, so informative tasks (MSE 0.2-0.5) are untouched.
  Set it to null to get the unguarded Kendall et al. objective.

s_k starts at ``init_log_var`` (LibMTL uses -0.5; our default 0.0 gives the fixed baseline's
relative weights at step 0). A task with no label in the batch is left out of the sum, so its
s_k receives no gradient; each s_k is its own scalar parameter, and an optimizer skips a
parameter whose ``grad`` is None, so an absent task's s_k is not moved by Adam momentum
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
        floor = self.params.get("min_log_var", None)
        self.min_log_var: float | None = None if floor is None else float(floor)
        lr = self.params.get("lr", None)
        self.optim_lr = None if lr is None else float(lr)
        self.scheduled = bool(self.params.get("scheduled", False))
        if self.min_log_var is not None:
            s0 = max(s0, self.min_log_var)
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

    @torch.no_grad()
    def step(self) -> None:
        """Project s_k onto ``s_k >= min_log_var`` (the near-constant-task guard)."""
        if self.min_log_var is not None:
            for p in self.log_vars:
                p.clamp_(min=self.min_log_var)

    def optim_parameters(self) -> list[nn.Parameter]:
        return list(self.log_vars)
