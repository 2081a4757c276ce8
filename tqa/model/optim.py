"""The optimisation of one fit (chapter 3.2.4): AdamW with one group per model part and
per-task head learning rates, the warm-up + cosine schedule per group, AMP autocast, and the
loss divisors of gradient accumulation."""

from __future__ import annotations

import torch
from torch import nn

from tqa.model.schedule import build_scheduler, warmup_cosine
from tqa.model.transformer import CrossModalTransformer


def autocast(device: torch.device, train_p: dict):
    """Autocast context: fp16 on CUDA when ``amp``; bf16 on CPU only when ``amp_cpu``."""
    if device.type == "cuda" and train_p.get("amp", True):
        return torch.autocast("cuda", dtype=torch.float16)
    if device.type == "cpu" and train_p.get("amp_cpu", False):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def optimizer_for(
    model: CrossModalTransformer, strategy: nn.Module, train_p: dict
) -> torch.optim.Optimizer:
    """AdamW with one group per model part; heads get ``train.head_lr[task]`` (null = lr)."""
    lr, wd = float(train_p["lr"]), float(train_p.get("weight_decay", 0.0))
    head_lr = train_p.get("head_lr") or {}
    groups = []
    for name, ps in model.parameter_groups().items():
        g_lr = lr
        if name.startswith("head_"):
            task_lr = head_lr.get(name[len("head_") :])
            g_lr = lr if task_lr is None else float(task_lr)
        groups.append({"params": ps, "lr": g_lr, "weight_decay": wd, "name": name})
    extra = strategy.optim_parameters()
    if extra:
        w_lr = lr if getattr(strategy, "optim_lr", None) is None else float(strategy.optim_lr)
        groups.append({"params": extra, "lr": w_lr, "weight_decay": 0.0, "name": "weighting"})
    return torch.optim.AdamW(groups, lr=lr, weight_decay=wd)


def scheduler_for(
    optimizer: torch.optim.Optimizer,
    strategy: nn.Module,
    warmup: int,
    total: int,
    min_lr_ratio: float,
) -> torch.optim.lr_scheduler.LRScheduler:
    """Warm-up + cosine per optimizer step for every group, except the weighting group when
    the strategy is not ``scheduled`` (uncertainty's log-variances: a constant lr)."""
    if getattr(strategy, "scheduled", True):
        return build_scheduler(optimizer, warmup, total, min_lr_ratio)

    def cosine(s: int) -> float:
        return warmup_cosine(s, warmup, total, min_lr_ratio)

    def constant(s: int) -> float:
        return 1.0

    lambdas = [constant if g.get("name") == "weighting" else cosine for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def accumulation_divisors(n_micro: int, accum: int) -> list[int]:
    """Divisor of each micro-batch's loss under gradient accumulation: the size of its group.

    Micro-batches ``0..n_micro-1`` form optimizer steps of ``accum`` micro-batches each; the
    last group of an epoch may be shorter (``n_micro % accum``) and is divided by its real
    size, so every optimizer step sees the MEAN of its micro-batch gradients (with equal
    micro-batches: the gradient of one batch ``accum`` times as large).
    """
    accum = max(1, int(accum))
    return [min(accum, n_micro - (i // accum) * accum) for i in range(n_micro)]
