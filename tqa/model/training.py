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
``history.csv`` (per epoch: epoch, train_loss, val_loss, lr, val_loss_<task>,
weight_<task>, seconds), ``metrics.json`` (masked MSE per task on val/test). All atomic.
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
from tqa.model.schedule import build_scheduler
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
        groups.append({"params": extra, "lr": lr, "weight_decay": 0.0, "name": "weighting"})
    return torch.optim.AdamW(groups, lr=lr, weight_decay=wd)


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
    train_idx = np.flatnonzero(split == "train")
    val_idx = np.flatnonzero(split == "val")
    test_idx = np.flatnonzero(split == "test")

    prep, reduced = _fit_preprocessor(features, train_idx, params["preprocess"], modalities)
    input_dims = prep.output_dims
    model = build_model(
        input_dims,
        {
            **model_p,
            "grad_checkpointing": bool(train_p.get("grad_checkpointing", False))
            or bool(model_p.get("grad_checkpointing", False)),
        },
    ).to(device)
    weighting = get_weighting(strategy, len(TASKS), params).to(device)
    streams, sync = _to_tensors(reduced, model.modalities, device)
    y = torch.as_tensor(labels, device=device)

    train_labels = labels[train_idx]
    valid = train_labels != MISSING
    task_mean = np.where(
        valid.sum(0) > 0, np.where(valid, train_labels, 0).sum(0) / np.maximum(valid.sum(0), 1), 3.0
    )
    task_mean_t = torch.as_tensor(task_mean, dtype=torch.float32, device=device)
    smoothing = float(train_p.get("label_smoothing", 0.0))

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
    scheduler = build_scheduler(
        optimizer, warmup, total_steps, float(train_p.get("min_lr_ratio", 0.0))
    )
    use_scaler = device.type == "cuda" and bool(train_p.get("amp", True))
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    clip = train_p.get("grad_clip")
    patience = int(train_p.get("early_stopping_patience", epochs))
    min_delta = float(train_p.get("early_stopping_min_delta", 0.0))
    gen = torch.Generator().manual_seed(seed)
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
    }

    train_rows = torch.as_tensor(train_idx, device=device)
    val_rows = torch.as_tensor(val_idx, device=device)
    divisors = accumulation_divisors(micro_per_epoch, accum)
    history: list[dict] = []
    best_loss, best_epoch, best_state, bad_epochs = float("inf"), -1, None, 0
    best_weights: list[float] = []
    bar = tqdm(
        range(1, epochs + 1), desc=f"fit {strategy} seed{seed}", disable=not progress, leave=False
    )
    for epoch in bar:
        t_ep = time.perf_counter()
        model.train()
        perm = train_rows[torch.randperm(len(train_rows), generator=gen).to(device)]
        sse = torch.zeros(len(TASKS), dtype=torch.float64)
        cnt = torch.zeros(len(TASKS), dtype=torch.float64)
        optimizer.zero_grad(set_to_none=True)
        for i in range(micro_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            with _autocast(device, train_p):
                pred = model({m: s[idx] for m, s in streams.items()}, sync[idx])
            losses, counts = masked_task_losses(
                pred.float(), y[idx], smoothing=smoothing, target_mean=task_mean_t
            )
            total = weighting.combine(losses, counts, model) / divisors[i]  # mean over the group
            scaler.scale(total).backward()
            sse += (losses.detach() * counts).double().cpu()
            cnt += counts.double().cpu()
            if (i + 1) % accum == 0 or i + 1 == micro_per_epoch:
                if clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), float(clip))
                scale_before = scaler.get_scale() if use_scaler else None
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                # GradScaler skips optimizer.step() on inf/NaN gradients and then lowers its
                # scale (the usual idiom to detect it): a skipped step advances neither the
                # lr schedule nor the weighting strategy. Without the scaler nothing is skipped.
                if scale_before is None or scaler.get_scale() >= scale_before:
                    scheduler.step()
                    weighting.step()
        present = cnt > 0
        train_loss = (
            float((sse[present] / cnt[present]).mean()) if bool(present.any()) else float("nan")
        )
        val_loss, val_tasks = _evaluate(
            model, streams, sync, y, val_rows, batch_size * 4, device, train_p
        )
        monitor = val_loss if len(val_idx) and np.isfinite(val_loss) else train_loss
        w = weighting.weights.cpu().numpy()
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t_ep,
        }
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
                _save_checkpoint(
                    out_dir / "best.pt",
                    model,
                    {
                        **ckpt_info,
                        "best_epoch": epoch,
                        "val_loss": monitor,
                        "task_weights": best_weights,
                    },
                )
        else:
            bad_epochs += 1
        if out_dir is not None:
            write_csv(out_dir / "history.csv", saved_history(pd.DataFrame(history)))
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
        if bad_epochs >= patience:
            log.info("early stop at epoch %d (best %d, loss %.4f)", epoch, best_epoch, best_loss)
            break
    model.load_state_dict(best_state)
    model.eval()
    hist = pd.DataFrame(history)
    result = FitResult(
        model=model,
        preprocessor=prep,
        history=hist,
        best_epoch=best_epoch,
        strategy=strategy,
        seed=seed,
        input_dims=dict(input_dims),
        model_params=ckpt_info["model_params"],
        task_weights=best_weights,
        seconds=time.perf_counter() - t0,
        out_dir=out_dir,
    )
    if out_dir is not None:
        metrics = {
            "strategy": strategy,
            "seed": seed,
            "best_epoch": best_epoch,
        }  # no timings in tracked outputs: an unchanged fit rewrites identical bytes
        for name, rows in (("val", val_idx), ("test", test_idx)):
            loss, per_task = _evaluate(
                model,
                streams,
                sync,
                y,
                torch.as_tensor(rows, device=device),
                batch_size * 4,
                device,
                train_p,
            )
            metrics[f"{name}_mse"] = _nan_to_none(loss)
            metrics[f"{name}_mse_per_task"] = {t: _nan_to_none(v) for t, v in zip(TASKS, per_task)}
        write_json(out_dir / "metrics.json", metrics)
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
