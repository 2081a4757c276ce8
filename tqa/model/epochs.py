"""The epoch loop of one fit (chapter 3.2.4-3.2.5): what every epoch shares (:class:`Run`),
one training pass (gradient accumulation, AMP, GradScaler-aware schedule and weighting steps),
masked evaluation, and early stopping on the validation loss."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from tqa.core.atomic import write_csv
from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.model.fitted import save_checkpoint, saved_history, to_tensors
from tqa.model.losses import masked_task_losses
from tqa.model.optim import accumulation_divisors, autocast, optimizer_for, scheduler_for
from tqa.model.transformer import CrossModalTransformer

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What every epoch of one fit shares (built once by :func:`setup_run`)."""

    model: CrossModalTransformer
    weighting: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    use_scaler: bool
    streams: dict[str, torch.Tensor]  # modality -> (N, T, D_reduced) on device
    sync: torch.Tensor  # (N, 3)
    y: torch.Tensor  # (N, 5) labels, MISSING where absent
    train_rows: torch.Tensor  # row indices of the train split
    task_mean: torch.Tensor  # (5,) mean present train label per task (smoothing target)
    smoothing: float
    batch_size: int
    accum: int
    micro_per_epoch: int
    device: torch.device
    train_p: dict
    gen: torch.Generator
    #: (5,) masked train MSE per task of the last epoch (NaN: no label), for history.csv
    train_tasks: np.ndarray = field(default_factory=lambda: np.full(len(TASKS), np.nan))


def task_means(train_labels: np.ndarray) -> np.ndarray:
    """(5,) mean of the present train labels per task; 3.0 (mid-scale) for a task with none."""
    valid = train_labels != MISSING
    n = valid.sum(0)
    return np.where(n > 0, np.where(valid, train_labels, 0).sum(0) / np.maximum(n, 1), 3.0)


def setup_run(
    model: CrossModalTransformer,
    weighting: Any,
    reduced: FeatureSet,
    labels: np.ndarray,
    train_idx: np.ndarray,
    train_p: dict,
    device: torch.device,
    seed: int,
) -> Run:
    """Tensors, optimizer, warm-up + cosine schedule and GradScaler of one fit."""
    streams, sync = to_tensors(reduced, model.modalities, device)
    batch_size = int(train_p["batch_size"])
    accum = max(1, int(train_p.get("grad_accum_steps", 1)))
    epochs = int(train_p["epochs"])
    micro_per_epoch = math.ceil(len(train_idx) / batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / accum)
    total_steps = epochs * steps_per_epoch
    # warm-up capped at half the run so that very short runs (smoke tests) still anneal
    warmup = min(
        int(round(float(train_p.get("warmup_epochs", 0)) * steps_per_epoch)), total_steps // 2
    )
    optimizer = optimizer_for(model, weighting, train_p)
    scheduler = scheduler_for(
        optimizer, weighting, warmup, total_steps, float(train_p.get("min_lr_ratio", 0.0))
    )
    use_scaler = device.type == "cuda" and bool(train_p.get("amp", True))
    return Run(
        model=model,
        weighting=weighting,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler("cuda", enabled=use_scaler),
        use_scaler=use_scaler,
        streams=streams,
        sync=sync,
        y=torch.as_tensor(labels, device=device),
        train_rows=torch.as_tensor(train_idx, device=device),
        task_mean=torch.as_tensor(
            task_means(labels[train_idx]), dtype=torch.float32, device=device
        ),
        smoothing=float(train_p.get("label_smoothing", 0.0)),
        batch_size=batch_size,
        accum=accum,
        micro_per_epoch=micro_per_epoch,
        device=device,
        train_p=train_p,
        gen=torch.Generator().manual_seed(seed),
    )


def train_epoch(run: Run) -> float:
    """One pass over the shuffled train rows; returns the masked mean train MSE."""
    model, weighting, optimizer, scaler = run.model, run.weighting, run.optimizer, run.scaler
    model.train()
    perm = run.train_rows[torch.randperm(len(run.train_rows), generator=run.gen).to(run.device)]
    sse = torch.zeros(len(TASKS), dtype=torch.float64)
    cnt = torch.zeros(len(TASKS), dtype=torch.float64)
    divisors = accumulation_divisors(run.micro_per_epoch, run.accum)
    clip = run.train_p.get("grad_clip")
    optimizer.zero_grad(set_to_none=True)
    for i in range(run.micro_per_epoch):
        idx = perm[i * run.batch_size : (i + 1) * run.batch_size]
        with autocast(run.device, run.train_p):
            pred = model({m: s[idx] for m, s in run.streams.items()}, run.sync[idx])
        losses, counts = masked_task_losses(
            pred.float(), run.y[idx], smoothing=run.smoothing, target_mean=run.task_mean
        )
        total = weighting.combine(losses, counts, model) / divisors[i]  # mean over the group
        scaler.scale(total).backward()
        sse += (losses.detach() * counts).double().cpu()
        cnt += counts.double().cpu()
        if (i + 1) % run.accum == 0 or i + 1 == run.micro_per_epoch:
            if clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), float(clip))
            scale_before = scaler.get_scale() if run.use_scaler else None
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            # GradScaler skips optimizer.step() on inf/NaN gradients and then lowers its
            # scale (the usual idiom to detect it): a skipped step advances neither the
            # lr schedule nor the weighting strategy. Without the scaler nothing is skipped.
            if scale_before is None or scaler.get_scale() >= scale_before:
                run.scheduler.step()
                weighting.step()
            else:  # drop what the strategy gathered for the skipped step
                weighting.skip()
    present = cnt > 0
    run.train_tasks = torch.where(present, sse / cnt.clamp(min=1), torch.nan).numpy()
    return float((sse[present] / cnt[present]).mean()) if bool(present.any()) else float("nan")


@torch.no_grad()
def evaluate(
    model: CrossModalTransformer,
    streams: dict[str, torch.Tensor],
    sync: torch.Tensor,
    y: torch.Tensor,
    rows: torch.Tensor,
    batch_size: int,
    device: torch.device,
    train_p: dict,
) -> tuple[float, np.ndarray]:
    """Masked MSE per task (5,) over ``rows`` (no smoothing) and their mean over present tasks."""
    if len(rows) == 0:
        return float("nan"), np.full(len(TASKS), np.nan)
    model.eval()
    sse = torch.zeros(len(TASKS), dtype=torch.float64)
    cnt = torch.zeros(len(TASKS), dtype=torch.float64)
    for i in range(0, len(rows), batch_size):
        idx = rows[i : i + batch_size]
        with autocast(device, train_p):
            pred = model({m: s[idx] for m, s in streams.items()}, sync[idx])
        losses, counts = masked_task_losses(pred.float(), y[idx])
        sse += (losses * counts).double().cpu()
        cnt += counts.double().cpu()
    per_task = torch.where(
        cnt > 0, sse / cnt.clamp(min=1), torch.full_like(sse, float("nan"))
    ).numpy()
    present = cnt.numpy() > 0
    return (float(per_task[present].mean()) if present.any() else float("nan")), per_task


def evaluate_rows(run: Run, rows: np.ndarray) -> tuple[float, np.ndarray]:
    """Masked mean MSE and per-task MSE (5,) of the current model on ``rows``."""
    return evaluate(
        run.model,
        run.streams,
        run.sync,
        run.y,
        torch.as_tensor(rows, device=run.device),
        run.batch_size * 4,
        run.device,
        run.train_p,
    )


def train_epochs(
    run: Run,
    val_idx: np.ndarray,
    train_p: dict,
    out_dir: Path | None,
    ckpt_info: dict,
    progress: bool,
) -> tuple[list[dict], int, dict, list[float]]:
    """The epoch loop with early stopping on the validation loss (train loss without val
    rows); writes best.pt and history.csv as it goes when ``out_dir`` is set.

    Returns (history rows, best epoch, best state_dict, the strategy's task weights then).
    """
    model, weighting = run.model, run.weighting
    strategy, seed = ckpt_info["strategy"], ckpt_info["seed"]
    epochs = int(train_p["epochs"])
    patience = int(train_p.get("early_stopping_patience", epochs))
    min_delta = float(train_p.get("early_stopping_min_delta", 0.0))
    history: list[dict] = []
    best_loss, best_epoch, best_state, bad_epochs = float("inf"), -1, None, 0
    best_weights: list[float] = []
    bar = tqdm(
        range(1, epochs + 1), desc=f"fit {strategy} seed{seed}", disable=not progress, leave=False
    )
    for epoch in bar:
        t_ep = time.perf_counter()
        train_loss = train_epoch(run)
        val_loss, val_tasks = evaluate_rows(run, val_idx)
        monitor = val_loss if len(val_idx) and np.isfinite(val_loss) else train_loss
        w = weighting.weights.cpu().numpy()
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": run.optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t_ep,
        }
        row.update({f"train_loss_{t}": float(v) for t, v in zip(TASKS, run.train_tasks)})
        row.update({f"val_loss_{t}": float(v) for t, v in zip(TASKS, val_tasks)})
        row.update({f"weight_{t}": float(v) for t, v in zip(TASKS, w)})
        history.append(row)
        if not np.isfinite(monitor):
            raise FloatingPointError(f"non-finite loss at epoch {epoch} ({strategy}, seed {seed})")
        if monitor < best_loss - min_delta:
            best_loss, best_epoch, bad_epochs = monitor, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
            best_weights = [float(v) for v in w]  # the strategy's weights of the restored epoch
            if out_dir is not None:
                info = {"best_epoch": epoch, "val_loss": monitor, "task_weights": best_weights}
                save_checkpoint(out_dir / "best.pt", model, {**ckpt_info, **info})
        else:
            bad_epochs += 1
        if out_dir is not None:
            write_csv(out_dir / "history.csv", saved_history(pd.DataFrame(history)))
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
        if bad_epochs >= patience:
            log.info("early stop at epoch %d (best %d, loss %.4f)", epoch, best_epoch, best_loss)
            break
    return history, best_epoch, best_state, best_weights
