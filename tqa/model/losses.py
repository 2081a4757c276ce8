"""Masked multi-task regression loss (chapter 3.2.4): ``-1`` labels never enter a loss.

Each of the five tasks gets its own mean squared error over the rows where its label is
present. A task with no label in the batch contributes a loss of exactly 0, a count of 0
and no gradient, so weighting strategies can tell "absent" from "perfect".

Label smoothing for regression (our definition, documented in the README): targets are
shrunk toward the training-set task mean,

    y' = (1 - eps) * y + eps * mean_k,

the regression analogue of classification label smoothing (Szegedy et al. 2016), which
mixes the one-hot target with the uniform prior: here the prior is the task's training
mean. It caps how hard the model chases noisy individual ratings (the chapter's labels are
means of a few raters) and is deterministic, unlike Gaussian target noise, so runs stay
bit-identical on CPU.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tqa.core.schema import MISSING


def smooth_targets(
    target: Tensor, valid: Tensor, smoothing: float, target_mean: Tensor | None
) -> Tensor:
    """Shrink present targets (B, T) toward ``target_mean`` (T,) by ``smoothing`` in [0, 1).

    When ``target_mean`` is None the per-task mean of the present labels in this batch is
    used (only sensible for large batches; training passes the train-split means).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
    if smoothing == 0.0:
        return target
    if target_mean is None:
        cnt = valid.sum(0).clamp(min=1)
        target_mean = torch.where(valid, target, torch.zeros_like(target)).sum(0) / cnt
    mean = target_mean.to(target.dtype).to(target.device).unsqueeze(0)
    return torch.where(valid, (1.0 - smoothing) * target + smoothing * mean, target)


def masked_task_losses(
    pred: Tensor,
    target: Tensor,
    missing: float = MISSING,
    smoothing: float = 0.0,
    target_mean: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-task MSE over present labels.

    pred, target: (B, T) scores; ``target == missing`` marks an absent label.
    Returns ``losses`` (T,) float32 and ``counts`` (T,) int64 (present labels per task).
    A task with count 0 has loss 0 and contributes no gradient.
    """
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, T)"
        )
    pred = pred.float()
    target = target.float()
    valid = target != missing
    y = smooth_targets(target, valid, smoothing, target_mean)
    diff = torch.where(
        valid, pred - y, torch.zeros_like(pred)
    )  # zero (and zero-gradient) where absent
    counts = valid.sum(0)
    losses = (diff * diff).sum(0) / counts.clamp(min=1).to(pred.dtype)
    return losses, counts


def masked_mean_loss(losses: Tensor, counts: Tensor) -> Tensor:
    """Unweighted mean of the per-task losses over tasks present (count > 0); 0 if none."""
    present = counts > 0
    if not bool(present.any()):
        return losses.sum() * 0.0
    return losses[present].mean()
