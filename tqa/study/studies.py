"""Study runners of chapter 3.4: strategy comparison, ablations, configuration grid, baselines.

Each runner trains the model (``tqa.model.training.fit``) once per (configuration, seed) on the
same split, scores the test rows with :func:`tqa.study.metrics.evaluate_tasks` and returns a
tidy DataFrame: one row per (study, config, strategy, seed, task) with every metric.

Resumable: every finished run's predictions go atomically to the run cache
``<eval.results_dir>/runs/<key>.csv`` and its metric rows to ``<study>.csv``, keyed by a
hash of everything that determines the run (data ids + labels + split + a feature
content fingerprint, the params sections the model reads — of ``weighting`` only the
chosen strategy's own sub-section — the strategy, the seed). A second call — after an
interruption, or to add seeds — retrains only runs whose key is not cached; changing any
model/training param changes the key; identical runs asked for by two studies are
trained once; metrics are recomputed from cached predictions with the current params.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tqa.core.atomic import write_csv
from tqa.core.params import merged
from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.model.training import fit
from tqa.study.baselines import run_baselines
from tqa.study.metrics import evaluate_tasks
from tqa.study.run_cache import (  # noqa: F401  (re-exported: the studies' public names)
    ResultsStore,
    features_fingerprint,
    inputs_hash,
    prune_unused,
    record_fit,
    results_dir,
    reuse_dirs,
    run_key,
    strategy_section,
    use_results,
)

log = logging.getLogger(__name__)

#: Ablation name -> params overrides (deep-merged into a copy of params), chapter 3.4.2.
ABLATIONS: dict[str, dict[str, Any]] = {
    "no_visual": {"model": {"drop_modalities": ["visual"]}},
    "no_audio": {"model": {"drop_modalities": ["audio"]}},
    "no_landmarks": {"model": {"drop_modalities": ["landmarks"]}},
    "no_au": {"model": {"drop_modalities": ["au"]}},
    "no_sync": {"model": {"use_sync": False}},
    "path_a_only": {"model": {"path_b": False}},
    "path_b_only": {"model": {"path_a": False}},
    "no_pca": {"preprocess": {"pca": False}},
    "no_scaler": {"preprocess": {"scale": False}},
}

FitFn = Callable[..., Any]


def _default_fit() -> FitFn:
    return fit


def split_metrics(
    labels: np.ndarray,
    pred: np.ndarray,
    split: np.ndarray,
    params: dict,
    which: Sequence[str] = ("test",),
) -> pd.DataFrame:
    """Task x metric table on the rows of ``split`` in ``which`` (no bootstrap)."""
    rows = np.isin(np.asarray(split, dtype=object), list(which))
    return evaluate_tasks(labels[rows], pred[rows], params.get("eval", {}))


def _metric_rows(table: pd.DataFrame, **ids: Any) -> pd.DataFrame:
    df = table.reset_index()
    for i, (k, v) in enumerate(ids.items()):
        df.insert(i, k, v)
    return df


def _train_and_store(
    name: str,
    record: dict,
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    p: dict,
    store: ResultsStore,
    fit_fn: FitFn | None,
    key: str,
) -> tuple[np.ndarray, dict]:
    """Fit run ``name`` (``study/config``) with the strategy and seed of ``record``, predict
    every video (N, 5) and save both in the run cache under ``key``, ``record`` (strategy,
    seed, overrides) after the epochs in its info."""
    strategy, seed = record["strategy"], record["seed"]
    fit = fit_fn or _default_fit()
    t0 = time.perf_counter()
    result = fit(
        fs, labels, split, p, strategy=strategy, seed=int(seed), out_dir=None, progress=False
    )
    seconds = time.perf_counter() - t0
    pred = np.asarray(result.predict(fs), dtype=float)
    if pred.shape != labels.shape:
        raise ValueError(
            f"{name}/seed {seed}: predict returned {pred.shape}, expected {labels.shape}"
        )
    history = getattr(result, "history", None)
    # no timings: the run cache is a DVC output, identical for an identical fit
    info = {"epochs": int(len(history)) if history is not None else -1, **record}
    store.save_run(key, fs.video_ids, split, pred, info)
    log.info("%s/%s seed %d: %.1f s, %d epochs", name, strategy, seed, seconds, info["epochs"])
    return pred, info


def run_one(
    study: str,
    config: str,
    overrides: dict,
    strategy: str,
    seed: int,
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    store: ResultsStore,
    fit_fn: FitFn | None = None,
    ihash: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """Train + score one (config, seed) unless the run cache has it; ``(rows, pred, trained)``.

    A cached run is not retrained: its predictions are re-scored with the current
    ``eval`` params (so changing e.g. ``eval.class_bounds`` needs no training).
    """
    p = merged(params, overrides)
    key = run_key(p, ihash or inputs_hash(fs, labels, split), strategy, seed)
    cached = store.load_run(key, fs.video_ids)
    trained = cached is None
    if cached is None:
        record = {"strategy": strategy, "seed": int(seed), "overrides": overrides}
        pred, info = _train_and_store(
            f"{study}/{config}", record, fs, labels, split, p, store, fit_fn, key
        )
    else:
        pred, info = cached
    rows = _metric_rows(
        split_metrics(labels, pred, split, p),
        study=study,
        config=config,
        strategy=strategy,
        seed=int(seed),
    )
    rows["epochs"] = info.get("epochs", -1)
    rows["run_key"] = key
    store.append(rows)
    return rows, pred, trained


def run_study(
    study: str,
    configs: Sequence[tuple[str, dict, str]],
    seeds: Sequence[int],
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    *,
    out_dir: str | Path | None = None,
    fit_fn: FitFn | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run every (config, seed): ``configs`` = [(name, overrides, strategy)]; tidy rows for all."""
    store = ResultsStore(out_dir or results_dir(params), study, reuse_dirs(params))
    ihash = inputs_hash(fs, labels, split)
    jobs = [(c, s) for c in configs for s in seeds]
    frames, trained = [], 0
    for (name, overrides, strategy), seed in tqdm(jobs, desc=study, disable=not progress):
        rows, _, did = run_one(
            study, name, overrides, strategy, seed, fs, labels, split, params, store, fit_fn, ihash
        )
        frames.append(rows)
        trained += did
    log.info("%s: %d runs, %d trained, %d reused", study, len(jobs), trained, len(jobs) - trained)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --------------------------------------------------------------------------- studies
class StudyOptions(TypedDict, total=False):
    """Keyword options every study takes: its seeds (None: the study's default), the results
    folder (default ``eval.results_dir``), the model's fit, a progress bar."""

    seeds: Sequence[int] | None
    out_dir: str | Path | None
    fit_fn: FitFn | None
    progress: bool


def eval_section(params: dict) -> dict:
    return params.get("eval", {}) or {}


def main_strategy(params: dict) -> str:
    """``eval.main_strategy``, else the first of ``weighting.strategies``."""
    return eval_section(params).get("main_strategy") or params["weighting"]["strategies"][0]


def strategy_comparison(
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    *,
    strategies: Sequence[str] | None = None,
    **options: Unpack[StudyOptions],
) -> pd.DataFrame:
    """Each of ``weighting.strategies`` x ``train.seeds`` (chapter 3.2.4, 3.4.1)."""
    strategies = list(strategies or params["weighting"]["strategies"])
    seeds = options.pop("seeds", None)
    seeds = list(seeds if seeds is not None else params["train"]["seeds"])
    configs = [(s, {}, s) for s in strategies]
    return run_study("strategy", configs, seeds, fs, labels, split, params, **options)


def ablation_configs(params: dict, names: Sequence[str] | None = None) -> list[tuple[str, dict]]:
    """[("full", {}), (name, overrides), ...] for ``eval.ablations``; drop lists are merged."""
    names = list(names if names is not None else eval_section(params).get("ablations", []))
    unknown = [n for n in names if n not in ABLATIONS]
    if unknown:
        raise KeyError(f"unknown ablation(s) {unknown}; known: {sorted(ABLATIONS)}")
    base_drop = list(params.get("model", {}).get("drop_modalities") or [])
    out = [("full", {})]
    for n in names:
        ov = merged(ABLATIONS[n], {})
        drop = ov.get("model", {}).get("drop_modalities")
        if drop is not None:
            ov["model"]["drop_modalities"] = sorted(set(base_drop) | set(drop))
        out.append((n, ov))
    return out


def ablations(
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    *,
    names: Sequence[str] | None = None,
    **options: Unpack[StudyOptions],
) -> pd.DataFrame:
    """The full model and each ``eval.ablations`` variant, same strategy/seeds/split (3.4.2)."""
    configs = ablation_configs(params, names)
    return _main_strategy_study(
        "ablation", configs, "ablation_seeds", fs, labels, split, params, options
    )


def _main_strategy_study(
    study: str, named: list[tuple[str, dict]], seeds_key: str, fs: FeatureSet,
    labels: np.ndarray, split: np.ndarray, params: dict, options: StudyOptions,
) -> pd.DataFrame:  # fmt: skip
    """Each (config, overrides) of ``named`` with ``eval.main_strategy`` x the seeds of
    ``options`` (default ``eval.<seeds_key>``, else [0]): the ablation and grid studies."""
    seeds = options.pop("seeds", None)
    seeds = list(seeds if seeds is not None else eval_section(params).get(seeds_key, [0]))
    strategy = main_strategy(params)
    configs = [(n, ov, strategy) for n, ov in named]
    return run_study(study, configs, seeds, fs, labels, split, params, **options)


def grid_path(params: dict, key: str) -> str:
    if "." in key:
        return key
    for section in ("model", "preprocess", "train"):
        if key in (params.get(section) or {}):
            return f"{section}.{key}"
    raise KeyError(
        f"eval.config_grid key {key!r} is not in model/preprocess/train; use a dotted path"
    )


def nested(dotted: str, value: Any) -> dict:
    out: dict = {}
    node = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def grid_configs(params: dict) -> list[tuple[str, dict]]:
    """Configurations of the ``eval.config_grid`` product (invalid d_model/n_heads dropped),
    subsampled to ``eval.config_grid_max_runs`` evenly spaced entries (null: all)."""
    grid = eval_section(params).get("config_grid") or {}
    keys = list(grid)
    paths = [grid_path(params, k) for k in keys]
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        ov: dict = {}
        for path, v in zip(paths, values):
            ov = merged(ov, nested(path, v))
        model = merged(params.get("model", {}), ov.get("model", {}))
        if (
            model.get("d_model")
            and model.get("n_heads")
            and int(model["d_model"]) % int(model["n_heads"])
        ):
            continue
        name = ",".join(f"{k}={v}" for k, v in zip(keys, values))
        out.append((name, ov))
    cap = eval_section(params).get("config_grid_max_runs")
    if cap is not None and len(out) > int(cap):
        # evenly spaced over the product order: keeps both ends (smallest and largest
        # configuration) and varies every key; deterministic, no RNG
        keep = sorted(set(np.linspace(0, len(out) - 1, int(cap)).round().astype(int).tolist()))
        out = [out[i] for i in keep]
    return out


def config_grid(
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    **options: Unpack[StudyOptions],
) -> pd.DataFrame:
    """Configuration comparison over ``eval.config_grid`` (chapter 3.4.5)."""
    configs = grid_configs(params)
    return _main_strategy_study(
        "config", configs, "config_seeds", fs, labels, split, params, options
    )


def baseline_comparison(
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    *,
    names: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Test metrics of every baseline (cheap: recomputed each call); ``(rows, predictions)``."""
    preds = run_baselines(fs, labels, split, params, names=names)
    store = ResultsStore(out_dir or results_dir(params), "baselines", reuse_dirs(params))
    frames = []
    for name, pred in preds.items():
        df = pd.DataFrame(pred, columns=list(TASKS))
        df.insert(0, "split", split)
        df.insert(0, "video_id", list(fs.video_ids))
        write_csv(store.dir / "baselines" / f"{name}.csv", df)
        frames.append(
            _metric_rows(
                split_metrics(labels, pred, split, params),
                study="baselines",
                config=name,
                strategy="-",
                seed=int(params.get("seed", 0)),
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    write_csv(store.path, rows)
    return rows, preds


def main_model_predictions(
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    *,
    seed: int | None = None,
    out_dir: str | Path | None = None,
    fit_fn: FitFn | None = None,
) -> np.ndarray:
    """(N, 5) predictions of the main model (``eval.main_strategy``, first train seed).

    Recorded in the strategy study and the shared run cache: reuses the strategy
    comparison's run when present, else trains it (and the comparison then reuses it).
    """
    strategy = main_strategy(params)
    seed = int(params["train"]["seeds"][0] if seed is None else seed)
    store = ResultsStore(out_dir or results_dir(params), "strategy", reuse_dirs(params))
    _, pred, _ = run_one(
        "strategy", strategy, {}, strategy, seed, fs, labels, split, params, store, fit_fn
    )
    return pred


# --------------------------------------------------------------------------- summaries
def summarize(
    rows: pd.DataFrame, metrics: Sequence[str] | None = None, by: Sequence[str] = ("config",)
) -> pd.DataFrame:
    """Mean, std (ddof=1; NaN for one seed) and seed count per (by..., task, metric)."""
    metrics = list(metrics or ["pearson", "spearman", "rmse", "ccc"])
    long = rows.melt(id_vars=[*by, "task", "seed"], value_vars=metrics, var_name="metric")
    g = long.groupby([*by, "task", "metric"], sort=False)["value"]
    out = g.agg(mean="mean", std="std", n_seeds="count").reset_index()
    return out  # groups in first-appearance order: run order of configs, TASKS order


def mean_std_table(
    summary: pd.DataFrame, metric: str, by: str = "config", digits: int = 3
) -> pd.DataFrame:
    """Config x task table of "mean ± std" strings for one metric (config order kept)."""
    s = summary[summary["metric"] == metric].copy()
    s["cell"] = [_mean_std(m, sd, digits) for m, sd in zip(s["mean"], s["std"])]
    table = s.pivot(index=by, columns="task", values="cell")
    table = table.reindex(
        index=list(dict.fromkeys(s[by])), columns=[t for t in TASKS if t in table.columns]
    )
    return table.reset_index()


def _mean_std(mean: float, std: float, digits: int) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def label_summary(labels: np.ndarray, split: np.ndarray) -> pd.DataFrame:
    """Per task: present labels and std in each split (context for every table)."""
    rows = []
    for k, t in enumerate(TASKS):
        for s in ("train", "val", "test"):
            y = labels[np.asarray(split) == s, k]
            y = y[(y != MISSING) & np.isfinite(y)]
            rows.append(
                {
                    "task": t,
                    "split": s,
                    "n": int(y.size),
                    "std": float(y.std(ddof=1)) if y.size > 1 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def delta_vs_reference(
    summary: pd.DataFrame, metric: str, reference: str = "full", by: str = "config"
) -> pd.DataFrame:
    """Config x task table of mean(metric) - mean(metric of ``reference``) (ablation effect).

    For an error metric a positive delta means the variant is worse; for a correlation
    a negative delta means it is worse.
    """
    s = summary[summary["metric"] == metric].pivot(index=by, columns="task", values="mean")
    if reference not in s.index:
        raise KeyError(f"reference config {reference!r} not in summary (configs: {list(s.index)})")
    order = [c for c in dict.fromkeys(summary[by]) if c != reference]
    d = s.loc[order].sub(s.loc[reference], axis=1)
    return d[[t for t in TASKS if t in d.columns]].reset_index()


def model_vs_baselines(
    main_summary: pd.DataFrame,
    baseline_rows: pd.DataFrame,
    metric: str,
    main_config: str,
    main_name: str = "tqa",
    chapter: dict[str, float] | None = None,
    digits: int = 3,
) -> pd.DataFrame:
    """Task rows; columns: the main model (mean ± std over seeds), each baseline, and
    optionally the chapter's reported EmotionTalk value in a column that says so."""
    s = main_summary[
        (main_summary["config"] == main_config) & (main_summary["metric"] == metric)
    ].set_index("task")
    out = pd.DataFrame({"task": list(TASKS)})
    out[f"{main_name} ({main_config})"] = [
        _mean_std(s.at[t, "mean"], s.at[t, "std"], digits) if t in s.index else "n/a" for t in TASKS
    ]
    for name, g in baseline_rows.groupby("config", sort=False):
        v = g.set_index("task")[metric]
        out[name] = [
            f"{v[t]:.{digits}f}" if t in v.index and np.isfinite(v[t]) else "n/a" for t in TASKS
        ]
    if chapter is not None:
        out["reported in the chapter on EmotionTalk (not reproduced here)"] = [
            f"{chapter[t]:.3f}" if t in chapter else "" for t in TASKS
        ]
    return out
