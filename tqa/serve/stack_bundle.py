"""The stacked default model inside a scoring bundle (``stack.joblib`` beside ``model.pt``).

``tqa bundle`` with ``score.bundle_model: stack`` (the default) packages tqa's default model
(:mod:`tqa.study.stacking`): the bundled Transformer fit, the pooled-feature regressors of
``eval.stack.components`` fitted on the same training rows, and one blend per task whose
weights come from inner grouped folds of those training rows (the Transformer is refitted
on each inner training part; the test rows of the split are never read). ``score.bundle_model:
chapter`` packages the Transformer alone, as the chapter trains it.

``stack.joblib`` holds ``{"components": [...], "blends": [Blend dict or None per task],
"models": {component: {task: fitted sklearn Pipeline}}}``; bundle.json records the model
name, the weights and, when the k-fold study has run, its cross-validated scores.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from tqa.core.atomic import atomic_path
from tqa.core.params import resolve
from tqa.core.schema import TASKS, FeatureSet
from tqa.data.labels import load_dataset
from tqa.model.training import fit as fit_model
from tqa.study import stacking
from tqa.study.baseline_runs import in_fit_threads
from tqa.study.baselines import (
    POOLED_REGRESSORS,
    baseline_params,
    fit_pooled_models,
    predict_pooled_models,
    score_bounds,
)
from tqa.study.blend import Blend
from tqa.study.crossval import cv_params
from tqa.study.inputs import load_training_data
from tqa.study.parallel_fits import worker_count
from tqa.study.pooled import excluded_streams

log = logging.getLogger(__name__)

#: File of the stack inside a bundle directory.
STACK_FILE = "stack.joblib"
#: ``score.bundle_model`` values: the stacked default model, or the chapter's Transformer alone.
BUNDLE_MODELS: tuple[str, ...] = ("stack", "chapter")
#: The k-fold study's comparison table the bundle quotes its cross-validated scores from.
CV_TABLE = "reports/06_strategy_comparison/data/model_vs_baselines_comparison.csv"


def fit_stack(fit: Any, strategy: str, seed: int, params: dict) -> tuple[dict, dict]:
    """``(stack, manifest_extra)`` for a bundle of ``fit`` (a loaded Transformer fit).

    Reads the training data of ``params`` (features, labels, ``split.out``); the blend is
    fitted on the non-test rows as in :func:`tqa.study.stacking.stacked_predictions`.
    """
    fs, labels, split = load_training_data(params)
    labels = np.asarray(labels, dtype=float)
    sp = stacking.stack_params(params, fs)
    components = list(sp["components"])
    pooled = [c for c in components if c != stacking.TRANSFORMER]
    unknown = [c for c in pooled if c not in POOLED_REGRESSORS]
    if unknown:
        raise ValueError(
            f"eval.stack.components {unknown} cannot be kept in a bundle; "
            f"use {[stacking.TRANSFORMER, *POOLED_REGRESSORS]}"
        )
    groups = _groups(params, fs)
    inner = list(
        stacking.inner_splits(fs.video_ids, groups, split, int(sp["inner_folds"]),
                              float(cv_params(params)["val_fraction"]), seed)
    )  # fmt: skip

    def model_fn(s: np.ndarray, label: str) -> np.ndarray:
        if label == "outer":
            result = fit
        else:
            result = fit_model(fs, labels, s, params, strategy=strategy, seed=seed,
                               out_dir=None, progress=False)  # fmt: skip
        return np.asarray(result.predict(fs), dtype=float)

    pp = stacking.component_params(params)  # routed tasks read their routed streams only
    splits = [np.asarray(split), *inner]
    fitted = _fit_pooled(pooled, fs, labels, splits, pp, seed, worker_count(params))

    def pooled_fn(names, s: np.ndarray) -> dict[str, np.ndarray]:
        i = next(i for i, x in enumerate(splits) if np.array_equal(x, s))
        return {n: predict_pooled_models(fitted[i][n], fs, pp, n) for n in names}

    _, blends = stacking.stacked_predictions(labels, split, inner, components, model_fn,
                                             pooled_fn, str(sp["blend"]),
                                             bags=int(sp["bags"]))  # fmt: skip
    models = fitted[0]  # the outer split's fits: the ones the blend's outer predictions used
    stack = {"components": components, "blends": [_as_dict(b) for b in blends],
             "models": models, "params": scoring_params(pp)}  # fmt: skip
    extra = {
        "model": stacking.STACK,
        "stack": {
            "components": components,
            "inner_folds": int(sp["inner_folds"]),
            "routed": bool(sp["routed"]),  # the tasks routed: stack["params"]
            "blends": dict(zip(TASKS, stack["blends"], strict=True)),
        },
    }
    return stack, extra


def _fit_pooled(
    names: list[str],
    fs: FeatureSet,
    labels: np.ndarray,
    splits: list[np.ndarray],
    params: dict,
    seed: int,
    workers: int,
) -> list[dict[str, dict]]:
    """Per split of ``splits``: component name -> :func:`fit_pooled_models`, ``workers``
    threads at a time (the tree and boosting fits release the GIL); each fit is seeded and
    runs on one BLAS thread, so the models are those of a serial loop."""
    jobs = [(i, n) for i in range(len(splits)) for n in names]
    calls = [partial(fit_pooled_models, n, fs, labels, splits[i], params, seed) for i, n in jobs]
    models = in_fit_threads(fs, [(names, params)], calls, workers)
    out: list[dict[str, dict]] = [{} for _ in splits]
    for (i, n), m in zip(jobs, models, strict=True):
        out[i][n] = m
    return out


def write_stack(bundle_dir: str | Path, stack: dict) -> Path:
    """``stack.joblib`` into ``bundle_dir`` (atomic)."""
    path = Path(bundle_dir) / STACK_FILE
    with atomic_path(path, suffix=".joblib") as tmp:
        joblib.dump(stack, tmp)
    return path


def load_stack(bundle_dir: str | Path) -> dict | None:
    """The bundle's stack, or None for a bundle of the Transformer alone."""
    path = Path(bundle_dir) / STACK_FILE
    return joblib.load(path) if path.exists() else None


def scoring_params(params: dict) -> dict:
    """What the kept regressors need at scoring time, kept in ``stack.joblib``: the task
    routes and whether they apply (:func:`tqa.study.pooled.task_routes`), the streams each
    does not read (:func:`tqa.study.pooled.excluded_streams`), the detector columns
    (:func:`tqa.study.pooled.detector_inputs`) and the score range the predictions are
    clipped to: the columns they read at scoring are those they were fitted on."""
    data = params.get("data") or {}
    bp = baseline_params(params)
    excluded = {n: list(excluded_streams(params, n)) for n in POOLED_REGRESSORS}
    baselines = {"routed": bool(bp["routed"]), "exclude_streams": excluded}
    if bp.get("detector_columns") is not None:
        baselines["detector_columns"] = list(bp["detector_columns"])
    return {
        "model": {"task_modalities": dict((params.get("model") or {}).get("task_modalities")
                                          or {})},
        "eval": {"baselines": baselines},
        "data": {k: data[k] for k in ("score_min", "score_max") if k in data},
    }  # fmt: skip


def predict_stack(
    stack: dict, fs: FeatureSet, transformer_pred: np.ndarray, params: dict | None = None
) -> np.ndarray:
    """(N, 5) blend of the Transformer's ``transformer_pred`` and the kept pooled models,
    which read the features as when they were fitted (the stack's own ``params``,
    :func:`scoring_params`; a bundle from before routing has none: unrouted)."""
    comps = list(stack["components"])
    pp = stack.get("params") or params or {}
    preds = {n: predict_pooled_models(stack["models"][n], fs, pp, n) for n in comps
             if n != stacking.TRANSFORMER}  # fmt: skip
    preds[stacking.TRANSFORMER] = np.asarray(transformer_pred, dtype=float)
    p = np.stack([preds[c] for c in comps], axis=1)  # (N, C, 5)
    blends = [None if b is None else Blend(tuple(b["components"]), tuple(b["weights"]),
                                           float(b["intercept"]))
              for b in stack["blends"]]  # fmt: skip
    return stacking.apply_blends(blends, p, score_bounds(pp))


def cv_scores(table: str | Path | None = None, method: str = stacking.STACK) -> dict | None:
    """``{task: {metric: mean}}`` of ``method`` in the k-fold study's comparison table
    (None when the study has not run): what the bundle's model scored out of fold."""
    path = resolve(table or CV_TABLE)
    if not Path(path).exists():
        return None
    t = pd.read_csv(path)
    t = t[(t["method"] == method) & (t["note"].fillna("") == "")]
    if t.empty:
        return None
    out: dict = {}
    for r in t.itertuples(index=False):
        out.setdefault(str(r.task), {})[str(r.metric)] = round(float(r.mean), 4)
    return {"source": str(table or CV_TABLE), "method": method, "mean_over_folds": out}


def _groups(params: dict, fs: FeatureSet) -> list | None:
    col = (params.get("split") or {}).get("group_column") or cv_params(params)["group_column"]
    ds = load_dataset(resolve(params["data"]["root"]), params, check_files=False, progress=False)
    lab = ds.labels.set_index("video_id")
    if col not in lab.columns:
        log.warning("bundle stack: no %r column in the labels; inner folds by video", col)
        return None
    return lab.reindex(list(fs.video_ids))[col].astype(str).tolist()


def _as_dict(b: Blend | None) -> dict | None:
    return None if b is None else b.as_dict()
