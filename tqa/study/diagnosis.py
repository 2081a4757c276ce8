"""Why a model loses on a few hundred rated videos: a diagnosis on any FeatureSet and labels.

Three questions, each on the grouped k-fold of :mod:`tqa.study.crossval` (whole groups —
portraits, speakers — never on both sides; the test fold is read by no fit), each in its
own module:

* :mod:`tqa.study.learning_curve`: is it short of data? Per outer (seed, fold) only a
  fraction of the training *groups* is kept (a seeded, nested choice: the groups of a
  smaller fraction are among those of a larger one); each method is fitted on them and
  scored on the whole outer test fold. At fraction 1.0 the split is exactly
  :func:`tqa.study.folds.fold_split`'s, so the runs are those of
  :func:`tqa.study.crossval.run_cv` (shared run cache).
* :mod:`tqa.study.fit_diagnostics`: can it fit its training set at all, and when does early
  stopping stop it? The Transformer's train / validation loss per epoch on every fold, its
  best epoch, and its SRCC on its own training rows, its validation rows and the test fold
  (with the same numbers for pooled-feature baselines, and the fit-seed spread).
* :mod:`tqa.study.knobs`: which single knob moves it? ``tqa cv``-style out-of-fold scores of
  one-knob variants of the configuration (``tqa:<strategy>/key=value``), each tested
  against the configuration itself (:func:`tqa.study.comparison.compare`: paired Wilcoxon
  over (seed, fold) test folds, or a paired bootstrap over videos).

This module holds what the three share (:func:`score_rows`, :func:`fold_groups`) and
:func:`limits_summary`, which turns their results into sentences (what the numbers say, no
text typed in advance). ``benchmarks/model_diagnosis.py`` runs all of it on the THQA release.

How the dropped groups are kept away from a fit: they are marked "test" in the split a
fit receives. :func:`tqa.model.training.fit` fits its preprocessor on the "train" rows,
its label-smoothing means on the "train" rows, trains on them and early-stops on "val";
the baselines (:func:`tqa.study.baselines.run_baselines`) fit on "train" rows only; the
stack (:func:`tqa.study.stacking.inner_splits`) cuts its inner folds from the non-"test"
rows. Scores are computed on the outer test fold only, never on the dropped groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from tqa.core.schema import TASKS
from tqa.study.crossval import present_labels
from tqa.study.metrics import pearson, rmse, spearman

#: Scores computed on a set of rows (all three skip missing labels and NaN predictions).
SCORES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "spearman": spearman,
    "pearson": pearson,
    "rmse": rmse,
}


def fold_groups(meta: pd.DataFrame, group_column: str | None, n: int) -> list | None:
    """The group of each of the ``n`` videos (None: plain k-fold); ValueError when absent."""
    if group_column is None:
        return None
    if group_column not in meta.columns:
        raise ValueError(f"no column {group_column!r} in meta; found {list(meta.columns)}")
    if len(meta) != n:
        raise ValueError(f"meta has {len(meta)} rows for {n} videos")
    return meta[group_column].tolist()


def score_rows(labels: np.ndarray, pred: np.ndarray, rows: np.ndarray, tasks: Sequence[int]):
    """``{task: {metric: value, "n": count}}`` of ``pred`` on ``rows`` (bool mask, N)."""
    out = {}
    for t in tasks:
        y = np.where(present_labels(labels[rows, t : t + 1])[:, 0], labels[rows, t], np.nan)
        p = np.asarray(pred, dtype=float)[rows, t]
        ok = np.isfinite(y) & np.isfinite(p)
        out[TASKS[t]] = {name: fn(y[ok], p[ok]) for name, fn in SCORES.items()}
        out[TASKS[t]]["n"] = int(ok.sum())
    return out


# --------------------------------------------------------------------------- in words
def limits_summary(
    curve: pd.DataFrame | None,
    gap: pd.DataFrame | None,
    fits: pd.DataFrame | None,
    knobs: pd.DataFrame | None,
    model: str,
    contrast: str = "gradient_boosting",
    task: str = "overall",
    alpha: float = 0.05,
) -> list[str]:
    """Sentences on what limits ``model``, each computed from the results it cites.

    ``curve``: :func:`tqa.study.learning_curve.curve_summary`; ``gap``:
    :func:`tqa.study.fit_diagnostics.fit_gap`; ``fits``:
    :attr:`tqa.study.fit_diagnostics.FitDiagnostics.fits`; ``knobs``:
    :func:`tqa.study.knobs.knob_effects`' table. Any may be None.
    """
    out: list[str] = []
    if gap is not None and len(gap):
        out += _fit_sentences(gap, model, contrast, task)
    if fits is not None and len(fits):
        out += _stopping_sentences(fits)
    if curve is not None and len(curve):
        out += _curve_sentences(curve, model, contrast, task)
    if knobs is not None and len(knobs):
        out += _knob_sentences(knobs, task, alpha)
    return out


def _fit_sentences(gap: pd.DataFrame, model: str, contrast: str, task: str) -> list[str]:
    """How well the model fits its training rows vs the test fold, and the seeds' part."""
    out: list[str] = []
    g = gap[gap["task"] == task].set_index("method")
    if model in g.index:
        r = g.loc[model]
        fits_train = ("fits its training rows" if r["train"] >= 0.9 else
                      "fits its training rows only loosely" if r["train"] >= 0.7 else
                      "does not even fit its training rows")  # fmt: skip
        s = (f"On its own training rows the model reaches SRCC {r['train']:.3f}, on its "
             f"validation portrait(s) {r['val']:.3f} and on the unseen test portraits "
             f"{r['test']:.3f}: it {fits_train}")  # fmt: skip
        if contrast in g.index:
            c = g.loc[contrast]
            s += (f", while {contrast} reaches {c['train']:.3f} on its training rows and "
                  f"{c['test']:.3f} on the test portraits (train - test gap "
                  f"{c['gap']:.3f} vs the model's {r['gap']:.3f})")  # fmt: skip
        out.append(s + ".")
        ens = f"{model} seed-ensemble"
        if ens in g.index:
            d = g.loc[ens, "test"] - r["test"]
            out.append(f"Averaging the fit seeds on the same folds moves the test SRCC by "
                       f"{d:+.3f} ({g.loc[ens, 'test']:.3f}): "
                       + ("seed variance is part of the loss." if d >= 0.02 else
                          "seed variance is not what limits it."))  # fmt: skip
    return out


def _stopping_sentences(fits: pd.DataFrame) -> list[str]:
    """Where early stopping stops the fits."""
    out: list[str] = []
    best = float(fits["best_epoch"].median())
    ran = float(fits["n_epochs"].median())
    cap = int(fits["max_epochs"].max())
    early = best <= 0.25 * cap
    out.append(f"Early stopping restores a median best epoch of {best:.0f} (median "
               f"{ran:.0f} epochs run of {cap}; validation part {fits['n_val'].median():.0f} "
               f"videos): " + ("the model is stopped long before its schedule ends, on the "
                               "loss of a few validation videos." if early else
                               "the schedule is mostly used."))  # fmt: skip
    return out


def _curve_sentences(curve: pd.DataFrame, model: str, contrast: str, task: str) -> list[str]:
    """What the learning curve says of the model against ``contrast``."""
    out: list[str] = []
    c = curve[curve["task"] == task]
    last = c.loc[c.groupby("method")["fraction"].idxmax()].set_index("method")
    first = c.loc[c.groupby("method")["fraction"].idxmin()].set_index("method")
    if model in last.index:
        s = (f"Learning curve: from {first.loc[model, 'n_train_videos']:.0f} to "
             f"{last.loc[model, 'n_train_videos']:.0f} training videos the model goes "
             f"from SRCC {first.loc[model, 'mean']:.3f} to {last.loc[model, 'mean']:.3f} "
             f"({last.loc[model, 'gain_per_doubling']:+.3f} per doubling)")  # fmt: skip
        if contrast in last.index:
            gm = last.loc[model, "gain_per_doubling"]
            gc = last.loc[contrast, "gain_per_doubling"]
            s += (f"; {contrast} from {first.loc[contrast, 'mean']:.3f} to "
                  f"{last.loc[contrast, 'mean']:.3f} ({gc:+.3f} per doubling)")  # fmt: skip
            d0 = first.loc[model, "mean"] - first.loc[contrast, "mean"]
            diff = last.loc[contrast, "mean"] - last.loc[model, "mean"]
            if d0 > 0 and diff > 0:
                s += (f". With the fewest videos the model is {d0:.3f} ahead, with all of "
                      f"them {diff:.3f} behind: the curves cross")  # fmt: skip
            if diff > 0 and gm > gc:
                s += (f". At full size the model is {diff:.3f} behind and gains "
                      f"{gm - gc:.3f} more per doubling: short of data; at these slopes it "
                      f"would catch up with about {2 ** (diff / (gm - gc)):.1f}x the "
                      "training videos")  # fmt: skip
            elif diff > 0:
                s += (f". At full size the model is {diff:.3f} behind and gains "
                      f"{gc - gm:.3f} less per doubling: the gap grows with the training "
                      "set, so the number of videos is not what holds it back against "
                      f"{contrast}")  # fmt: skip
            else:
                s += f". At full size the model is {-diff:.3f} ahead"
        out.append(s + ".")
    return out


def _knob_sentences(knobs: pd.DataFrame, task: str, alpha: float) -> list[str]:
    """The single knob that moves the score most, and the significant ones."""
    out: list[str] = []
    k = knobs[(knobs["task"] == task) & (knobs["verdict"] != "reference")]
    k = k[np.isfinite(k["delta"].to_numpy(float))]
    k = k.iloc[np.argsort(-np.abs(k["delta"].to_numpy(float)), kind="stable")]
    sig = k[k["verdict"].isin(["better", "worse"])]
    if len(k):
        top = k.iloc[0]
        s = (f"Of {len(k)} single knobs, the largest change of SRCC is {top['knob']} "
             f"({top['delta']:+.3f}, p = {top['p_value']:.3g})")  # fmt: skip
        if len(sig):
            s += (
                "; significant at "
                + f"{alpha}: "
                + ", ".join(f"{r.knob} {r.verdict} ({r.delta:+.3f})" for r in sig.itertuples())
            )
        else:
            s += f"; none changes it significantly at {alpha}"
        out.append(s + ".")
    return out
