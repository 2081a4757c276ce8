"""What limits the chapter's Transformer on a few hundred real rated videos (THQA, portraits 1-10).

Runs :mod:`tqa.study.diagnosis` on the development part of the THQA release
(``../shared/thqa-dev``, never copied into the repository), in a temporary folder:

1. ``tqa import-thqa vvmf_results_a01.csv --out labels.csv --name-pattern
   '{group}_{audio}_{generator}' --frames lib_c.csv --features-out .`` (the release's own 21
   per-frame IQA / face-identity columns as ``visual__*``, its SyncNet triple as ``sync__*``);
2. :func:`fit_diagnostics`: the chapter's configuration (``tqa:<eval.main_strategy>``) on each
   portrait-grouped fold: train / validation loss per epoch, best epoch, SRCC on its own
   training rows vs the test fold, over several fit seeds (and gradient_boosting's for contrast);
3. :func:`learning_curve`: SRCC on the test fold against the number of training videos (whole
   portraits dropped from each training part) for the chapter's configuration,
   gradient_boosting, random_forest and the default model ``tqa:stack``;
4. :func:`knob_effects`: one-knob variants of the chapter's configuration, paired tests vs it.

Writes ``reports/model_diagnosis.md`` (tables, and the "what limits it" paragraph computed from
them), two figures and the tidy CSVs under ``reports/model_diagnosis/``. Every fit reads the
default ``params.yaml`` (``-S key=value`` to override, e.g. ``-S runtime.train.parallel_fits=1``).

    .venv/bin/python benchmarks/model_diagnosis.py [--quick] [--release ../shared/thqa-dev]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqa.cli import main as tqa  # noqa: E402
from tqa.core.atomic import write_csv, write_text  # noqa: E402
from tqa.core.params import load_params  # noqa: E402
from tqa.study.crossval import MODEL_PREFIX  # noqa: E402
from tqa.study.diagnosis import limits_summary  # noqa: E402
from tqa.study.fit_diagnostics import fit_diagnostics, fit_gap, plot_loss_curves  # noqa: E402
from tqa.study.inputs import load_labelled_features  # noqa: E402
from tqa.study.knobs import knob_effects  # noqa: E402
from tqa.study.learning_curve import (  # noqa: E402
    curve_summary,
    learning_curve,
    plot_learning_curve,
)
from tqa.study.stacking import STACK  # noqa: E402
from tqa.study.studies import ResultsStore, main_strategy  # noqa: E402

RELEASE = ROOT.parent / "shared" / "thqa-dev"
REPORT = ROOT / "reports" / "model_diagnosis.md"
#: One-knob variants of the chapter's configuration (what plausibly limits it on 400 videos).
KNOBS = [
    "path_b=false",  # the pooled-statistics path alone, no Transformer
    "d_model=16",  # width
    "n_layers=1",  # depth
    "dropout=0.3",
    "weight_decay=0.1",
    "lr=0.0003",
    "epochs=80",
    "early_stopping_patience=3",
    "early_stopping_patience=40",  # no early stopping: the whole 40-epoch schedule
    "pca_variance=0.8",
    "label_smoothing=0",
]
#: Worth a try when time allows (``--knobs``): per-frame tokens cost ~8x a chapter fit.
EXPENSIVE_KNOBS = ["token_stride=1"]
QUICK_KNOBS = ["path_b=false", "d_model=16", "early_stopping_patience=40"]
TASK = "overall"


def run_tqa(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        rc = tqa(argv)
    if rc != 0:
        raise SystemExit(f"tqa {' '.join(argv)} failed with exit status {rc}")


def f3(v: float) -> str:
    return f"{v:.3f}" if np.isfinite(v) else "n/a"


def md_table(df: pd.DataFrame) -> list[str]:
    """Markdown rows of ``df``: floats with 3 decimals, whole-number columns as integers."""
    whole = {
        c
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c])
        and np.all(np.mod(df[c].dropna().to_numpy(float), 1) == 0)
    }
    cells = [
        [
            str(int(v)) if c in whole and np.isfinite(v) else f3(v) if isinstance(v, float)
            else str(v)
            for c, v in zip(df.columns, row)
        ]
        for row in df.itertuples(index=False)
    ]  # fmt: skip
    return [
        "| " + " | ".join(map(str, df.columns)) + " |",
        "|" + "---|" * len(df.columns),
        *("| " + " | ".join(c) + " |" for c in cells),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", type=Path, default=RELEASE)
    ap.add_argument("--out", type=Path, default=REPORT, help="report (.md); figures beside it")
    ap.add_argument("--quick", action="store_true", help="fewer fractions, fit seeds and knobs")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="outer k-fold seeds of the learning curve and fit diagnostics "
                    "(default 0)")  # fmt: skip
    ap.add_argument(
        "--knob-seeds",
        type=int,
        nargs="+",
        default=None,
        help="outer seeds of the knob comparison (default 0: paired bootstrap over "
        "videos; several seeds: paired Wilcoxon over (seed, fold))",
    )
    ap.add_argument("--knobs", nargs="+", default=None, metavar="KEY=VALUE",
                    help=f"one-knob variants (default: {len(KNOBS)} knobs; --quick "
                    f"{len(QUICK_KNOBS)}; also e.g. {' '.join(EXPENSIVE_KNOBS)})")  # fmt: skip
    ap.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="params override, value parsed as YAML",
    )
    args = ap.parse_args(argv)
    mos, frames = args.release / "vvmf_results_a01.csv", args.release / "lib_c.csv"
    if not mos.is_file() or not frames.is_file():
        print(f"THQA release not found at {args.release}: nothing to do", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("tqa.model.training").setLevel(logging.ERROR)  # "1 labelled task" x N
    overrides = {}
    for item in args.overrides:
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    params = load_params(None, overrides)
    quick = args.quick
    seeds = args.seeds or [0]
    knob_seeds = args.knob_seeds or [0]
    fractions = (0.25, 1.0) if quick else (0.25, 0.5, 1.0)  # 2, (4,) 8 training portraits
    fit_seeds = [0, 1] if quick else [0, 1, 2]
    knobs = args.knobs or (QUICK_KNOBS if quick else KNOBS)
    model = MODEL_PREFIX + main_strategy(params)
    methods = [model, "gradient_boosting", "random_forest", STACK]
    figdir = args.out.with_suffix("")
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run_tqa(["import-thqa", str(mos), "--out", str(work / "labels.csv"), "--name-pattern",
                 "{group}_{audio}_{generator}", "--frames", str(frames), "--features-out",
                 str(work)])  # fmt: skip
        fs, labels, meta = load_labelled_features(
            work / "labels.csv", params, [str(work / "frames.csv"), str(work / "sync.csv")]
        )
        store = ResultsStore(work / "runs", "diagnosis")
        kw = {"k": 5, "group_column": "group", "progress": False}

        t0 = time.perf_counter()
        diag = fit_diagnostics(fs, labels, meta, params, model, seeds, fit_seeds,
                               baselines=["gradient_boosting"], **kw)  # fmt: skip
        timings["fit diagnostics"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        curve = learning_curve(fs, labels, meta, params, methods, fractions, seeds, store, **kw)
        timings["learning curve"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        test = "wilcoxon" if len(knob_seeds) > 1 else "bootstrap"
        _, knob_table = knob_effects(fs, labels, meta, params, knobs, knob_seeds, store,
                                     test=test, **kw)  # fmt: skip
        timings["knob effects"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all

    summary = curve_summary(curve)
    gap = fit_gap(diag)
    knob_table = knob_table[knob_table["task"] == TASK]
    alpha = float(params.get("cv", {}).get("alpha", 0.05))
    limits = limits_summary(summary, gap, diag.fits, knob_table, model, "gradient_boosting",
                            TASK, alpha)  # fmt: skip

    figdir.mkdir(parents=True, exist_ok=True)
    fig = plot_learning_curve(summary, [model, "gradient_boosting", "random_forest", STACK],
                              TASK, title="THQA portraits 1-10: learning curve, portrait-grouped "
                              "5-fold")  # fmt: skip
    fig.savefig(figdir / "learning_curve.png", dpi=110)
    fig = plot_loss_curves(diag, f"{model} on THQA portraits 1-10: loss per epoch, each fold")
    fig.savefig(figdir / "loss_curves.png", dpi=110)
    write_csv(figdir / "learning_curve.csv", curve)
    write_csv(figdir / "fit_scores.csv", diag.scores)
    write_csv(figdir / "fit_histories.csv", diag.histories)
    write_csv(figdir / "knob_effects.csv", knob_table)

    rel = figdir.relative_to(args.out.parent) if figdir.is_relative_to(args.out.parent) else figdir
    folds = diag.scores[diag.scores["task"] == TASK]
    per_fold = (folds[folds["method"].isin([model, "gradient_boosting"])]
                .pivot_table(index=["seed", "fold"], columns=["method", "part"],
                             values="spearman", aggfunc="mean"))  # fmt: skip
    fit_rows = diag.fits.groupby(["seed", "fold"]).agg(
        best_epoch=("best_epoch", "median"), epochs_run=("n_epochs", "median"),
        n_train=("n_train", "first"), n_val=("n_val", "first"),
        train_label_var=("train_label_var", "first")).reset_index()  # fmt: skip
    for m in (model, "gradient_boosting"):
        for part in ("train", "val", "test"):
            if (m, part) in per_fold.columns:
                fit_rows[f"{m} {part}"] = per_fold[(m, part)].to_numpy(float)
    lc = summary[summary["task"] == TASK].copy()
    lc["SRCC mean ± std"] = [f"{a:.3f} ± {b:.3f}" if np.isfinite(b) else f3(a)
                             for a, b in zip(lc["mean"], lc["std"])]  # fmt: skip
    lc = lc[["method", "fraction", "n_train_videos", "SRCC mean ± std", "n_runs",
             "gain_per_doubling"]]  # fmt: skip
    kt = knob_table.copy()
    kt["SRCC [95 % CI]"] = [
        f"{m:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f3(m)
        for m, lo, hi in zip(kt["mean"], kt["ci_low"], kt["ci_high"])
    ]
    kt = kt[["knob", "SRCC [95 % CI]", "delta", "p_value", "n_pairs", "verdict"]]
    named = knob_table.loc[knob_table["test"] != "", "test"]
    test_words = named.iloc[0] if len(named) else "none (no pairs)"
    gap_t = gap[gap["task"] == TASK][["method", "train", "val", "test", "gap"]]

    p = params
    lines = [
        "# What limits the chapter's Transformer on a few hundred videos (THQA portraits 1-10)",
        "",
        "Generated by `benchmarks/model_diagnosis.py`"
        + (" (`--quick`)" if quick else "")
        + " with `tqa.study.diagnosis`. **Data**: the THQA release's development part "
        "(`../shared/thqa-dev`, MIT; never copied into the repository): 400 videos = 10 "
        "portraits x 5 audios x 8 generators, one MOS each from a real subjective test, mapped "
        "linearly from [0, 5] onto [1, 5] (`overall`; the other four tasks have no labels). "
        "**Features**: the release's own 21 per-frame IQA / face-identity columns (3-10 frames "
        "per video) as `visual__*` and its SyncNet offset / distance / confidence as `sync__*`, "
        "through `tqa import-thqa --frames` (no tqa extractor ran). **Protocol**: 5 folds "
        f"grouped by portrait (`group`), outer seeds {' '.join(map(str, seeds))} (knobs: "
        f"{' '.join(map(str, knob_seeds))}), validation part = "
        f"{p['cv'].get('val_fraction', 0.1) if 'cv' in p else 0.1} of each training part by "
        "whole portraits, the test fold read by no fit. **The withheld portraits 11-20 were "
        "never seen** by this run (they are not in the repository nor in `../shared`).",
        "",
        f"Model: `{model}` = the chapter's configuration of `params.yaml` (d_model "
        f"{p['model']['d_model']}, {p['model']['n_layers']} layers, dropout "
        f"{p['model']['dropout']}, lr {p['train']['lr']}, weight decay "
        f"{p['train']['weight_decay']}, {p['train']['epochs']} epochs, early-stopping patience "
        f"{p['train']['early_stopping_patience']}, PCA {p['preprocess']['pca_variance']} "
        f"variance, token stride {p['model']['token_stride']}, label smoothing "
        f"{p['train']['label_smoothing']}); with one labelled task every weighting strategy "
        "coincides with fixed weighting." + (f" Overrides: {overrides}." if overrides else ""),
        "",
        "Wall time on this machine: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + ".",
        "",
        "## What limits it (computed from the tables below)",
        "",
        *(f"- {s}" for s in limits),
        "",
        "## Can it fit its training set? (fit diagnostics, per fold)",
        "",
        f"SRCC of `{model}` (median over fit seeds {' '.join(map(str, fit_seeds))} for the "
        "epochs; mean for the SRCC) on its own training rows, its validation portrait(s) and "
        "the test fold, next to gradient_boosting's. `train_label_var` is the MSE of "
        "predicting the training mean (the grey line of the figure).",
        "",
        *md_table(fit_rows),
        "",
        "Mean over folds (and fit seeds):",
        "",
        *md_table(gap_t),
        "",
        f"![train and validation loss per fold]({rel.as_posix()}/loss_curves.png)",
        "",
        "In the figure the train loss is measured in training mode (dropout on, smoothed "
        "targets), the validation loss on the raw labels; the dotted line is the restored "
        "best epoch.",
        "",
        "## Learning curve: SRCC on the test fold against training videos",
        "",
        "Each training part keeps a seeded, nested subset of its portraits (whole portraits; "
        "at least 2); the test fold is the whole outer fold every time. `gain_per_doubling`: "
        "OLS slope of SRCC on log2(training videos) over all folds.",
        "",
        *md_table(lc),
        "",
        f"![learning curve]({rel.as_posix()}/learning_curve.png)",
        "",
        "## Single knobs vs the chapter's configuration (out-of-fold SRCC)",
        "",
        f"Each variant changes one key of the configuration; paired test: {test_words}"
        f" at alpha {alpha}. The SRCC column is the mean over (seed, fold) test folds with its "
        "t-interval; `delta` is "
        + (
            "the pooled out-of-fold SRCC difference from the reference (the bootstrap's statistic)"
            if test == "bootstrap"
            else "the mean paired (seed, fold) difference"
        )
        + ".",
        "",
        *md_table(kt),
        "",
        f"Tidy results: `{rel.as_posix()}/learning_curve.csv`, `fit_scores.csv`, "
        "`fit_histories.csv`, `knob_effects.csv`.",
        "",
    ]
    write_text(args.out, "\n".join(lines))
    print(f"wrote {args.out} ({timings['total']:.0f} s)")
    for s in limits:
        print("-", s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
