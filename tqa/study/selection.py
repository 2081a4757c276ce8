"""Nested model selection: the chapter's model given its best honest chance (issue item 5).

For every outer (seed, fold) of the grouped k-fold (:mod:`tqa.study.crossval`), each
configuration of the small grid ``eval.selection.grid`` (at most a handful: d_model,
n_layers, dropout, PCA on/off, path A/B, lr) is fitted on the inner training part with early
stopping on the inner validation part (whole groups carved from the training folds by
:func:`tqa.study.crossval.fold_split`). The configuration with the lowest inner-validation
criterion (:func:`validation_criterion`) is chosen and its fit kept (not refitted: it was
already trained on exactly the data a refit would see, with the same early stopping); it
predicts the test fold -> method ``tqa:selected``. The test fold is never read: neither the
fits nor the choice look at its labels.

Every grid fit goes to the shared resumable run cache, so the grid configurations are also
reported as methods of their own (``tqa:<strategy>/<key=value,...>``) beside the selected
one, the chapter's fixed configuration (``tqa:<strategy>``) and the baselines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from tqa.core.schema import MISSING, FeatureSet
from tqa.study.crossval import (
    MODEL_PREFIX,
    OOF_COLUMNS,
    fold_predictions,
    labelled_tasks,
    oof_frames,
)
from tqa.study.studies import ResultsStore, main_strategy

#: Method name of the nested-selection model in out-of-fold tables.
SELECTED = MODEL_PREFIX + "selected"
#: Most configurations a selection grid may hold (cost: one fit per config, fold and seed).
MAX_GRID = 6


def selection_section(params: dict) -> dict:
    """``eval.selection`` (grid: list of flat override dicts; criterion)."""
    return (params.get("eval") or {}).get("selection") or {}


def grid_methods(params: dict, strategy: str | None = None) -> list[str]:
    """Method names of ``eval.selection.grid``: ``{}`` -> ``tqa:<strategy>`` (the chapter's
    configuration), else ``tqa:<strategy>/key=value,...`` (parsed back by
    :func:`tqa.study.crossval.parse_method`). ValueError for more than :data:`MAX_GRID`."""
    strategy = strategy or main_strategy(params)
    grid = list(selection_section(params).get("grid") or [{}])
    if len(grid) > MAX_GRID:
        raise ValueError(f"eval.selection.grid has {len(grid)} configs; at most {MAX_GRID}")
    out = []
    for cfg in grid:
        if not isinstance(cfg, dict):
            raise ValueError(f"eval.selection.grid: {cfg!r} is not a mapping of overrides")
        body = ",".join(f"{k}={_yaml_scalar(v)}" for k, v in cfg.items())
        out.append(MODEL_PREFIX + strategy + (f"/{body}" if body else ""))
    if len(set(out)) != len(out):
        raise ValueError(f"eval.selection.grid has duplicate configurations: {out}")
    return out


def _yaml_scalar(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def validation_criterion(
    labels: np.ndarray,
    pred: np.ndarray,
    split: np.ndarray,
    near_zero_std: float = 0.1,
) -> float:
    """Mean over tasks of the inner-validation MSE divided by the training-label variance.

    labels / pred (N, 5), split (N,) train/val/test. Per task: MSE on the "val" rows with a
    present label, over the variance of the "train" labels (so a task counts by how much
    of its variance is left unexplained, 1.0 = the training mean; the scale of a task does
    not decide). Tasks whose training labels have std below ``near_zero_std`` (nothing to
    rank) or fewer than 2 validation labels are left out; NaN when none is left. Reads no
    "test" row. Lower is better.
    """
    labels = np.asarray(labels, dtype=float)
    pred = np.asarray(pred, dtype=float)
    split = np.asarray(split)
    ok = np.isfinite(labels) & (labels != MISSING)
    values = []
    for k in range(labels.shape[1]):
        tr = ok[:, k] & (split == "train")
        va = ok[:, k] & (split == "val") & np.isfinite(pred[:, k])
        if tr.sum() < 2 or va.sum() < 2:
            continue
        std = float(labels[tr, k].std(ddof=1))
        if not std >= near_zero_std:
            continue
        values.append(float(np.mean((pred[va, k] - labels[va, k]) ** 2)) / std**2)
    return float(np.mean(values)) if values else math.nan


def run_selection(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    store: ResultsStore,
    seeds: Sequence[int] | None = None,
    *,
    methods: Sequence[str] | None = None,
    k: int | None = None,
    group_column: str | None = "group",
    val_fraction: float | None = None,
    fit_fn: Callable | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(oof, choices)``: out-of-fold predictions of every grid method and of
    :data:`SELECTED` (columns :data:`tqa.study.crossval.OOF_COLUMNS`), and per (seed, fold,
    method) the inner-validation criterion with the chosen one marked.

    ``methods``: the grid (default :func:`grid_methods`); ties go to the first listed (the
    chapter's configuration when the grid starts with ``{}``). A fold where no configuration
    has a finite criterion (no validation part) keeps the first. Other arguments as
    :func:`tqa.study.crossval.run_cv`.
    """
    methods = list(methods or grid_methods(params))
    near = float((params.get("data") or {}).get("near_zero_std", 0.1))
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    tasks = labelled_tasks(labels)
    frames, choices = [], []
    for seed, fold, split, preds in fold_predictions(
        features, labels, meta, params, methods, seeds, store,
        k=k, group_column=group_column, val_fraction=val_fraction,
        fit_fn=fit_fn, progress=progress,
    ):  # fmt: skip
        crit = {m: validation_criterion(labels, preds[m], split, near) for m in methods}
        finite = [m for m in methods if np.isfinite(crit[m])]
        chosen = min(finite, key=lambda m: crit[m]) if finite else methods[0]
        for m in methods:
            choices.append(
                {
                    "seed": seed,
                    "fold": fold,
                    "method": m,
                    "criterion": crit[m],
                    "chosen": m == chosen,
                }
            )
        frames += oof_frames(
            ids, labels, tasks, seed, fold, split, [*preds.items(), (SELECTED, preds[chosen])]
        )
    oof = pd.concat(frames, ignore_index=True)[list(OOF_COLUMNS)]
    return oof, pd.DataFrame(choices)


def choice_summary(choices: pd.DataFrame) -> pd.DataFrame:
    """Per grid method: times chosen over (seed, fold) and mean inner-validation criterion."""
    g = choices.groupby("method", sort=False)
    return pd.DataFrame(
        {
            "chosen": g["chosen"].sum().astype(int),
            "of": g.size(),
            "mean_val_criterion": g["criterion"].mean(),
        }
    ).reset_index()
