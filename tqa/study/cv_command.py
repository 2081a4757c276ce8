"""``tqa cv``: grouped k-fold x seeds over a dataset, model and baselines, in one command.

Reads a labels file and features (a feature table, or the extraction cache), runs
:func:`tqa.study.crossval.run_cv` and writes under ``--out`` (default ``cv.out_dir``):

    oof.csv          out-of-fold predictions: video_id, fold, seed, method, task, y, pred
    folds.csv        the fold of every video per seed (video_id, group, seed, fold)
    comparison.csv   method x task x metric: mean, 95 % CI, delta vs reference, p, verdict
    comparison.md    the same as markdown tables
    comparison_within_<COLUMN>.{csv,md}   with --within COLUMN: the correlation metrics
                     within each value of a labels column (tqa/study/within.py), and
                     comparison_within_<COLUMN>_levels.csv: SRCC per method and value
    importance.{md,csv}, importance_folds.csv   with --importance METHOD: the test-fold
                     Spearman that method (tqa:stack or a pooled regressor) loses when a
                     feature group is permuted (tqa/study/importance.py), per fold and
                     summarised
    runs/, cv_runs.csv   the resumable run cache (a rerun refits nothing already done)

Nothing is written anywhere else. Relative paths on the command line resolve against the
current folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv, write_text
from tqa.core.params import add_params_arguments, cli_path, params_from_args, resolve
from tqa.core.schema import MISSING, TASKS
from tqa.study.comparison import comparison_markdown, comparison_table
from tqa.study.crossval import cv_params, default_methods, kfold_assignments, run_cv
from tqa.study.importance import (
    GROUPINGS,
    METHODS,
    REPEATS,
    cv_importance,
    importance_markdown,
    importance_summary,
)
from tqa.study.inputs import INPUT_ERRORS, load_labelled_features
from tqa.study.metrics import TABLE_PRESETS, metric_names
from tqa.study.stacking import STACK, blend_table
from tqa.study.studies import ResultsStore
from tqa.study.within import (
    level_scores,
    levels_markdown,
    within_fold_scores,
    within_metrics,
)

log = logging.getLogger(__name__)

#: Errors reported as one line (no traceback): bad input, not a bug (a bad method, metric
#: or column name: KeyError, ValueError).
USER_ERRORS = (*INPUT_ERRORS, KeyError, ValueError)


def default_metrics(params: dict, labels: np.ndarray) -> list[str]:
    """``cv.metrics``; else the ``vqa`` preset when one task has labels, else the study's
    ``eval.table_metrics`` plus ``rmse_logistic``."""
    spec = cv_params(params).get("metrics")
    if spec:
        return metric_names(spec)
    labelled = int(((labels != MISSING) & np.isfinite(labels)).any(axis=0).sum())
    if labelled == 1:
        return list(TABLE_PRESETS["vqa"])
    base = list((params.get("eval") or {}).get("table_metrics") or TABLE_PRESETS["study"])
    return base + ([] if "rmse_logistic" in base else ["rmse_logistic"])


def within_table(
    oof: pd.DataFrame,
    metrics: list[str],
    reference: str | None,
    levels: pd.Series,
    alpha: float,
) -> pd.DataFrame:
    """The comparison table of the correlation metrics of ``metrics`` computed within each
    value of ``levels`` (video_id -> value; :mod:`tqa.study.within`)."""
    return pd.concat(
        [
            comparison_table(
                oof, [m], reference, alpha=alpha, scores=within_fold_scores(oof, m, levels)
            )
            for m in within_metrics(metrics)
        ],
        ignore_index=True,
    )


def within_markdown(table: pd.DataFrame, column: str, levels: pd.Series) -> str:
    """``comparison_within_<column>.md``: what the numbers are, then the tables."""
    return (
        f"# Within each {column}: does a method rank the videos of one {column}?\n\n"
        f"Per (seed, fold) test fold, the metric within each {column} "
        f"({levels.nunique()} values) that has at least 3 scored videos there, averaged with "
        f"equal weights; mean over folds x seeds with its 95 % t-interval; the paired test "
        f"as in comparison.md. A method that predicts one value per {column} (a lookup) "
        f"cannot rank within it: undefined (tqa/study/within.py).\n\n" + comparison_markdown(table)
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="tqa cv",
        description="Grouped k-fold cross-validation x seeds of the model and every baseline: "
        "out-of-fold predictions and the comparison table (mean, 95 %% CI, paired test).",
    )
    ap.add_argument("--labels", default=None, help="labels.csv or its folder (default: data.root)")
    ap.add_argument(
        "--features",
        nargs="+",
        default=None,
        metavar="TABLE",
        help="feature table(s), per-frame or per-video (default: byo.features_table, else the "
        "extraction cache)",
    )
    ap.add_argument("--folds", type=int, default=None, help="k (default cv.folds)")
    ap.add_argument(
        "--group",
        default=None,
        help="labels column whose values stay in one fold (default cv.group_column); "
        "'none': plain k-fold",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default cv.seeds")
    ap.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="tqa:<strategy> and baseline names (default: cv.methods, else the main strategy "
        "and eval.baselines.names)",
    )
    ap.add_argument(
        "--metrics",
        default=None,
        help=f"a preset {list(TABLE_PRESETS)} or a comma list (default: cv.metrics, else vqa "
        "for single-score data)",
    )
    ap.add_argument("--reference", default=None, help="method the others are tested against")
    ap.add_argument(
        "--within",
        default=None,
        metavar="COLUMN",
        help="also score within each value of this labels column (e.g. generator: does a "
        "method rank the videos of one generator?), written to comparison_within_COLUMN.md",
    )
    ap.add_argument(
        "--importance",
        default=None,
        metavar="METHOD",
        choices=METHODS,
        help="also the grouped permutation importance of this method's features, out of "
        f"fold ({', '.join(METHODS)}), written to importance.md",
    )
    ap.add_argument(
        "--importance-by",
        default="modality",
        choices=GROUPINGS,
        help="feature groups permuted together: the streams and the sync triple, or every "
        "column (default modality)",
    )
    ap.add_argument(
        "--importance-repeats",
        type=int,
        default=REPEATS,
        help=f"permutations per group and fold (default {REPEATS})",
    )
    ap.add_argument("--out", default=None, help="output folder (default cv.out_dir)")
    ap.add_argument("--no-progress", action="store_true")
    add_params_arguments(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except USER_ERRORS as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"ERROR: tqa cv: {msg}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cp = cv_params(params)
    labels_path = cli_path(args.labels) or resolve(params["data"]["root"])
    features = [str(cli_path(f)) for f in args.features] if args.features else None
    out = cli_path(args.out) or resolve(cp["out_dir"])
    group = args.group if args.group is not None else cp["group_column"]
    group = None if group in (None, "", "none", "None") else str(group)

    fs, labels, meta = load_labelled_features(labels_path, params, features, strict=True)
    found = [c for c in meta.columns if c not in ("path", *TASKS)]
    if group is not None and group not in meta.columns:
        raise ValueError(
            f"{labels_path}: no column {group!r} to group folds by; found {found} (--group "
            "COLUMN, or --group none for plain k-fold)"
        )
    if args.within is not None and args.within not in meta.columns:
        raise ValueError(f"{labels_path}: no column {args.within!r} for --within; found {found}")
    if args.within is not None and meta[args.within].isna().any():  # before any fit
        row = meta[meta[args.within].isna()].iloc[0]
        raise ValueError(f"{labels_path}: video {row['video_id']!r} has no {args.within!r}")
    if args.importance_repeats < 1:  # before any fit
        raise ValueError(f"--importance-repeats must be >= 1, got {args.importance_repeats}")
    k = int(args.folds or cp["folds"])
    seeds = [int(s) for s in (args.seeds or cp["seeds"] or params["train"]["seeds"])]
    methods = list(args.methods or default_methods(params, meta))
    metrics = metric_names(args.metrics) if args.metrics else default_metrics(params, labels)
    if args.importance == STACK and STACK not in methods:  # its blends come from the k-fold
        raise ValueError(f"--importance {STACK} needs {STACK} among the methods")
    source = "feature table " + ", ".join(features) if features else "params features"
    print(
        f"tqa cv: {len(fs.video_ids)} videos from {labels_path} + {source} (no video files "
        f"needed); {k} folds by {group or 'video (ungrouped)'} x seeds {seeds}; "
        f"methods {methods}"
    )
    store = ResultsStore(out, "cv_runs")
    blends: dict = {}  # the stacked model's weights per (seed, fold, task)
    oof = run_cv(
        fs,
        labels,
        meta,
        params,
        methods,
        seeds,
        store,
        k=k,
        group_column=group,
        progress=not args.no_progress,
        blends_out=blends,
    )
    groups = meta[group].tolist() if group else None
    folds = pd.concat(
        [
            kfold_assignments(fs.video_ids, groups, k, s).assign(seed=s)[
                ["video_id", "group", "seed", "fold"]
            ]
            for s in seeds
        ],
        ignore_index=True,
    )
    reference = args.reference or cp.get("reference")
    table = comparison_table(
        oof,
        metrics,
        reference,
        alpha=float(cp.get("alpha", 0.05)),
        class_bounds=(params.get("eval") or {}).get("class_bounds", (3.0, 4.0)),
        near_zero_std=float((params.get("data") or {}).get("near_zero_std", 0.1)),
    )
    write_csv(out / "oof.csv", oof)
    write_csv(out / "folds.csv", folds)
    if blends:
        write_csv(out / "stack_weights.csv", blend_table(blends))
    write_csv(out / "comparison.csv", table)
    md = comparison_markdown(table)
    header = (
        f"# Cross-validation: {k} folds by {group or 'video'} x {len(seeds)} seed(s)\n\n"
        f"{len(fs.video_ids)} videos; every video has one out-of-fold prediction per seed "
        "and method. Mean over folds x seeds with its 95 % t-interval.\n\n"
    )
    write_text(out / "comparison.md", header + md)
    print(md)
    extra = ", stack_weights.csv" if blends else ""
    if args.within is not None:
        levels = meta.set_index("video_id")[args.within]
        inner = within_table(oof, metrics, reference, levels, float(cp.get("alpha", 0.05)))
        name = f"comparison_within_{args.within}"
        per_level = level_scores(oof, "spearman", levels)
        write_csv(out / f"{name}.csv", inner)
        write_csv(out / f"{name}_levels.csv", per_level)
        write_text(
            out / f"{name}.md",
            within_markdown(inner, args.within, levels)
            + "\n"
            + levels_markdown(per_level, "spearman", args.within),
        )
        extra += f", {name}.csv, {name}_levels.csv, {name}.md"
    if args.importance is not None:
        imp = cv_importance(fs, labels, meta, params, args.importance, seeds, k, group,
                            float(cp["val_fraction"]), args.importance_by,
                            args.importance_repeats, blends,
                            progress=not args.no_progress)  # fmt: skip
        summary = importance_summary(imp)
        write_csv(out / "importance_folds.csv", imp)
        write_csv(out / "importance.csv", summary)
        write_text(out / "importance.md", importance_markdown(
            summary, args.importance, args.importance_by, args.importance_repeats))  # fmt: skip
        extra += ", importance.md, importance.csv, importance_folds.csv"
    print(f"wrote {Path(out) / 'oof.csv'}, comparison.csv, comparison.md, folds.csv{extra}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(main())
