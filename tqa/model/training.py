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
- :func:`predict`, :func:`load_fit` (:mod:`tqa.model.fitted`, re-exported here). Seeds x
  strategy runs that write models and reports live in :mod:`tqa.study.runs` (``tqa train``).

This module is the fit as a sequence of steps (check inputs, fit the preprocessor, build the
model and its optimisation, run the epochs, restore the best one, write the files); the parts
live in :mod:`tqa.model.optim` (optimizer, schedule, AMP), :mod:`tqa.model.epochs` (the
epoch loop, early stopping), :mod:`tqa.model.fitted` (the result and its files) and
:mod:`tqa.model.planted` (toy data).

Files in ``out_dir``: ``best.pt`` (best-epoch weights + config), ``preprocess.joblib``,
``history.csv`` (per epoch: epoch, train_loss, val_loss, lr, train_loss_<task>,
val_loss_<task>, weight_<task>, seconds), ``metrics.json`` (masked MSE per task on val/test,
``labelled_tasks``, ``strategies_coincide``: true when fewer than 2 tasks have training labels,
where every weighting strategy gives the same model). All atomic.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from tqa.core.atomic import write_json
from tqa.core.params import params_hash, without_runtime
from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.model.epochs import Run, evaluate_rows, setup_run, train_epochs
from tqa.model.fitted import (
    TIMING_COLUMNS,
    FitResult,
    load_fit,
    predict,
    saved_history,
)
from tqa.model.optim import accumulation_divisors
from tqa.model.planted import planted_signal_data
from tqa.model.preprocess import Preprocessor
from tqa.model.transformer import build_model
from tqa.model.weighting import get_weighting

#: Names that lived here before the split (callers and notebooks import them from here).
__all__ = [
    "SPLITS",
    "TIMING_COLUMNS",
    "FitResult",
    "accumulation_divisors",
    "fit",
    "fit_params_hash",
    "labelled_tasks",
    "load_fit",
    "planted_signal_data",
    "predict",
    "resolve_device",
    "saved_history",
    "set_seed",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


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


def labelled_tasks(labels: np.ndarray, rows: np.ndarray) -> list[str]:
    """Tasks with at least one present label among ``rows`` of ``labels`` (N, 5)."""
    present = (np.asarray(labels)[rows] != MISSING).any(axis=0)
    return [t for t, p in zip(TASKS, present) if p]


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
    numpy's BLAS (the preprocessor's PCA and scaling) runs on one thread whatever the caller
    set: a threaded BLAS splits its sums by thread count, which moved the last bits of the
    trained weights between a developer's rebuild and a fresh clone's (issue #23).
    """
    threads = params["train"].get("num_threads")
    prev_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _fit(features, labels, split, params, strategy, seed, out_dir, progress)
    finally:
        torch.set_num_threads(prev_threads)


def _fit(
    features: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    strategy: str,
    seed: int,
    out_dir: Path | None,
    progress: bool,
) -> FitResult:
    """:func:`fit` once torch's threads are set: the steps of one fit, in order."""
    t0 = time.perf_counter()
    labels, split = _check_inputs(features, labels, split)
    train_p, model_p = dict(params["train"]), dict(params["model"])
    set_seed(seed)
    device = resolve_device(train_p.get("device", "auto"))
    dropped = set(model_p.get("drop_modalities") or [])
    modalities = [m for m in features.modalities if m not in dropped]
    train_idx, val_idx, test_idx = (np.flatnonzero(split == s) for s in SPLITS)

    prep, reduced = _fit_preprocessor(features, train_idx, params["preprocess"], modalities)
    run = _build_run(prep, reduced, labels, train_idx, params, strategy, seed, device)
    labelled = labelled_tasks(labels, train_idx)
    _warn_degenerate(labelled, strategy, has_val=len(val_idx) > 0)

    out_dir = _start_out_dir(out_dir, prep)
    ckpt_info = {
        "input_dims": prep.output_dims,
        "model_params": {**model_p, "drop_modalities": sorted(dropped)},
        **_fit_identity(params, strategy, seed, labelled),
    }

    history, best_epoch, best_state, best_weights = train_epochs(
        run, val_idx, train_p, out_dir, ckpt_info, progress
    )
    run.model.load_state_dict(best_state)
    run.model.eval()
    result = FitResult(
        model=run.model,
        preprocessor=prep,
        history=pd.DataFrame(history),
        best_epoch=best_epoch,
        strategy=strategy,
        seed=seed,
        input_dims=dict(prep.output_dims),
        model_params=ckpt_info["model_params"],
        task_weights=best_weights,
        seconds=time.perf_counter() - t0,
        out_dir=out_dir,
        labelled_tasks=labelled,
    )
    if out_dir is not None:
        # no timings in tracked outputs: an unchanged fit rewrites identical bytes
        head = {"strategy": strategy, "seed": seed, "best_epoch": best_epoch}
        head.update(labelled_tasks=labelled, strategies_coincide=len(labelled) < 2)
        _write_metrics(run, out_dir, head, val_idx, test_idx)
    return result


def _start_out_dir(out_dir: Path | None, prep: Preprocessor) -> Path | None:
    """Create ``out_dir`` and write the fitted ``preprocess.joblib`` there (None: nothing)."""
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        prep.save(out_dir / "preprocess.joblib")
    return out_dir


def _fit_identity(params: dict, strategy: str, seed: int, labelled: list[str]) -> dict[str, Any]:
    """What a checkpoint records about the fit besides its shapes: strategy, seed, task
    order, the hash of the params it read and the tasks it had labels for."""
    return {
        "strategy": strategy,
        "seed": seed,
        "tasks": list(TASKS),
        "params_hash": fit_params_hash(params, strategy),
        "labelled_tasks": labelled,
    }


def _build_run(
    prep: Preprocessor,
    reduced: FeatureSet,
    labels: np.ndarray,
    train_idx: np.ndarray,
    params: dict,
    strategy: str,
    seed: int,
    device: torch.device,
) -> Run:
    """The model for the preprocessor's output dims, the weighting strategy, and the
    tensors / optimizer / schedule every epoch shares."""
    train_p, model_p = dict(params["train"]), dict(params["model"])
    checkpointing = bool(train_p.get("grad_checkpointing", False)) or bool(
        model_p.get("grad_checkpointing", False)
    )
    model = build_model(prep.output_dims, {**model_p, "grad_checkpointing": checkpointing})
    weighting = get_weighting(strategy, len(TASKS), params).to(device)
    return setup_run(model.to(device), weighting, reduced, labels, train_idx, train_p, device, seed)


def _warn_degenerate(labelled: list[str], strategy: str, has_val: bool) -> None:
    """Log when every strategy coincides (< 2 labelled tasks) or there is no validation."""
    if len(labelled) < 2:
        log.warning(
            "only %d labelled task(s) in the training rows (%s): every weighting strategy "
            "reduces to one scaled loss, so %s coincides with fixed weighting",
            len(labelled),
            ", ".join(labelled) or "none",
            strategy,
        )
    if not has_val:
        log.warning("no validation rows: early stopping and the best epoch use the training loss")


def _write_metrics(
    run: Run, out_dir: Path, head: dict, val_idx: np.ndarray, test_idx: np.ndarray
) -> None:
    """``metrics.json``: ``head`` plus masked MSE (mean and per task) on val and test."""
    metrics = dict(head)
    for name, rows in (("val", val_idx), ("test", test_idx)):
        loss, per_task = evaluate_rows(run, rows)
        metrics[f"{name}_mse"] = _nan_to_none(loss)
        metrics[f"{name}_mse_per_task"] = {t: _nan_to_none(v) for t, v in zip(TASKS, per_task)}
    write_json(out_dir / "metrics.json", metrics)


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)
