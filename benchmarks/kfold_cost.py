"""Cost of the k-fold study (split.protocol: kfold) on data.root: one fit, one fold of
baselines, and the projected wall time of notebooks 06/07/09 with the current params.

Times (on the features already extracted for ``data.root``, nothing written to the study's
run cache) one fit of the chapter configuration per distinct selection-grid configuration on
outer fold 0 of seed 0, and every baseline on that fold; then counts the distinct fits the
study needs (strategies + ablations + grid, x folds x ``eval.kfold.seeds``; the chapter
configuration once) and multiplies. Prints the figures and writes
``benchmarks/out/kfold_cost.json``.

    .venv/bin/python benchmarks/kfold_cost.py
    .venv/bin/python benchmarks/kfold_cost.py -S train.epochs=20 --configs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from tqa.core.params import load_params, merged, parse_set
from tqa.model.training import fit
from tqa.study.baselines import run_baselines
from tqa.study.crossval import cv_params, fold_split, kfold_assignments, parse_method
from tqa.study.protocol import baseline_names, kfold_section, load_study_inputs, main_method
from tqa.study.selection import grid_methods

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-S", "--set", action="append", default=[], help="params override a.b=v")
    ap.add_argument("--configs", type=int, default=None, help="time only the first N grid configs")
    args = ap.parse_args()
    params = load_params(overrides=parse_set(args.set))
    fs, labels, meta = load_study_inputs(params)
    cp = cv_params(params)
    kf = kfold_section(params)
    group = cp["group_column"]
    assign = kfold_assignments(fs.video_ids, meta[group].tolist() if group else None,
                               int(cp["folds"]), 0)  # fmt: skip
    split = fold_split(assign, 0, float(cp["val_fraction"]), 0)
    print(f"{len(fs.video_ids)} videos; fold 0: {dict(zip(*np.unique(split, return_counts=True)))}")
    fits = {}
    for m in grid_methods(params)[: args.configs]:
        strategy, ov = parse_method(m, params)
        t0 = time.perf_counter()
        res = fit(fs, labels, split, merged(params, ov), strategy=strategy, seed=0, progress=False)
        fits[m] = {"seconds": round(time.perf_counter() - t0, 2), "epochs": len(res.history)}
        print(f"fit {m}: {fits[m]['seconds']} s, {fits[m]['epochs']} epochs")
    t0 = time.perf_counter()
    run_baselines(fs, labels, split, params, baseline_names(params, meta), meta)
    base_s = time.perf_counter() - t0
    print(f"baselines {baseline_names(params, meta)}: {base_s:.1f} s per fold")
    per_fit = float(np.mean([f["seconds"] for f in fits.values()]))
    n_cfg = (
        len(params["weighting"]["strategies"])
        + len(kf["ablations"])
        + len([m for m in grid_methods(params) if m != main_method(params)])
    )
    folds_seeds = int(cp["folds"]) * len(kf["seeds"])
    total = n_cfg * folds_seeds * per_fit + folds_seeds * base_s
    out = {
        "videos": len(fs.video_ids),
        "folds": int(cp["folds"]),
        "seeds": kf["seeds"],
        "fits": fits,
        "baselines_s_per_fold": round(base_s, 2),
        "configurations": n_cfg,
        "study_fits": n_cfg * folds_seeds,
        "projected_study_s": round(total, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    print(f"{n_cfg} configurations x {folds_seeds} (fold, seed) = {out['study_fits']} fits; "
          f"projected study time {total / 60:.1f} min (mean fit {per_fit:.1f} s)")  # fmt: skip
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "kfold_cost.json").write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
