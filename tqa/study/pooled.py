"""What a pooled regressor reads: per-video features pooled over time, routed per task.

:func:`pooled_features`: the NaN-mean and NaN-std over time of every column of every
modality stream, plus the lip-sync triple (kept for the current FeatureSet: k-fold runs
pool once). :func:`task_routes` / :func:`task_inputs`: with ``eval.baselines.routed`` a
task that ``model.task_modalities`` routes reads the pooled columns of its modalities only,
as the Transformer's head for it does. Read by the baselines (:mod:`tqa.study.baselines`)
and the stacked model's pooled components.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence

import numpy as np

from tqa.core.schema import SYNC_FIELDS, TASKS, FeatureSet


def pooled_features(
    fs: FeatureSet, modalities: Sequence[str] | None = None, use_sync: bool = True
) -> tuple[np.ndarray, list[str]]:
    """(N, F) per-video features: NaN-mean and NaN-std over time of every column, + sync.

    F = sum over modalities of 2 * D_m (+ 3 for the sync triple). Columns whose frames
    are all NaN for a video stay NaN (the imputer fills them). The last result is kept
    for the same (unchanged) FeatureSet object: k-fold runs pool once, not once per
    baseline and fold (seconds each on landmark features).
    """
    key = (tuple(modalities or fs.modalities), bool(use_sync))
    hit = _POOLED.get((id(fs), key))
    if hit is not None and hit[0]() is fs:
        return hit[1].copy(), list(hit[2])
    x, names = _pooled(fs, modalities, use_sync)
    if any(k[0] != id(fs) for k in _POOLED):
        _POOLED.clear()  # entries of one FeatureSet only: the current study's
    _POOLED[(id(fs), key)] = (weakref.ref(fs), x, names)
    return x.copy(), list(names)


#: (id(FeatureSet), key) -> (weak reference, pooled array, names): see :func:`pooled_features`.
_POOLED: dict[tuple[int, tuple], tuple] = {}


def task_routes(params: dict, fs: FeatureSet) -> dict[int, tuple[str, ...]]:
    """Task index -> the modalities its pooled regressor reads, for the tasks that
    ``model.task_modalities`` routes (empty unless ``eval.baselines.routed``).

    Why: the Transformer reads ``audio_quality`` from the audio stream alone, so one audio
    scores the same under any video (issue 11's swap test); the stacked model's pooled
    components must do the same or the blend brings the video back in (issue 25). A routed
    task reads the pooled columns of its modalities present in ``fs`` and no sync triple.
    """
    if not (params.get("eval", {}).get("baselines") or {}).get("routed"):
        return {}  # eval.baselines.routed: off by default (tqa.study.baselines.baseline_params)
    routes = (params.get("model") or {}).get("task_modalities") or {}
    out = {}
    for task, mods in routes.items():
        present = tuple(m for m in (mods or []) if m in fs.modalities)
        if task in TASKS and present:
            out[TASKS.index(task)] = present
    return out


def task_inputs(fs: FeatureSet, params: dict) -> list[np.ndarray]:
    """(N, F_k) pooled input of each task k in TASKS order (:func:`task_routes`)."""
    routes = task_routes(params, fs)
    full = pooled_features(fs)[0] if len(routes) < len(TASKS) else None
    return [
        pooled_features(fs, routes[k], use_sync=False)[0] if k in routes else full
        for k in range(len(TASKS))
    ]


def _pooled(
    fs: FeatureSet, modalities: Sequence[str] | None, use_sync: bool
) -> tuple[np.ndarray, list[str]]:
    blocks, names = [], []
    for m in modalities or fs.modalities:
        arr = fs.streams[m].astype(np.float64)
        cols = fs.names.get(m) or [f"{m}_{i}" for i in range(arr.shape[2])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
            blocks += [np.nanmean(arr, axis=1), np.nanstd(arr, axis=1)]
        names += [f"{c}__mean" for c in cols] + [f"{c}__std" for c in cols]
    if use_sync:
        blocks.append(fs.sync.astype(np.float64))
        names += [f"sync__{f}" for f in SYNC_FIELDS]
    return np.concatenate(blocks, axis=1), names
