"""Which detector would move which label: the sample corpus's labels from measured defects.

    nice .venv/bin/python benchmarks/label_limits.py

Issue 26 asks for lip_sync >= 0.76, expression >= 0.70 and cross_modal >= 0.73 Pearson on the
sample corpus. Each label is a weighted sum of defect impairments
(:func:`tqa.data.corpus.ratings.impairments`, weights in params.yaml
``corpus.labels.weights``), so the question splits in two:

1. **How well do the features see each defect?** Per impairment, extra trees on the
   detector columns (``eval.baselines.detector_columns`` of the pooled features, the
   ``detector_trees`` baseline's input) predict it out of fold (grouped 5-fold by identity,
   seed 0): the *measured* impairment and its Pearson r with the injected one.
2. **Which defect holds each label back?** Per task, extra trees predict the label out of
   fold from the impairments of its weights: all *measured*; all measured but one, that
   one *exact* (the injected level); all exact (the oracle's view). The gain of "exact
   one" over "all measured" is what a perfect detector of that defect would add, with
   the others as they are.

Stage 2 reads stage 1's out-of-fold columns: a training row's measured impairment came
from a model that saw the test identities' videos, a mild optimism shared by every row of
the table (the comparison between rows is the point, not the level). The forests' settings
(300 trees, leaves of 2, 0.3 of the columns per split) are fixed here, not tuned. Needs the
extracted features of ``data.root`` (``make repro``). Writes ``reports/label_limits.md``
and ``reports/label_limits.json`` (atomic writes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import ExtraTreesRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqa.core.atomic import write_json, write_text
from tqa.core.params import ROOT, load_params, resolve
from tqa.core.schema import MISSING, TASKS
from tqa.data.corpus.ratings import impairments
from tqa.study.baselines import baseline_params
from tqa.study.degradations import DEGRADATIONS_FILE, load_degradations
from tqa.study.folds import kfold_assignments
from tqa.study.inputs import load_cached_features
from tqa.study.pooled import detector_names, pooled_features

FOLDS, SEED = 5, 0


def oof_trees(x: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int = SEED) -> np.ndarray:
    """(N,) out-of-fold predictions of extra trees fitted on the other folds' rows."""
    out = np.full(len(y), np.nan)
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        m = ExtraTreesRegressor(
            300, min_samples_leaf=2, max_features=0.3, random_state=seed, n_jobs=2
        )
        out[te] = m.fit(x[tr], y[tr]).predict(x[te])
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def measure(params: dict) -> dict:
    """Stage 1 and 2 on ``data.root`` (see the module docstring)."""
    root = resolve(params["data"]["root"])
    deg = load_degradations(root)
    if deg is None:
        raise SystemExit(f"no {DEGRADATIONS_FILE} in {root}: the sample corpus's ground truth")
    deg = deg.set_index("video_id")
    labels = pd.read_csv(root / "labels.csv", dtype={"video_id": str}).set_index("video_id")
    fs = load_cached_features(params)
    if fs is None:
        raise SystemExit(f"no extracted features for {root}: run `make repro` first")
    ids = list(fs.video_ids)
    x, names = pooled_features(fs)
    cols = detector_names(names, baseline_params(params)["detector_columns"])
    x = x[:, cols]
    x = np.where(np.isfinite(x), x, np.nanmedian(x, axis=0))
    x = np.nan_to_num(x)
    deg = deg.loc[ids]
    imp = impairments(deg.reset_index()).set_axis(ids)
    folds = kfold_assignments(ids, deg["identity"].tolist(), FOLDS, SEED)["fold"].to_numpy()
    measured = pd.DataFrame(
        {k: oof_trees(x, imp[k].to_numpy(float), folds) for k in imp.columns}, index=ids
    )
    detect = {k: pearson(measured[k], imp[k]) if imp[k].std() > 0 else None for k in imp}
    weights = params["corpus"]["labels"]["weights"]
    tasks = {}
    for task in TASKS:
        w = list(weights.get(task) or {})
        y = labels.loc[ids, task].to_numpy(float)
        ok = np.isfinite(y) & (y != MISSING)
        if not w or ok.sum() < 10:
            continue

        def score(table: pd.DataFrame) -> float:
            pred = oof_trees(table[w].to_numpy(float)[ok], y[ok], folds[ok])  # noqa: B023
            return pearson(pred, y[ok])  # noqa: B023

        one = {}
        for k in w:
            mixed = measured.copy()
            mixed[k] = imp[k]
            one[k] = score(mixed)
        tasks[task] = {"weights": {k: float(weights[task][k]) for k in w},
                       "all_measured": score(measured), "exact_one": one,
                       "all_exact": score(imp), "n": int(ok.sum())}  # fmt: skip
    return {"data": str(Path(params["data"]["root"])), "n_videos": len(ids),
            "n_detector_columns": len(cols), "folds": FOLDS, "seed": SEED,
            "detection_r": detect, "tasks": tasks}  # fmt: skip


def markdown(res: dict, seconds: float) -> str:
    """The report: detection table, then one row per task."""
    lines = [
        "# Which detector would move which label (sample corpus)",
        "",
        f"Generated by `benchmarks/label_limits.py` ({seconds:.0f} s). Data: `{res['data']}` "
        f"({res['n_videos']} videos, simulated labels). Extra trees on the "
        f"{res['n_detector_columns']} detector columns (`eval.baselines.detector_columns`), "
        f"grouped {res['folds']}-fold by identity, seed {res['seed']}; nothing tuned. See the "
        "script's docstring for the mild optimism of stage 2.",
        "",
        "## How well the features see each defect",
        "",
        "Pearson r of the out-of-fold measured impairment with the injected one.",
        "",
        "| impairment | r |",
        "|---|---|",
    ]
    for k, r in res["detection_r"].items():
        lines.append(f"| `{k}` | {'n/a' if r is None else f'{r:.3f}'} |")
    lines += [
        "",
        "## Which defect holds each label back",
        "",
        "Out-of-fold Pearson of each label from its impairments: all measured; all measured "
        "but one exact (a perfect detector of that defect, the others as they are); all "
        "exact. Label weight in brackets.",
        "",
        "| task | all measured | one exact: gain (r) | all exact |",
        "|---|---|---|---|",
    ]
    for task, t in res["tasks"].items():
        base = t["all_measured"]
        ranked = sorted(t["exact_one"].items(), key=lambda kv: -kv[1])
        cells = ", ".join(
            f"`{k}` [{t['weights'][k]:g}] {v - base:+.3f} ({v:.3f})" for k, v in ranked
        )
        lines.append(f"| `{task}` | {base:.3f} | {cells} | {t['all_exact']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "label_limits.md")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = measure(load_params())
    seconds = time.perf_counter() - t0
    write_json(args.out.with_suffix(".json"), {**res, "seconds": round(seconds, 1)})
    write_text(args.out, markdown(res, seconds))
    print(f"wrote {args.out} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
