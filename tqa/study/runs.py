"""Training runs of the study: one weighting strategy x ``train.seeds`` (chapter 3.3).

Each fit is written to ``<train.out_dir>/<strategy>/seed<k>/`` and recorded in the study's
results store so that the comparison notebooks reuse it instead of training again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from tqa.core.atomic import rounded, write_csv, write_json
from tqa.core.params import add_params_arguments, cli_path, params_from_args, resolve
from tqa.core.schema import LABEL_COUNTS_FILE, MISSING, TASKS, FeatureSet
from tqa.model.training import FitResult, fit, saved_history
from tqa.study.inputs import INPUT_ERRORS, load_training_data
from tqa.study.run_cache import record_fit

log = logging.getLogger(__name__)


def run_strategy(
    features: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    strategy: str,
    seeds: list[int] | None = None,
    models_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    progress: bool = True,
    results_dir: str | os.PathLike | None = None,
) -> list[FitResult]:
    """Train ``strategy`` once per seed (default ``train.seeds``).

    Writes ``<models_dir>/<strategy>/seed<k>/`` per fit and
    ``<reports_dir>/<strategy>/metrics.json`` (per seed and mean over seeds: val/test
    masked MSE per task) plus ``history_seed<k>.csv``. Defaults: ``train.out_dir`` and
    reports/training. Beside each fit, ``label_counts.json`` (training labels per task)
    tells ``tqa bundle`` which heads were trained. Each fit is recorded in the run cache
    ``results_dir`` (default ``eval.results_dir``) for the study notebooks to reuse.
    """
    seeds = list(seeds if seeds is not None else params["train"]["seeds"])
    models_dir = resolve(models_dir or params["train"].get("out_dir", "models"))
    reports_dir = resolve(reports_dir or "reports/training") / strategy
    results, per_seed = [], {}
    for seed in seeds:
        out = models_dir / strategy / f"seed{seed}"
        res = fit(
            features,
            labels,
            split,
            params,
            strategy=strategy,
            seed=int(seed),
            out_dir=out,
            progress=progress,
        )
        results.append(res)
        train = (np.asarray(split) == "train")[:, None] & (np.asarray(labels) != MISSING)
        write_json(
            out / LABEL_COUNTS_FILE,
            {"train_labels": {t: int(n) for t, n in zip(TASKS, train.sum(axis=0))}},
        )
        rec_params = params
        if results_dir is not None:
            rec_params = {
                **params,
                "eval": {**params.get("eval", {}), "results_dir": str(results_dir)},
            }
        record_fit(res, features, labels, split, rec_params)
        per_seed[f"seed{seed}"] = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        write_csv(reports_dir / f"history_seed{seed}.csv", saved_history(res.history))
    summary = {"strategy": strategy, "seeds": seeds, "per_seed": per_seed, "mean": {}}
    for key in ("val_mse", "test_mse"):
        vals = [m[key] for m in per_seed.values() if m.get(key) is not None]
        summary["mean"][key] = float(np.mean(vals)) if vals else None
        for t in TASKS:
            tv = [
                m[f"{key}_per_task"][t]
                for m in per_seed.values()
                if m[f"{key}_per_task"].get(t) is not None
            ]
            summary["mean"].setdefault(f"{key}_per_task", {})[t] = (
                float(np.mean(tv)) if tv else None
            )
    write_json(reports_dir / "metrics.json", rounded(summary))
    return results


def main(argv: list[str] | None = None) -> int:
    """``tqa train``: train strategies x seeds; bad input is one line on stderr, exit 1."""
    ap = argparse.ArgumentParser(prog="tqa train", description="Train the cross-modal Transformer.")
    ap.add_argument(
        "--strategy", default=None, help="weighting strategy (default: every weighting.strategies)"
    )
    ap.add_argument(
        "--seed",
        type=int,
        action="append",
        default=None,
        help="seed (repeatable; default train.seeds)",
    )
    ap.add_argument("--out", default=None, help="models directory (default train.out_dir)")
    ap.add_argument(
        "--reports",
        default=None,
        help="reports directory (default reports/training); with --out or --reports, the run "
        "cache goes to <reports>/studies and nothing is written elsewhere",
    )
    ap.add_argument(
        "--features",
        default=None,
        nargs="+",
        metavar="TABLE",
        help="bring-your-own feature table(s) instead of the cache (default byo.features_table)",
    )
    ap.add_argument("--no-progress", action="store_true")
    add_params_arguments(ap)
    args = ap.parse_args(argv)
    try:
        params = params_from_args(args)
        features = [str(cli_path(f)) for f in args.features] if args.features else None
        for f in features or []:
            if not Path(f).is_file():
                raise FileNotFoundError(f"feature table not found: {f}")
        fs, labels, split = load_training_data(params, features)
    except INPUT_ERRORS as exc:
        print(f"ERROR: tqa train: {exc}", file=sys.stderr)
        return 1
    models = cli_path(args.out)
    reports = cli_path(args.reports) or (
        models / "reports" if models is not None else resolve("reports/training")
    )
    private = args.out is not None or args.reports is not None
    strategies = [args.strategy] if args.strategy else list(params["weighting"]["strategies"])
    for s in strategies:
        results = run_strategy(
            fs,
            labels,
            split,
            params,
            s,
            seeds=args.seed,
            models_dir=models,
            reports_dir=reports,
            progress=not args.no_progress,
            results_dir=reports / "studies" if private else None,
        )
        for r in results:
            log.info("%s seed %d: best epoch %d, %.1f s", s, r.seed, r.best_epoch, r.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
