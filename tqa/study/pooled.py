"""What a pooled regressor reads: per-video features pooled over time, routed per task.

:func:`pooled_features`: the NaN-mean and NaN-std over time of every column of every
modality stream, plus the lip-sync triple (kept for the current FeatureSet: k-fold runs
pool once). :func:`task_streams` / :func:`task_inputs`: the streams a task's regressor
reads: every stream but those ``eval.baselines.exclude_streams`` names for that regressor
(params.yaml: the raw landmark coordinates for ridge and the forests), and with
``eval.baselines.routed`` a task that ``model.task_modalities`` routes reads the pooled
columns of its modalities only, as the Transformer's head for it does.
:func:`detector_inputs`: the same inputs cut down to the columns of the defect detectors
(``eval.baselines.detector_columns``). Read by the baselines (:mod:`tqa.study.baselines`)
and the stacked model's pooled components.
"""

from __future__ import annotations

import re
import warnings
import weakref
from collections.abc import Sequence

import numpy as np

from tqa.core.schema import SYNC_FIELDS, TASKS, FeatureSet


def pooled_features(
    fs: FeatureSet, modalities: Sequence[str] | None = None, use_sync: bool = True
) -> tuple[np.ndarray, list[str]]:
    """(N, F) per-video features: NaN-mean and NaN-std over time of every column, + sync.

    ``modalities``: the streams pooled (None: all; empty: none, the sync triple alone).
    F = sum over modalities of 2 * D_m (+ 3 for the sync triple). Columns whose frames
    are all NaN for a video stay NaN (the imputer fills them). The last result is kept
    for the same (unchanged) FeatureSet object: k-fold runs pool once, not once per
    baseline and fold (seconds each on landmark features).
    """
    key = (tuple(fs.modalities if modalities is None else modalities), bool(use_sync))
    hit = _POOLED.get((id(fs), key))
    if hit is not None and hit[0]() is fs:
        return hit[1].copy(), list(hit[2])
    x, names = _pooled(fs, modalities, use_sync)
    if any(k[0] != id(fs) for k in _POOLED):
        _POOLED.clear()  # entries of one FeatureSet only: the current study's
    _POOLED[(id(fs), key)] = (weakref.ref(fs), x, names)
    return x.copy(), list(names)


#: A column's std over time at or below this fraction of its |mean| is read as 0: two of the
#: feature cache's rounding steps (``features.quantize_bits: 14``, relative 2^-14). Why (issue
#: 23): a value that is constant within a clip (e.g. ``audio__clipping_crest_db``, one number
#: repeated on every frame) has std exactly 0, until one frame's value lands one rounding step
#: away (another CPU's last bits, or ``TQA_FEATURE_NOISE``): its std turns tiny but not zero
#: for a few videos, standardisation makes them outliers of many sd, and ridge weighed them:
#: under a relative 1e-7 feature noise its Pearson fell from 0.763 to 0.673 (overall) on the
#: sample corpus while the inputs it reads moved by under 0.0005 sd. Any genuine spread is
#: far above this floor.
ROUNDING_SPREAD: float = 2.0**-13

#: (id(FeatureSet), key) -> (weak reference, pooled array, names): see :func:`pooled_features`.
_POOLED: dict[tuple[int, tuple], tuple] = {}


def excluded_streams(params: dict, regressor: str | None) -> tuple[str, ...]:
    """The streams pooled regressor ``regressor`` does not read:
    ``eval.baselines.exclude_streams[regressor]`` (a mapping; absent: none, as before the key
    existed, so a bundle saved then still reads the columns it was fitted on). ``regressor``
    None: none excluded.

    Why params.yaml leaves the raw landmark coordinates out of ridge, random forest and extra
    trees: their 1404 columns (x, y of 478 mesh points; mean and std over time: 2808 of
    ~3200 pooled columns) mostly say whose face it is, and a model that weighs every column
    (ridge) or tries sqrt(F) random columns per split (the forests) drowns in them; what they
    say about a defect reaches those regressors through the ``au`` stream, computed from the
    same landmarks. Gradient boosting, which picks its split columns greedily, keeps them:
    they carry its cross_modal signal. On the sample corpus (grouped 5-fold, seed 0,
    Pearson; the folds the study reports, so the corpus both chose and measured this),
    without them: ridge lip_sync 0.60 -> 0.71, overall 0.70 -> 0.77; random forest overall
    0.54 -> 0.65; extra trees lip_sync 0.57 -> 0.72; gradient boosting cross_modal
    0.64 -> 0.53 (kept). The Transformer reads the landmark stream through its PCA.
    """
    if regressor is None:
        return ()
    table = (params.get("eval", {}).get("baselines") or {}).get("exclude_streams") or {}
    if not isinstance(table, dict):
        raise ValueError("eval.baselines.exclude_streams must map a regressor name to the "
                         f"streams it does not read, got {table!r}")  # fmt: skip
    return tuple(table.get(regressor) or ())


def task_streams(
    params: dict, fs: FeatureSet, regressor: str | None = None
) -> list[tuple[str, ...] | None]:
    """The streams of ``fs`` that pooled regressor ``regressor`` reads for each task, in
    TASKS order: a routed task's modalities (:func:`task_routes`), else every stream, less
    those :func:`excluded_streams` names; None where that leaves none (the regressor then
    reads the sync triple alone)."""
    routes = task_routes(params, fs)
    ex = set(excluded_streams(params, regressor))
    kept = tuple(m for m in fs.modalities if m not in ex)
    out: list[tuple[str, ...] | None] = []
    for k in range(len(TASKS)):
        mods = tuple(m for m in routes[k] if m not in ex) if k in routes else kept
        out.append(mods or None)
    return out


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


def task_inputs(fs: FeatureSet, params: dict, regressor: str | None = None) -> list[np.ndarray]:
    """(N, F_k) pooled input of each task k in TASKS order for pooled regressor
    ``regressor`` (:func:`task_streams`; None: every stream)."""
    return [x for x, _ in _named_task_inputs(fs, params, regressor)]


def _named_task_inputs(
    fs: FeatureSet, params: dict, regressor: str | None = None
) -> list[tuple[np.ndarray, list[str]]]:
    routes = task_routes(params, fs)
    out = []
    for k, mods in enumerate(task_streams(params, fs, regressor)):
        if k in routes and mods is None:  # a routed task whose streams are all excluded
            raise ValueError(f"{TASKS[k]}: every stream it is routed to ({list(routes[k])}) "
                             "is in eval.baselines.exclude_streams")  # fmt: skip
        out.append(pooled_features(fs, mods or (), use_sync=k not in routes))
    return out


#: Defaults of ``eval.baselines.detector_columns`` (params.yaml holds the real ones): the
#: pooled columns of the measures built to see one defect each (A/V sync, audio-explained
#: mouth motion, head pose and expression dynamics, frame cadence, clipping, DNSMOS, BRISQUE,
#: sharpness, blockiness, frame luma and difference, spectral roll-off / flatness /
#: centroid / RMS): the declared features of :mod:`tqa.study.defects.families` and their kin.
DETECTOR_COLUMNS: tuple[str, ...] = (
    r"^sync__", r"^au__", r"^visual__cadence_", r"^audio__clipping_", r"^audio__dnsmos",
    r"^visual__brisque", r"^visual__face__(sharpness|blockiness|tdiff)__",
    r"^visual__full__(luma_mean|tdiff|blockiness)__",
    r"^audio__(rolloff_hz|flatness|centroid_hz|rms)__",
)  # fmt: skip


def detector_names(names: Sequence[str], patterns: Sequence[str]) -> list[int]:
    """Indices of ``names`` that match any regex of ``patterns`` (``re.search``), in order."""
    rx = [re.compile(p) for p in patterns]
    return [i for i, n in enumerate(names) if any(r.search(n) for r in rx)]


def detector_inputs(fs: FeatureSet, params: dict) -> list[np.ndarray | None]:
    """(N, F_k) per task k: the columns of :func:`task_inputs` named by
    ``eval.baselines.detector_columns``, then the absolute value of each of them whose name
    says ``offset`` (an A/V offset is as bad early as late); None for a task whose input has
    none of them (a feature table of other columns: that task gets no detector prediction).

    Why: among ~3000 pooled columns a tree ensemble that tries sqrt(F) columns per split
    rarely meets the one column that measures a defect (issue 26: on the sample corpus,
    extra trees on all pooled columns predicted the injected offset with r 0.29, on the
    detector columns 0.67; grouped 5-fold).
    """
    pats = (params.get("eval", {}).get("baselines") or {}).get("detector_columns")
    pats = list(DETECTOR_COLUMNS if pats is None else pats)
    out: list[np.ndarray | None] = []
    for x, names in _named_task_inputs(fs, params):
        cols = detector_names(names, pats)
        offsets = [i for i in cols if "offset" in names[i]]
        out.append(np.concatenate([x[:, cols], np.abs(x[:, offsets])], axis=1) if cols else None)
    return out


def _pooled(
    fs: FeatureSet, modalities: Sequence[str] | None, use_sync: bool
) -> tuple[np.ndarray, list[str]]:
    blocks, names = [], []
    for m in fs.modalities if modalities is None else modalities:
        arr = fs.streams[m].astype(np.float64)
        cols = fs.names.get(m) or [f"{m}_{i}" for i in range(arr.shape[2])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
            mean, std = np.nanmean(arr, axis=1), np.nanstd(arr, axis=1)
        # a spread over time below the cache's rounding is no spread (module constant)
        std[std <= ROUNDING_SPREAD * np.abs(mean)] = 0.0
        blocks += [mean, std]
        names += [f"{c}__mean" for c in cols] + [f"{c}__std" for c in cols]
    if use_sync:
        blocks.append(fs.sync.astype(np.float64))
        names += [f"sync__{f}" for f in SYNC_FIELDS]
    return np.concatenate(blocks, axis=1), names
