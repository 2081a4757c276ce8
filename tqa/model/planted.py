"""Planted-signal toy data: random features whose labels depend on them in a known way.

For tests, notebook demos and benchmarks when no extracted features exist; not a model of
real data (chapter 3.2 is trained on extracted features).
"""

from __future__ import annotations

import numpy as np

from tqa.core.schema import MISSING, TASKS, FeatureSet


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
    streams = _random_streams(rng, n, dims, n_frames, nan_frames)
    sync = rng.normal(size=(n, 3)).astype(np.float32)
    sig = _planted_scores(streams, sync) if signal else np.zeros((n, len(TASKS)))
    labels = np.clip(3.0 + 0.8 * sig + 0.15 * rng.normal(size=sig.shape), 1.0, 5.0).astype(
        np.float32
    )
    miss = rng.random(labels.shape) < missing_rate
    miss[:, 0] = False
    labels[miss] = MISSING
    fs = FeatureSet(
        video_ids=[f"toy{i:04d}" for i in range(n)],
        streams=streams,
        sync=sync,
        names={m: [f"{m}_{j}" for j in range(d)] for m, d in dims.items()},
        meta={"source": "planted_signal_data (random, not real features)"},
    )
    return fs, labels, _random_split(rng, n)


def _random_streams(
    rng: np.random.Generator, n: int, dims: dict[str, int], n_frames: int, nan_frames: float
) -> dict[str, np.ndarray]:
    """Per modality (n, n_frames, D) float32: a per-video offset (the signal carrier) plus
    frame noise, feature scales differing by orders of magnitude, ``nan_frames`` NaN rows."""
    streams = {}
    for m, d in dims.items():
        base = rng.normal(size=(n, 1, d)) * 1.0  # per-video offset (the signal carrier)
        x = base + 0.5 * rng.normal(size=(n, n_frames, d))
        x = x * (10.0 ** rng.integers(-1, 3, size=d))  # scales differ by orders of magnitude
        bad = rng.random((n, n_frames)) < nan_frames
        x[bad] = np.nan
        streams[m] = x.astype(np.float32)
    return streams


def _planted_scores(streams: dict[str, np.ndarray], sync: np.ndarray) -> np.ndarray:
    """(n, 5) noise-free signal per task: linear in time-averaged, standardised features of
    different modalities (and the sync confidence for lip_sync)."""
    mods = list(streams)

    def z(m: str, j: int) -> np.ndarray:
        col = np.nanmean(streams[m][:, :, j], axis=1)
        return (col - col.mean()) / (col.std() + 1e-9)

    return np.stack(
        [
            0.6 * sync[:, 2] + 0.3 * z(mods[-1], 0),
            0.7 * z(mods[0], 0) - 0.3 * z(mods[-1 if len(mods) > 1 else 0], 1),
            0.8 * z(mods[1 % len(mods)], 0),
            0.5 * z(mods[1 % len(mods)], 1) + 0.5 * z(mods[2 % len(mods)], 0),
            0.4 * z(mods[0], 0) + 0.4 * z(mods[1 % len(mods)], 0) + 0.3 * z(mods[2 % len(mods)], 0),
        ],
        axis=1,
    )


def _random_split(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) of train / val / test, 70/15/15 (at least one val and one test row)."""
    split = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    n_val = n_test = max(1, int(round(0.15 * n)))
    split[order[:n_val]] = "val"
    split[order[n_val : n_val + n_test]] = "test"
    return split.astype(str)
