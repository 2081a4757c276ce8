"""Training of the cross-modal Transformer with a task-weighting strategy (chapter 3.2.4-3.2.5).

Public API (used by the evaluation studies; keep stable):

- :func:`fit` — preprocess (fitted on train rows only), train with AdamW + per-task head
  learning rates, warm-up + cosine schedule per optimizer step, gradient accumulation
  (each step averages its micro-batches; the epoch's last, shorter group by its real
  size), AMP (CUDA fp16 + GradScaler; a step the scaler skips for inf/NaN gradients does
  not advance the schedule or the weighting strategy; CPU bf16 only when
  ``train.amp_cpu``), optional gradient
  checkpointing, masked loss with label smoothing, early stopping on the validation
  loss; returns a :class:`FitResult`.
- :func:`predict`, :func:`load_fit`. Seeds x strategy runs that write models and reports
  live in :mod:`tqa.study.runs` (``tqa train``).

Files in ``out_dir``: ``best.pt`` (best-epoch weights + config), ``preprocess.joblib``,
``history.csv`` (per epoch: epoch, train_loss, val_loss, lr, train_loss_<task>,
val_loss_<task>, weight_<task>, seconds), ``metrics.json`` (masked MSE per task on val/test,
``labelled_tasks``, ``strategies_coincide``: true when fewer than 2 tasks have training labels,
where every weighting strategy gives the same model). All atomic.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from tqa.core.atomic import write_bytes, write_csv, write_json
from tqa.core.params import params_hash, without_runtime
from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.model.losses import masked_task_losses
from tqa.model.preprocess import Preprocessor
from tqa.model.schedule import build_scheduler, warmup_cosine
from tqa.model.transformer import CrossModalTransformer, build_model
from tqa.model.weighting import get_weighting

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class FitResult:
    """A trained model with its preprocessor and learning history."""

    model: CrossModalTransformer
    preprocessor: Preprocessor
    history: pd.DataFrame
    best_epoch: int
    strategy: str
    seed: int
    input_dims: dict[str, int]
    model_params: dict[str, Any] = field(default_factory=dict)
    #: the weighting strategy's task weights at the best (restored) epoch
    task_weights: list[float] = field(default_factory=list)
    seconds: float = float("nan")
    out_dir: Path | None = None
    #: tasks with at least one training label; with fewer than 2 every strategy coincides
    labelled_tasks: list[str] = field(default_factory=list)

    @property
    def strategies_coincide(self) -> bool:
        """True when < 2 tasks are labelled: fixed / uncertainty / GradNorm give one model."""
        return len(self.labelled_tasks) < 2

    def predict(self, features: FeatureSet, batch_size: int = 64) -> np.ndarray:
        """Scores (N, 5) in [1, 5] for raw (un-preprocessed) ``features``."""
        return predict(self.model, self.preprocessor, features, batch_size=batch_size)


# ----------------------------------------------------------------------------- helpers


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) for repeatable runs."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to_tensors(
    fs: FeatureSet, modalities: list[str], device: torch.device
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    streams = {
        m: torch.as_tensor(np.ascontiguousarray(fs.streams[m]), dtype=torch.float32, device=device)
        for m in modalities
    }
    sync = torch.as_tensor(np.ascontiguousarray(fs.sync), dtype=torch.float32, device=device)
    return streams, sync


def _check_inputs(
    features: FeatureSet, labels: np.ndarray, split: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = len(features.video_ids)
    labels = np.asarray(labels, dtype=np.float32)
    split = np.asarray(split).astype(str)
    if labels.shape != (n, len(TASKS)):
        raise ValueError(
            f"labels have shape {labels.shape}, expected ({n}, {len(TASKS)}) in TASKS order"
        )
    if split.shape != (n,):
        raise ValueError(f"split has shape {split.shape}, expected ({n},)")
    bad = sorted(set(split) - set(SPLITS))
    if bad:
        raise ValueError(f"split values must be train/val/test; found {bad}")
    present = labels != MISSING
    if np.any(present & ~np.isfinite(labels)):
        raise ValueError("labels contain NaN/inf; use -1.0 for a missing label")
    if not (split == "train").any():
        raise ValueError("no training rows in the split")
    return labels, split


def _autocast(device: torch.device, train_p: dict):
    """Autocast context: fp16 on CUDA when ``amp``; bf16 on CPU only when ``amp_cpu``."""
    if device.type == "cuda" and train_p.get("amp", True):
        return torch.autocast("cuda", dtype=torch.float16)
    if device.type == "cpu" and train_p.get("amp_cpu", False):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def _optimizer(
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


def _scheduler(
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


def labelled_tasks(labels: np.ndarray, rows: np.ndarray) -> list[str]:
    """Tasks with at least one present label among ``rows`` of ``labels`` (N, 5)."""
    present = (np.asarray(labels)[rows] != MISSING).any(axis=0)
    return [t for t, p in zip(TASKS, present) if p]


@torch.no_grad()
def _evaluate(
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
        with _autocast(device, train_p):
            pred = model({m: s[idx] for m, s in streams.items()}, sync[idx])
        losses, counts = masked_task_losses(pred.float(), y[idx])
        sse += (losses * counts).double().cpu()
        cnt += counts.double().cpu()
    per_task = torch.where(
        cnt > 0, sse / cnt.clamp(min=1), torch.full_like(sse, float("nan"))
    ).numpy()
    present = cnt.numpy() > 0
    return (float(per_task[present].mean()) if present.any() else float("nan")), per_task


def accumulation_divisors(n_micro: int, accum: int) -> list[int]:
    """Divisor of each micro-batch's loss under gradient accumulation: the size of its group.

    Micro-batches ``0..n_micro-1`` form optimizer steps of ``accum`` micro-batches each; the
    last group of an epoch may be shorter (``n_micro % accum``) and is divided by its real
    size, so every optimizer step sees the MEAN of its micro-batch gradients (with equal
    micro-batches: the gradient of one batch ``accum`` times as large).
    """
    accum = max(1, int(accum))
    return [min(accum, n_micro - (i // accum) * accum) for i in range(n_micro)]


def _save_checkpoint(path: Path, model: CrossModalTransformer, info: dict) -> None:
    buf = io.BytesIO()  # not the temporary file: its random name would enter the archive
    torch.save(
        {"model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **info},
        buf,
    )
    write_bytes(path, buf.getvalue())


_PREP_CACHE: list[tuple[tuple, FeatureSet, Preprocessor, FeatureSet]] = []


def _fit_preprocessor(
    features: FeatureSet, train_idx: np.ndarray, params_pre: dict, modalities: list[str]
) -> tuple[Preprocessor, FeatureSet]:
    """Fit on the train rows and transform all rows; memoised for repeated fits on the
    same FeatureSet object (seeds/strategies share it), at most 2 entries kept."""
    key = (params_hash(params_pre), params_hash(train_idx.tolist()), tuple(modalities))
    for k, fs_ref, prep, out in _PREP_CACHE:
        if k == key and fs_ref is features:
            return copy.deepcopy(prep), out
    train_fs = features.subset([features.video_ids[i] for i in train_idx])
    prep = Preprocessor(params_pre, modalities=modalities).fit(train_fs)
    out = prep.transform(features)
    _PREP_CACHE.append((key, features, prep, out))
    del _PREP_CACHE[:-2]
    return copy.deepcopy(prep), out


# --------------------------------------------------------------------------------- fit


#: Columns of a fit's history that measure the machine, not the fit (left out of saved files).
TIMING_COLUMNS: tuple[str, ...] = ("seconds",)


def saved_history(history: pd.DataFrame) -> pd.DataFrame:
    """``history`` without timing columns: what is written, so reruns give identical files."""
    return history.drop(columns=[c for c in TIMING_COLUMNS if c in history.columns])


def fit_params_hash(params: dict, strategy: str) -> str:
    """Hash of the params one fit of ``strategy`` reads (seed, preprocess, model, train and
    that strategy's own ``weighting`` sub-section; runtime knobs left out), so that editing
    another strategy's params leaves this fit's checkpoint byte-identical."""
    computed = without_runtime(params)
    weighting = computed.get("weighting") or {}
    own = weighting.get(strategy) if isinstance(weighting, dict) else None
    shared = (
        {k: v for k, v in weighting.items() if k != "strategies" and not isinstance(v, dict)}
        if isinstance(weighting, dict)
        else weighting
    )
    return params_hash(
        {
            "seed": computed.get("seed"),
            **{k: computed.get(k) for k in ("preprocess", "model", "train")},
            "weighting": own if isinstance(own, dict) else shared,
            "strategy": strategy,
        }
    )


def fit(
    features: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    *,
    strategy: str,
    seed: int,
    out_dir: Path | None = None,
    progress: bool = True,
) -> FitResult:
    """Train one model.

    features: raw FeatureSet (N videos); labels: (N, 5) in TASKS order, -1.0 = missing;
    split: (N,) of "train"/"val"/"test"; params: the WHOLE params dict (sections
    preprocess, model, train, weighting are read). The preprocessor is fitted on the
    train rows only. Early stopping and the best epoch use the validation masked mean
    MSE (train loss when there are no val rows). ``out_dir``: where best.pt,
    preprocess.joblib, history.csv and metrics.json are written (None: nothing written).
    ``train.num_threads`` sets torch's CPU threads for the fit (restored afterwards).
    """
    threads = params["train"].get("num_threads")
    prev_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _fit(
            features,
            labels,
            split,
            params,
            strategy=strategy,
            seed=seed,
            out_dir=out_dir,
            progress=progress,
        )
    finally:
        torch.set_num_threads(prev_threads)


@dataclass
class _Run:
    """What every epoch of one fit shares (built once by :func:`_setup_run`)."""

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


def _task_means(train_labels: np.ndarray) -> np.ndarray:
    """(5,) mean of the present train labels per task; 3.0 (mid-scale) for a task with none."""
    valid = train_labels != MISSING
    n = valid.sum(0)
    return np.where(n > 0, np.where(valid, train_labels, 0).sum(0) / np.maximum(n, 1), 3.0)


def _setup_run(
    model: CrossModalTransformer,
    weighting: Any,
    reduced: FeatureSet,
    labels: np.ndarray,
    train_idx: np.ndarray,
    train_p: dict,
    device: torch.device,
    seed: int,
) -> _Run:
    """Tensors, optimizer, warm-up + cosine schedule and GradScaler of one fit."""
    streams, sync = _to_tensors(reduced, model.modalities, device)
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
    optimizer = _optimizer(model, weighting, train_p)
    scheduler = _scheduler(
        optimizer, weighting, warmup, total_steps, float(train_p.get("min_lr_ratio", 0.0))
    )
    use_scaler = device.type == "cuda" and bool(train_p.get("amp", True))
    return _Run(
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
            _task_means(labels[train_idx]), dtype=torch.float32, device=device
        ),
        smoothing=float(train_p.get("label_smoothing", 0.0)),
        batch_size=batch_size,
        accum=accum,
        micro_per_epoch=micro_per_epoch,
        device=device,
        train_p=train_p,
        gen=torch.Generator().manual_seed(seed),
    )


def _train_epoch(run: _Run) -> float:
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
        with _autocast(run.device, run.train_p):
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


def _evaluate_rows(run: _Run, rows: np.ndarray) -> tuple[float, np.ndarray]:
    """Masked mean MSE and per-task MSE (5,) of the current model on ``rows``."""
    return _evaluate(
        run.model,
        run.streams,
        run.sync,
        run.y,
        torch.as_tensor(rows, device=run.device),
        run.batch_size * 4,
        run.device,
        run.train_p,
    )


def _write_metrics(
    run: _Run, out_dir: Path, head: dict, val_idx: np.ndarray, test_idx: np.ndarray
) -> None:
    """``metrics.json``: ``head`` plus masked MSE (mean and per task) on val and test."""
    metrics = dict(head)
    for name, rows in (("val", val_idx), ("test", test_idx)):
        loss, per_task = _evaluate_rows(run, rows)
        metrics[f"{name}_mse"] = _nan_to_none(loss)
        metrics[f"{name}_mse_per_task"] = {t: _nan_to_none(v) for t, v in zip(TASKS, per_task)}
    write_json(out_dir / "metrics.json", metrics)


def _train_epochs(
    run: _Run,
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
        train_loss = _train_epoch(run)
        val_loss, val_tasks = _evaluate_rows(run, val_idx)
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
                _save_checkpoint(out_dir / "best.pt", model, {**ckpt_info, **info})
        else:
            bad_epochs += 1
        if out_dir is not None:
            write_csv(out_dir / "history.csv", saved_history(pd.DataFrame(history)))
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
        if bad_epochs >= patience:
            log.info("early stop at epoch %d (best %d, loss %.4f)", epoch, best_epoch, best_loss)
            break
    return history, best_epoch, best_state, best_weights


def _fit(
    features: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    *,
    strategy: str,
    seed: int,
    out_dir: Path | None,
    progress: bool,
) -> FitResult:
    t0 = time.perf_counter()
    labels, split = _check_inputs(features, labels, split)
    train_p, model_p = dict(params["train"]), dict(params["model"])
    set_seed(seed)
    device = resolve_device(train_p.get("device", "auto"))
    dropped = set(model_p.get("drop_modalities") or [])
    modalities = [m for m in features.modalities if m not in dropped]
    train_idx, val_idx, test_idx = (np.flatnonzero(split == s) for s in SPLITS)

    prep, reduced = _fit_preprocessor(features, train_idx, params["preprocess"], modalities)
    input_dims = prep.output_dims
    checkpointing = bool(train_p.get("grad_checkpointing", False)) or bool(
        model_p.get("grad_checkpointing", False)
    )
    model = build_model(input_dims, {**model_p, "grad_checkpointing": checkpointing}).to(device)
    weighting = get_weighting(strategy, len(TASKS), params).to(device)
    run = _setup_run(model, weighting, reduced, labels, train_idx, train_p, device, seed)
    labelled = labelled_tasks(labels, train_idx)
    coincide = len(labelled) < 2
    if coincide:
        log.warning(
            "only %d labelled task(s) in the training rows (%s): every weighting strategy "
            "reduces to one scaled loss, so %s coincides with fixed weighting",
            len(labelled),
            ", ".join(labelled) or "none",
            strategy,
        )
    if len(val_idx) == 0:
        log.warning("no validation rows: early stopping and the best epoch use the training loss")

    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        prep.save(out_dir / "preprocess.joblib")
    ckpt_info = {
        "input_dims": input_dims,
        "model_params": {**model_p, "drop_modalities": sorted(dropped)},
        "strategy": strategy,
        "seed": seed,
        "tasks": list(TASKS),
        "params_hash": fit_params_hash(params, strategy),
        "labelled_tasks": labelled,
    }

    history, best_epoch, best_state, best_weights = _train_epochs(
        run, val_idx, train_p, out_dir, ckpt_info, progress
    )
    model.load_state_dict(best_state)
    model.eval()
    result = FitResult(
        model=model,
        preprocessor=prep,
        history=pd.DataFrame(history),
        best_epoch=best_epoch,
        strategy=strategy,
        seed=seed,
        input_dims=dict(input_dims),
        model_params=ckpt_info["model_params"],
        task_weights=best_weights,
        seconds=time.perf_counter() - t0,
        out_dir=out_dir,
        labelled_tasks=labelled,
    )
    if out_dir is not None:
        # no timings in tracked outputs: an unchanged fit rewrites identical bytes
        head = {"strategy": strategy, "seed": seed, "best_epoch": best_epoch}
        head.update(labelled_tasks=labelled, strategies_coincide=coincide)
        _write_metrics(run, out_dir, head, val_idx, test_idx)
    return result


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


# ----------------------------------------------------------------------- inference/io


@torch.no_grad()
def predict(
    model: CrossModalTransformer,
    preprocessor: Preprocessor,
    features: FeatureSet,
    batch_size: int = 64,
) -> np.ndarray:
    """Scores (N, 5) in [1, 5] for raw ``features`` (preprocessed with the fitted stats)."""
    model.eval()
    device = next(model.parameters()).device
    reduced = preprocessor.transform(features)
    streams, sync = _to_tensors(reduced, model.modalities, device)
    out = []
    for i in range(0, len(features.video_ids), batch_size):
        out.append(
            model({m: s[i : i + batch_size] for m, s in streams.items()}, sync[i : i + batch_size])
            .float()
            .cpu()
        )
    if not out:
        return np.zeros((0, len(TASKS)), dtype=np.float32)
    return torch.cat(out).numpy()


def load_fit(out_dir: str | os.PathLike, device: str | None = "cpu") -> FitResult:
    """Reload a fit written by :func:`fit` (best.pt + preprocess.joblib + history.csv)."""
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "best.pt"
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"no checkpoint {ckpt_path} (train first: `tqa train`)")
    ckpt = torch.load(ckpt_path, map_location=device or "cpu", weights_only=False)
    model = build_model(ckpt["input_dims"], {**ckpt["model_params"], "grad_checkpointing": False})
    model.load_state_dict(ckpt["model_state"])
    model.to(device or "cpu").eval()
    prep = Preprocessor.load(out_dir / "preprocess.joblib")
    hist_path = out_dir / "history.csv"
    history = pd.read_csv(hist_path) if hist_path.is_file() else pd.DataFrame()
    # the strategy's weights of the best (restored) epoch, not of the last one
    weights = [float(v) for v in ckpt.get("task_weights") or []]
    if not weights and f"weight_{TASKS[0]}" in history and "epoch" in history:
        best = history[history["epoch"] == int(ckpt["best_epoch"])]
        if len(best):
            weights = [float(best[f"weight_{t}"].iloc[0]) for t in TASKS]
    return FitResult(
        model=model,
        preprocessor=prep,
        history=history,
        best_epoch=int(ckpt["best_epoch"]),
        strategy=ckpt["strategy"],
        seed=int(ckpt["seed"]),
        input_dims=dict(ckpt["input_dims"]),
        model_params=dict(ckpt["model_params"]),
        task_weights=weights,
        out_dir=out_dir,
        labelled_tasks=list(ckpt.get("labelled_tasks") or []),
    )


# ------------------------------------------------------------------------- toy data


def planted_signal_data(
    n: int = 120,
    dims: dict[str, int] | None = None,
    n_frames: int = 150,
    seed: int = 0,
    missing_rate: float = 0.25,
    nan_frames: float = 0.02,
    signal: bool = True,
) -> tuple[FeatureSet, np.ndarray, np.ndarray]:
    """Random FeatureSet with a planted signal, labels (n, 5) and a 70/15/15 split.

    For tests, notebook demos and benchmarks when no extracted features exist. Each task's
    score is 3 + a linear function of time-averaged features of different modalities (and
    of the sync confidence for lip_sync) + small noise, clipped to [1, 5]; ``missing_rate``
    of the labels of tasks 1..4 are -1; ``nan_frames`` of the frames are NaN rows. With
    ``signal=False`` the labels are pure noise. Not a model of real data.
    """
    rng = np.random.default_rng(seed)
    dims = dims or {"visual": 24, "audio": 16, "landmarks": 30, "au": 8}
    streams = {}
    for m, d in dims.items():
        base = rng.normal(size=(n, 1, d)) * 1.0  # per-video offset (the signal carrier)
        x = base + 0.5 * rng.normal(size=(n, n_frames, d))
        x = x * (10.0 ** rng.integers(-1, 3, size=d))  # scales differ by orders of magnitude
        bad = rng.random((n, n_frames)) < nan_frames
        x[bad] = np.nan
        streams[m] = x.astype(np.float32)
    sync = rng.normal(size=(n, 3)).astype(np.float32)
    mods = list(dims)

    def z(m: str, j: int) -> np.ndarray:
        col = np.nanmean(streams[m][:, :, j], axis=1)
        return (col - col.mean()) / (col.std() + 1e-9)

    if signal:
        sig = np.stack(
            [
                0.6 * sync[:, 2] + 0.3 * z(mods[-1], 0),
                0.7 * z(mods[0], 0) - 0.3 * z(mods[-1 if len(mods) > 1 else 0], 1),
                0.8 * z(mods[1 % len(mods)], 0),
                0.5 * z(mods[1 % len(mods)], 1) + 0.5 * z(mods[2 % len(mods)], 0),
                0.4 * z(mods[0], 0)
                + 0.4 * z(mods[1 % len(mods)], 0)
                + 0.3 * z(mods[2 % len(mods)], 0),
            ],
            axis=1,
        )
    else:
        sig = np.zeros((n, len(TASKS)))
    labels = np.clip(3.0 + 0.8 * sig + 0.15 * rng.normal(size=sig.shape), 1.0, 5.0).astype(
        np.float32
    )
    miss = rng.random(labels.shape) < missing_rate
    miss[:, 0] = False
    labels[miss] = MISSING
    split = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    n_val = n_test = max(1, int(round(0.15 * n)))
    split[order[:n_val]] = "val"
    split[order[n_val : n_val + n_test]] = "test"
    fs = FeatureSet(
        video_ids=[f"toy{i:04d}" for i in range(n)],
        streams=streams,
        sync=sync,
        names={m: [f"{m}_{j}" for j in range(d)] for m, d in dims.items()},
        meta={"source": "planted_signal_data (random, not real features)"},
    )
    return fs, labels, split.astype(str)
