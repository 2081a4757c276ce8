"""Can a model fit its training set at all, and when does early stopping stop it?

One of the diagnosis's three questions (:mod:`tqa.study.diagnosis`): per outer (seed, fold)
of the grouped k-fold, the Transformer's train / validation loss per epoch, its best epoch,
and its scores on its own training rows, its validation rows and the test fold
(:func:`fit_diagnostics`; the same numbers for pooled-feature baselines, and the fit-seed
spread); :func:`fit_gap` sums them up, :func:`plot_loss_curves` draws the losses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from tqa.core.logs import capture_warnings, replay  # noqa: E402
from tqa.core.params import merged  # noqa: E402
from tqa.core.schema import FeatureSet  # noqa: E402
from tqa.model.training import fit as _train_fit  # noqa: E402
from tqa.study.baselines import FIT_PARTS, run_baselines  # noqa: E402
from tqa.study.crossval import (  # noqa: E402
    MODEL_PREFIX,
    cv_params,
    labelled_tasks,
    parse_method,
    present_labels,
)
from tqa.study.diagnosis import fold_groups, score_rows  # noqa: E402
from tqa.study.folds import fold_split, kfold_assignments  # noqa: E402
from tqa.study.parallel_fits import worker_count  # noqa: E402
from tqa.study.studies import main_strategy  # noqa: E402


@dataclass
class FitDiagnostics:
    """What :func:`fit_diagnostics` found.

    fits: per (seed, fold, fit_seed) of the model: best_epoch, n_epochs, max_epochs, n_train,
    n_val, train_label_var (variance of the training labels: the MSE of predicting their
    mean). histories: per epoch of each fit: train_loss, val_loss, lr. scores: per (method,
    seed, fold, fit_seed, part in train / val / test, task): spearman, pearson, rmse, n;
    method ``<model> seed-ensemble`` is the mean prediction over the fit seeds.
    """

    fits: pd.DataFrame
    histories: pd.DataFrame
    scores: pd.DataFrame


def _one_fit(fit_fn, features, labels, split, params, strategy, seed):
    with capture_warnings() as warned:  # logged once by the caller (worker processes)
        res = fit_fn(features, labels, split, params, strategy=strategy, seed=int(seed),
                     out_dir=None, progress=False)  # fmt: skip
    h = getattr(res, "history", None)
    h = pd.DataFrame(h) if h is not None else pd.DataFrame()
    best = getattr(res, "best_epoch", None)
    if best is None and "val_loss" in h.columns and h["val_loss"].notna().any():
        best = int(h.loc[h["val_loss"].idxmin(), "epoch"])
    pred = np.asarray(res.predict(features), dtype=float)
    return pred, h, (-1 if best is None else int(best)), warned


def fit_diagnostics(
    features: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    method: str | None = None,
    seeds: Sequence[int] = (0,),
    fit_seeds: Sequence[int] | None = None,
    k: int = 5,
    group_column: str | None = "group",
    baselines: Sequence[str] = ("gradient_boosting",),
    *,
    val_fraction: float | None = None,
    fit_fn: Callable | None = None,
    progress: bool = True,
) -> FitDiagnostics:
    """Per outer (seed, fold): the model's loss curves and its fit of train / val / test rows.

    ``method``: a model method (default ``tqa:<eval.main_strategy>``, the chapter's
    configuration); fitted with :func:`tqa.model.training.fit` (or ``fit_fn``) on
    :func:`fold_split`'s split, once per fit seed (``fit_seeds`` None: the fold seed, i.e.
    exactly the run of :func:`tqa.study.crossval.run_cv`). ``baselines``: scored on the same
    parts for contrast (a forest that fits its training rows perfectly still generalises).
    Fits run in ``runtime.train.parallel_fits`` processes when ``fit_fn`` is None.
    """
    method = method or MODEL_PREFIX + main_strategy(params)
    spec = parse_method(method, params)
    if spec is None:
        raise ValueError(f"fit_diagnostics needs a model method (tqa:...), got {method!r}")
    strategy, overrides = spec
    p = merged(params, overrides)
    labels = np.asarray(labels, dtype=float)
    ids = list(features.video_ids)
    groups = fold_groups(meta, group_column, len(ids))
    val_fraction = float(cv_params(params)["val_fraction"] if val_fraction is None
                         else val_fraction)  # fmt: skip
    tasks = labelled_tasks(labels)
    folds = _outer_splits(ids, groups, seeds, k, val_fraction)
    plans = [(seed, fold, int(fs_), split) for seed, fold, split in folds
             for fs_ in (fit_seeds if fit_seeds is not None else [seed])]  # fmt: skip
    n_jobs = worker_count(params) if fit_fn is None else 1
    results = _run_fits(plans, fit_fn or _train_fit, features, labels, p, strategy, n_jobs,
                        progress)  # fmt: skip
    fits, hist, scores = [], [], []
    max_epochs = int(p["train"]["epochs"])
    by_fold: dict[tuple[int, int], list[np.ndarray]] = {}
    seen: set = set()
    for (seed, fold, fseed, split), (pred, h, best, warned) in zip(plans, results, strict=True):
        replay([w for w in warned if w not in seen])
        seen.update(warned)
        fits.append(_fit_row(labels, tasks, split, seed, fold, fseed, h, best, max_epochs))
        if len(h):
            keep = [c for c in ("epoch", "train_loss", "val_loss", "lr") if c in h.columns]
            hist.append(h[keep].assign(seed=seed, fold=fold, fit_seed=fseed))
        scores += _part_scores(labels, tasks, method, pred, seed, fold, fseed, split)
        by_fold.setdefault((seed, fold), []).append(pred)
    scores += _contrast_scores(features, labels, meta, params, tasks, method, baselines, folds,
                               by_fold)  # fmt: skip
    return FitDiagnostics(pd.DataFrame(fits), _histories(hist), pd.DataFrame(scores))


def _contrast_scores(
    features, labels, meta, params, tasks, method, baselines, folds, by_fold
) -> list[dict]:
    """Score rows of the contrasts per outer fold: the mean of the fit seeds' predictions
    (``<method> seed-ensemble``, with several fit seeds) and each of ``baselines``."""
    scores = []
    for seed, fold, split in folds:
        preds = by_fold[(seed, fold)]
        if len(preds) > 1:
            scores += _part_scores(labels, tasks, f"{method} seed-ensemble",
                                   np.mean(preds, axis=0), seed, fold, -1, split)  # fmt: skip
        if baselines:
            bp = run_baselines(features, labels, split, merged(params, {"seed": seed}),
                               names=list(baselines), meta=meta)  # fmt: skip
            # the baselines fit the validation part too (FIT_PARTS): it is training data to
            # them, scored as such, so their "val" score is not read as a held-out one
            fitted = np.where(np.isin(split, FIT_PARTS), "train", split)
            for name, pred in bp.items():
                scores += _part_scores(labels, tasks, name, pred, seed, fold, seed, fitted)
    return scores


def _outer_splits(
    ids: list[str], groups: list | None, seeds: Sequence[int], k: int, val_fraction: float
) -> list[tuple[int, int, np.ndarray]]:
    """(seed, fold, split) of every outer fold, as :func:`tqa.study.crossval.run_cv`'s."""
    out = []
    for seed in seeds:
        assign = kfold_assignments(ids, groups, k, int(seed))
        for fold in range(k):
            out.append((int(seed), fold, fold_split(assign, fold, val_fraction, int(seed))))
    return out


def _run_fits(plans, fn, features, labels, p, strategy, n_jobs: int, progress: bool) -> list:
    """:func:`_one_fit` of every (seed, fold, fit seed, split), in ``n_jobs`` processes."""
    jobs = (delayed(_one_fit)(fn, features, labels, s, p, strategy, fseed)
            for _, _, fseed, s in plans)  # fmt: skip
    if n_jobs > 1 and len(plans) > 1:
        return Parallel(n_jobs=min(n_jobs, len(plans)))(jobs)
    return [j[0](*j[1], **j[2]) for j in tqdm(list(jobs), desc="fit diagnostics",
                                              disable=not progress)]  # fmt: skip


def _fit_row(labels, tasks, split, seed, fold, fseed, h, best, max_epochs) -> dict:
    """A row of :attr:`FitDiagnostics.fits`."""
    train = split == "train"
    present = present_labels(labels)
    ys = labels[train][:, tasks][present[train][:, tasks]]
    return {"seed": seed, "fold": fold, "fit_seed": fseed, "best_epoch": best,
            "n_epochs": len(h), "max_epochs": max_epochs, "n_train": int(train.sum()),
            "n_val": int((split == "val").sum()),
            "train_label_var": float(np.var(ys)) if ys.size else math.nan}  # fmt: skip


def _part_scores(labels, tasks, name, pred, seed, fold, fseed, split) -> list[dict]:
    """Rows of :attr:`FitDiagnostics.scores`: ``pred`` on the train / val / test rows."""
    return [{"method": name, "seed": seed, "fold": fold, "fit_seed": fseed, "part": part,
             "task": task, **sc}
            for part in ("train", "val", "test") if np.any(split == part)
            for task, sc in score_rows(labels, pred, split == part, tasks).items()]  # fmt: skip


def _histories(hist: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-epoch histories of every fit in one table (columns in a fixed order)."""
    hist_cols = ["seed", "fold", "fit_seed", "epoch", "train_loss", "val_loss", "lr"]
    histories = pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(columns=hist_cols)
    return histories[[c for c in hist_cols if c in histories.columns]]


def fit_gap(diag: FitDiagnostics, metric: str = "spearman") -> pd.DataFrame:
    """Per (method, task): mean ``metric`` on train / val / test rows and train - test."""
    s = diag.scores.groupby(["method", "task", "part"], sort=False)[metric].mean()
    out = s.unstack("part").reindex(columns=["train", "val", "test"]).reset_index()
    out["gap"] = out["train"] - out["test"]
    return out


def plot_loss_curves(diag: FitDiagnostics, title: str = ""):
    """One panel per (seed, fold): train (solid) and validation (dashed) loss per epoch of
    every fit seed, a dotted line at each best epoch; returns the Figure."""
    h, f = diag.histories, diag.fits
    keys = list(dict.fromkeys(zip(f["seed"], f["fold"])))
    ncols = min(5, max(1, len(keys)))
    nrows = int(math.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False,
                             sharey=True)  # fmt: skip
    for ax in axes.ravel()[len(keys) :]:
        ax.set_visible(False)
    for ax, (seed, fold) in zip(axes.ravel(), keys):
        fr = f[(f["seed"] == seed) & (f["fold"] == fold)]
        for i, fseed in enumerate(fr["fit_seed"]):
            hh = h[(h["seed"] == seed) & (h["fold"] == fold) & (h["fit_seed"] == fseed)]
            ax.plot(hh["epoch"], hh["train_loss"], color=f"C{i}", label=f"train, fit seed {fseed}")
            if "val_loss" in hh.columns:
                ax.plot(hh["epoch"], hh["val_loss"], color=f"C{i}", ls="--",
                        label=f"val, fit seed {fseed}")  # fmt: skip
            best = fr.loc[fr["fit_seed"] == fseed, "best_epoch"].iloc[0]
            if best > 0:
                ax.axvline(best, color=f"C{i}", ls=":", lw=1)
        var = fr["train_label_var"].iloc[0] if len(fr) else math.nan
        if np.isfinite(var):
            ax.axhline(var, color="grey", lw=0.8, label="train label variance")
        ax.set_title(f"seed {seed}, fold {fold}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes.ravel()[0].set_ylabel("masked MSE")
    axes.ravel()[0].legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
