"""A trained fit: its record (:class:`FitResult`), inference (:func:`predict`) and its files
(the ``best.pt`` checkpoint, :func:`load_fit`) (chapter 3.2.4-3.2.5).

Apart from the training loop (:mod:`tqa.model.training`) so that scoring and bundling read a
fit without it. Files in a fit's folder: ``best.pt`` (best-epoch weights + config),
``preprocess.joblib``, ``history.csv`` (timing columns left out, so reruns write identical
bytes), ``metrics.json``.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tqa.core.atomic import write_bytes
from tqa.core.precision import rounded_frame
from tqa.core.schema import TASKS, FeatureSet
from tqa.model.preprocess import Preprocessor
from tqa.model.transformer import CrossModalTransformer, build_model


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


#: Columns of a fit's history that measure the machine, not the fit (left out of saved files).
TIMING_COLUMNS: tuple[str, ...] = ("seconds",)


def saved_history(history: pd.DataFrame) -> pd.DataFrame:
    """``history`` without timing columns, floats to :data:`tqa.core.precision.SIGNIFICANT`
    significant digits: what is written, so reruns (and other machines) give identical files."""
    return rounded_frame(history.drop(columns=[c for c in TIMING_COLUMNS if c in history.columns]))


def to_tensors(
    fs: FeatureSet, modalities: list[str], device: torch.device
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Float32 tensors on ``device``: streams {modality: (N, T, D)} and sync (N, 3)."""
    streams = {
        m: torch.as_tensor(np.ascontiguousarray(fs.streams[m]), dtype=torch.float32, device=device)
        for m in modalities
    }
    sync = torch.as_tensor(np.ascontiguousarray(fs.sync), dtype=torch.float32, device=device)
    return streams, sync


def save_checkpoint(path: Path, model: CrossModalTransformer, info: dict) -> None:
    """``best.pt``: the model's CPU state_dict plus ``info`` (config, best epoch), atomic."""
    buf = io.BytesIO()  # not the temporary file: its random name would enter the archive
    torch.save(
        {"model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **info},
        buf,
    )
    write_bytes(path, buf.getvalue())


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
    streams, sync = to_tensors(reduced, model.modalities, device)
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
