"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018): balance gradient norms.

Per optimizer step, with learnable weights w_i (init 1) and W the weight of the LAST SHARED
layer (``model.last_shared_layer``, the fusion layer feeding the five heads):

    G_i   = || grad_W (w_i L_i) || = w_i * || grad_W L_i ||
    Lt_i  = L_i(t) / L_i(0)                 (inverse training rate)
    r_i   = Lt_i / mean_j Lt_j
    L_gr  = sum_i | G_i - [mean_j G_j * r_i ** alpha] |   (bracket treated as a constant)

w is updated by its own Adam (``weighting.gradnorm.lr``) on d L_gr / d w, clamped to stay
positive, then renormalised so that sum_i w_i = T. The model itself receives the gradient
of sum_i w_i L_i with w held constant.

Our choices (the paper leaves them open or assumes every task in every batch):
- L_i(0) is task i's loss at the first step where the batch had a label for it.
- A task with no label in the batch is excluded from that step's update: it is left out of
  the means over j, its w_i is restored after the Adam step, and only the present tasks'
  weights are rescaled so that the total stays T.
- With gradient accumulation the w-gradients of the micro-batches are AVERAGED (as the model's
  gradients are) and applied once per optimizer step.
- A task whose loss does not reach W (a routed head, ``model.task_modalities``; its gradient
  there is exactly zero) is treated like a task without labels: its weight stays put.
- When mixed precision skips an optimizer step (inf/NaN gradients) the w-gradients gathered
  for it are dropped (:meth:`skip`), not added to the next step's.
- With one labelled task the budget sum w = T leaves nothing to balance: w is renormalised
  to T, so the model sees the fixed strategy's loss times a constant; fit() reports that the
  strategies coincide.

Differences from LibMTL's ``GradNorm`` (as read in its GradNorm.py): LibMTL keeps
w = T * softmax(s) (positive and summing to T by construction) instead of clamp +
renormalise; it takes gradient norms over ALL shared parameters (unless rep_grad) rather
than the last shared layer; it uses equal weights for the whole first epoch and sets
L_i(0) to task i's mean training loss of that epoch; it updates the weights with the main
optimizer; and it has no notion of absent labels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tqa.model.weighting.base import WEIGHTINGS, WeightingStrategy, present_mask, shared_weight


@WEIGHTINGS.register()
class GradNormWeighting(WeightingStrategy):
    name = "gradnorm"

    def __init__(self, n_tasks: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(n_tasks, params)
        self.alpha = float(self.params.get("alpha", 1.5))
        self.lr = float(self.params.get("lr", 0.025))
        self.min_weight = float(self.params.get("min_weight", 1e-3))
        self.w = nn.Parameter(torch.ones(n_tasks))
        self.register_buffer("initial_loss", torch.zeros(n_tasks))
        self.register_buffer("has_initial", torch.zeros(n_tasks, dtype=torch.bool))
        self._opt = torch.optim.Adam([self.w], lr=self.lr)
        self._pending_grad: Tensor | None = None
        self._pending_present: Tensor | None = None
        self._pending_n = 0  # micro-batches accumulated into _pending_grad
        self.last_grad_norms: Tensor = torch.zeros(n_tasks)  # G_i of the last combine (logging)
        self.last_target: Tensor = torch.zeros(n_tasks)  # its target mean_j G_j * r_i^alpha

    @property
    def weights(self) -> Tensor:
        return self.w.detach().clone()

    def combine(
        self, losses: Tensor, counts: Tensor, shared: nn.Module | Tensor | None = None
    ) -> Tensor:
        self._check(losses, counts)
        total = (self.w.detach().to(losses.device) * losses).sum()
        if not (torch.is_grad_enabled() and losses.requires_grad):
            return total
        dev = self.w.device
        present = present_mask(counts).to(dev)
        if not bool(present.any()):
            return total
        W = shared_weight(shared)
        grads = {
            k: torch.autograd.grad(losses[k], W, retain_graph=True, allow_unused=True)[0]
            for k in torch.nonzero(present).flatten().tolist()
        }
        # a routed task (model.task_modalities) never reaches W: its gradient there is None or
        # exactly zero (autograd passes zeros through the torch.cat of the heads): as absent
        for k, g in grads.items():
            if g is None or not bool(g.any()):
                present[k] = False
        if not bool(present.any()):
            return total
        idx = torch.nonzero(present).flatten()
        cur = losses.detach().float().to(dev)
        # L_i(0): loss at the first step where task i had labels.
        first = present & ~self.has_initial
        self.initial_loss[first] = cur[first].clamp(min=1e-12)
        self.has_initial |= present
        norms = torch.stack([grads[k].float().norm() for k in idx.tolist()]).detach().to(dev)
        G = self.w[idx] * norms  # differentiable in w only
        ratio = cur[idx] / self.initial_loss[idx]
        r = ratio / ratio.mean()
        target = (G.mean() * r.pow(self.alpha)).detach()
        grad_loss = (G - target).abs().sum()
        (grad_w,) = torch.autograd.grad(grad_loss, self.w)
        self.last_grad_norms = torch.zeros(self.n_tasks, device=dev)
        self.last_grad_norms[idx] = G.detach()
        self.last_target = torch.zeros(self.n_tasks, device=dev)
        self.last_target[idx] = target
        self._pending_grad = grad_w if self._pending_grad is None else self._pending_grad + grad_w
        self._pending_n += 1
        self._pending_present = (
            present if self._pending_present is None else self._pending_present | present
        )
        return total

    def skip(self) -> None:
        """The optimizer step was skipped: forget its accumulated w-gradient."""
        self._pending_grad = None
        self._pending_present = None
        self._pending_n = 0

    @torch.no_grad()
    def step(self) -> None:
        """Apply the mean GradNorm w-gradient of the step's micro-batches, renormalise (sum T)."""
        if self._pending_grad is None:
            return
        present = self._pending_present
        before = self.w.detach().clone()
        self.w.grad = (self._pending_grad / max(1, self._pending_n)).to(self.w.device)
        self._opt.step()
        self._opt.zero_grad(set_to_none=True)
        self.skip()
        w = self.w.data
        w[~present] = before[~present]
        w.clamp_(min=self.min_weight)
        budget = self.n_tasks - float(w[~present].sum())
        if budget > self.min_weight * int(present.sum()):
            w[present] *= budget / float(w[present].sum())
        else:  # absent weights already take the whole budget: renormalise everything
            w *= self.n_tasks / float(w.sum())
