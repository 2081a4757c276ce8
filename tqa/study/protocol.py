"""The study under ``split.protocol: kfold``: every comparison with a CI and a verdict.

One place for the study notebooks (06 strategies, 07 ablations, 08 error analysis, 09
configurations and model selection): each function runs its methods through the grouped
k-fold engine (:func:`tqa.study.crossval.run_cv`, k = ``cv.folds`` by ``cv.group_column``,
x ``eval.kfold.seeds``; early stopping and selection on a grouped validation part of the
training folds, never the test fold) and returns ``(oof, table)``: the out-of-fold
predictions and :func:`tqa.study.comparison.comparison_table` (per method and task: mean and
95 % t-interval over folds x seeds, delta vs the reference, paired Wilcoxon signed-rank
test over the same (seed, fold) test folds, a verdict in words; tasks with near-constant
labels listed apart with a note and never averaged in).

All fits share one resumable run cache (``<eval.results_dir>/runs``): the chapter
configuration fitted once per (seed, fold) serves the strategy comparison, the ablations'
"full" model, the selection grid and the model-vs-baselines table.

``split.protocol: holdout`` keeps the chapter's single 80/10/10 split
(:mod:`tqa.study.studies`); :func:`protocol` says which one is in force.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv, write_text
from tqa.core.params import resolve
from tqa.core.precision import FLOAT_FORMAT, rounded_frame
from tqa.core.schema import MISSING, TASKS, FeatureSet
from tqa.data.corpus.profiles import NEUTRAL
from tqa.study.baselines import DEFECT_PREFIX, ORACLE, baseline_params
from tqa.study.comparison import comparison_markdown, comparison_table
from tqa.study.crossval import MODEL_PREFIX, cv_params, run_cv
from tqa.study.degradations import load_degradations
from tqa.study.inputs import StudyInputs, load_labelled_features
from tqa.study.metrics import evaluate_tasks
from tqa.study.selection import SELECTED, grid_methods, run_selection
from tqa.study.stacking import STACK, blend_table
from tqa.study.studies import (
    ResultsStore,
    ablation_configs,
    main_strategy,
    results_dir,
    reuse_dirs,
)
from tqa.study.verdicts import verdicts_markdown  # noqa: F401 - notebook 06 reads it here

PROTOCOLS: tuple[str, ...] = ("kfold", "holdout")


def protocol(params: dict) -> str:
    """``split.protocol`` ("kfold" when absent); ValueError naming the key otherwise."""
    p = str((params.get("split") or {}).get("protocol") or "kfold")
    if p not in PROTOCOLS:
        raise ValueError(f"split.protocol must be one of {list(PROTOCOLS)}, got {p!r}")
    return p


def kfold_section(params: dict) -> dict:
    """``eval.kfold`` (seeds, ablations) with its documented fall-backs."""
    ev = params.get("eval") or {}
    kf = ev.get("kfold") or {}
    return {
        "seeds": list(kf.get("seeds") or cv_params(params)["seeds"] or params["train"]["seeds"]),
        "ablations": list(kf["ablations"] if kf.get("ablations") is not None else ev["ablations"]),
    }


def load_study_inputs(params: dict) -> tuple[FeatureSet, np.ndarray, pd.DataFrame]:
    """Features, labels (N, 5) and per-video metadata (group, generator) of ``data.root``."""
    return load_labelled_features(resolve(params["data"]["root"]), params)


def kfold_inputs(params: dict) -> StudyInputs:
    """:func:`load_study_inputs` as :class:`StudyInputs` with ``split`` "test" for every
    video: under kfold every video is scored out-of-fold, so the notebooks' test-row cells
    (agreement, residuals, confusion) read all of them."""
    fs, labels, meta = load_study_inputs(params)
    return StudyInputs(fs, labels, np.full(len(fs.video_ids), "test", dtype=object), meta)


def oof_rows(
    oof: pd.DataFrame,
    labels: np.ndarray,
    video_ids: Sequence[str],
    params: dict,
    study: str,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per (method, seed): every metric of :func:`tqa.study.metrics.evaluate_tasks` on the
    pooled out-of-fold predictions of all videos — the tidy rows of
    :func:`tqa.study.studies.run_study` (study, config, strategy, seed, task, metrics...),
    so the holdout summaries, tables and figures work unchanged under kfold. ``names``:
    method -> config name (default: the method without ``tqa:``)."""
    frames = []
    ev = params.get("eval") or {}
    for (method, seed), g in oof.groupby(["method", "seed"], sort=False):
        pred = np.full((len(video_ids), len(TASKS)), np.nan)
        w = g.pivot_table(index="video_id", columns="task", values="pred", dropna=False)
        w = w.reindex(index=list(video_ids), columns=list(TASKS))
        pred[:] = w.to_numpy(float)
        table = evaluate_tasks(np.asarray(labels, float), pred, ev).reset_index()
        config = (names or {}).get(method, method.removeprefix(MODEL_PREFIX))
        strategy = (
            method[len(MODEL_PREFIX) :].split("/")[0] if method.startswith(MODEL_PREFIX) else "-"
        )
        table.insert(0, "seed", int(seed))
        table.insert(0, "strategy", strategy)
        table.insert(0, "config", config)
        table.insert(0, "study", study)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def near_constant_tasks_of(labels: np.ndarray, params: dict) -> list[str]:
    """Tasks whose present labels have std (ddof 1) below ``data.near_zero_std``, or fewer
    than 2 labels: reported apart, never averaged in."""
    thr = float((params.get("data") or {}).get("near_zero_std", 0.1))
    labels = np.asarray(labels, dtype=float)
    out = []
    for k, t in enumerate(TASKS):
        y = labels[:, k]
        y = y[np.isfinite(y) & (y != MISSING)]
        if y.size < 2 or not float(y.std(ddof=1)) >= thr:
            out.append(t)
    return out


def study_store(params: dict) -> ResultsStore:
    """The k-fold study's run table; its run cache is the one every study shares."""
    return ResultsStore(results_dir(params), "kfold", reuse_dirs(params))


def _compare(oof: pd.DataFrame, params: dict, reference: str) -> pd.DataFrame:
    ev = params.get("eval") or {}
    return comparison_table(
        oof,
        list(ev.get("table_metrics") or ["pearson", "spearman", "rmse", "ccc"]),
        reference,
        ci=float(ev.get("ci", 0.95)),
        alpha=float(cv_params(params)["alpha"]),
        class_bounds=tuple(ev.get("class_bounds", (3.0, 4.0))),
        near_zero_std=float((params.get("data") or {}).get("near_zero_std", 0.1)),
        test=str(cv_params(params)["test"]),
        n_boot=int(cv_params(params)["bootstrap"]),
        boot_seed=int(params.get("seed", 0)),
    )


class KfoldOptions(TypedDict, total=False):
    """Keyword options of every comparison here: the run table and cache (default
    :func:`study_store`), the model's fit, a progress bar."""

    store: ResultsStore | None
    fit_fn: Callable | None
    progress: bool


def _cv(fs, labels, meta, params, methods, options: KfoldOptions, blends_out=None):
    cp = cv_params(params)
    return run_cv(
        fs, labels, meta, params, methods, kfold_section(params)["seeds"], _store(options, params),
        k=int(cp["folds"]), group_column=cp["group_column"], val_fraction=cp["val_fraction"],
        fit_fn=options.get("fit_fn"), progress=options.get("progress", True),
        blends_out=blends_out,
    )  # fmt: skip


def _store(options: KfoldOptions, params: dict) -> ResultsStore:
    """The options' run table, else the k-fold study's (:func:`study_store`)."""
    return options.get("store") or study_store(params)


def _versus(
    fs, labels, meta, params, ref: str, others: list[str], options: KfoldOptions
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(oof, table)`` of ``ref`` and ``others`` on the same folds, ``ref`` the reference."""
    oof = _cv(fs, labels, meta, params, [ref, *others], options)
    return oof, _compare(oof, params, ref)


def main_method(params: dict) -> str:
    """``tqa:<eval.main_strategy>``: the chapter's configuration with the main strategy."""
    return MODEL_PREFIX + main_strategy(params)


def default_method(params: dict) -> str:
    """tqa's default model (:data:`tqa.study.stacking.STACK`): the reference of the
    model-vs-baselines table, the README headline, ``tqa cv`` and the scoring bundle."""
    return STACK


def strategy_comparison(
    fs: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    **options: Unpack[KfoldOptions],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each of ``weighting.strategies`` vs the main one (chapter 3.2.4, 3.4.1)."""
    ref = main_method(params)
    others = [
        MODEL_PREFIX + s for s in params["weighting"]["strategies"] if MODEL_PREFIX + s != ref
    ]
    return _versus(fs, labels, meta, params, ref, others, options)


def ablations(
    fs: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    *,
    names: Sequence[str] | None = None,
    **options: Unpack[KfoldOptions],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The full model vs each ablation of ``eval.kfold.ablations`` (chapter 3.4.2): a
    "worse" verdict means the removed part helped; "better", that the model does better
    without it."""
    names = list(names if names is not None else kfold_section(params)["ablations"])
    ref = main_method(params)
    others = [f"{ref}/{n}" for n, _ in ablation_configs(params, names)[1:]]
    return _versus(fs, labels, meta, params, ref, others, options)


def model_selection(
    fs: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    **options: Unpack[KfoldOptions],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Configuration comparison (chapter 3.4.5) and nested selection (issue item 5):
    ``(oof, table, choices)``; every ``eval.selection.grid`` configuration and
    ``tqa:selected`` vs the chapter's configuration."""
    cp = cv_params(params)
    oof, choices = run_selection(
        fs, labels, meta, params, _store(options, params), kfold_section(params)["seeds"],
        methods=_grid_with_chapter(params), k=int(cp["folds"]), group_column=cp["group_column"],
        val_fraction=cp["val_fraction"], fit_fn=options.get("fit_fn"),
        progress=options.get("progress", True),
    )  # fmt: skip
    return oof, _compare(oof, params, main_method(params)), choices


def _grid_with_chapter(params: dict) -> list[str]:
    grid = grid_methods(params)
    ref = main_method(params)
    return grid if ref in grid else [ref, *grid]


def with_defects(meta: pd.DataFrame, params: dict) -> pd.DataFrame:
    """``meta`` plus ``defect__<column>`` per injected degradation of the sample corpus
    (``<data.root>/degradations.csv``, every column of the corpus's neutral defect set),
    row-aligned by ``video_id``; ``meta`` unchanged when the file is absent (real data)."""
    deg = load_degradations(params["data"]["root"])
    if deg is None or "video_id" not in meta.columns:
        return meta
    cols = [c for c in NEUTRAL if c in deg.columns]
    ids = meta["video_id"].astype(str)
    if not cols or not ids.isin(deg["video_id"].astype(str)).all():
        return meta  # another data set's file, or not every video's truth: no oracle
    d = deg.set_index("video_id")[cols].reindex(ids)
    d.columns = [f"{DEFECT_PREFIX}{c}" for c in cols]
    return pd.concat([meta.reset_index(drop=True), d.reset_index(drop=True)], axis=1)


def oracle_methods(meta: pd.DataFrame) -> list[str]:
    """[ORACLE] when ``meta`` carries injected defect levels (:func:`with_defects`)."""
    return [ORACLE] if any(str(c).startswith(DEFECT_PREFIX) for c in meta.columns) else []


def baseline_names(params: dict, meta: pd.DataFrame) -> list[str]:
    """``eval.baselines.names`` plus ``generator_mean`` when the labels have a generator."""
    names = list(baseline_params(params)["names"])
    if "generator" in meta.columns and "generator_mean" not in names:
        names.append("generator_mean")
    return names


def model_vs_baselines(
    fs: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    *,
    selection_oof: pd.DataFrame | None = None,
    **options: Unpack[KfoldOptions],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """tqa's default model (the stack), the chapter's configuration, ``tqa:selected`` (from
    ``selection_oof``, else run here) and every baseline on the same folds; reference: the
    default model, so a baseline's "better" verdict is a place where tqa loses. The
    stack's blend weights per (seed, fold, task) are in ``oof.attrs["blends"]``
    (:func:`tqa.study.stacking.blend_table`)."""
    ref = default_method(params)
    options = {**options, "store": _store(options, params)}  # one run table for both runs
    blends: dict = {}
    meta = with_defects(meta, params)
    methods = [ref, main_method(params), *baseline_names(params, meta), *oracle_methods(meta)]
    oof = _cv(fs, labels, meta, params, methods, options, blends)
    if selection_oof is None:
        selection_oof, _, _ = model_selection(fs, labels, meta, params, **options)
    sel = selection_oof[selection_oof["method"] == SELECTED]
    oof = pd.concat([oof, sel], ignore_index=True)
    oof.attrs["blends"] = blend_table(blends)
    return oof, _compare(oof, params, ref)


def main_oof(
    fs: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    **options: Unpack[KfoldOptions],
) -> pd.DataFrame:
    """Out-of-fold predictions of the chapter's configuration (reused from the run cache
    of the other studies): what error analysis and agreement read under kfold."""
    return _cv(fs, labels, meta, params, [main_method(params)], options)


# --------------------------------------------------------------------------- outputs
def oof_mean_predictions(oof: pd.DataFrame, method: str, video_ids: Sequence[str]) -> np.ndarray:
    """(N, 5) out-of-fold prediction of ``method`` per video, mean over seeds (TASKS order;
    NaN where no prediction): what error analysis and agreement read under kfold."""
    g = oof[oof["method"] == method].groupby(["video_id", "task"])["pred"].mean().unstack()
    g = g.reindex(index=list(video_ids), columns=list(TASKS))
    return g.to_numpy(float)


def write_comparison(
    table: pd.DataFrame,
    stem: str,
    title: str,
    reference: str,
    out_dir: str | None = None,
    data_dir: str | None = None,
) -> None:
    """``<out_dir>/<stem>_comparison.md`` and ``<data_dir>/<stem>_comparison.csv`` (atomic;
    default reports/tables; ``data_dir`` None: beside the Markdown)."""
    out = resolve(out_dir or "reports/tables")
    data = resolve(data_dir) if data_dir else out
    write_csv(data / f"{stem}_comparison.csv", rounded_frame(table), float_format=FLOAT_FORMAT)
    head = (
        f"# {title}\n\nGrouped k-fold x seeds; each row: mean [95 % t-interval] over the "
        f"(seed, fold) test folds; delta, p and verdict of the row's method vs **{reference}** "
        "(test named under each table). Tasks with "
        "near-constant labels are listed last with a note and are not comparable.\n\n"
    )
    write_text(out / f"{stem}_comparison.md", head + comparison_markdown(table))
