"""A tiny trained model for the tests that need one (a bundle, scored videos or tables, a
feature table that trains): the params of a one-layer d_model 16 model on CPU, and its fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tqa.core.params import load_params

#: params.yaml overrides of the tiny model: 1 epoch, batch 8, CPU fp32, no warm-up.
TINY_MODEL = {
    "train.epochs": 1,
    "train.batch_size": 8,
    "train.device": "cpu",
    "train.amp": False,
    "train.warmup_epochs": 0,
    "model.d_model": 16,
    "model.n_layers": 1,
    "model.n_heads": 2,
    "model.dim_feedforward": 32,
}


def tiny_params(overrides: dict | None = None) -> dict:
    """params.yaml with :data:`TINY_MODEL` and then ``overrides`` (dotted keys) applied."""
    return load_params(overrides={**TINY_MODEL, **(overrides or {})})


def fit_fixed(fs, labels: np.ndarray, split: np.ndarray, params: dict, out_dir: Path):
    """``tqa.model.training.fit`` with the fixed strategy, seed 0, into ``out_dir``, no progress
    bar (the test skips where training is not installed)."""
    train = pytest.importorskip("tqa.model.training")
    return train.fit(
        fs, labels, split, params, strategy="fixed", seed=0, out_dir=out_dir, progress=False
    )
