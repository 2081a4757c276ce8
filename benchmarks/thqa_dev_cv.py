"""docs/your-data.md's worked example on the real THQA release (portraits 1-10, 400 videos).

Runs exactly the documented commands on ``../shared/thqa-dev`` (beside the repository; never
copied into it), in a temporary folder:

    tqa import-thqa vvmf_results_a01.csv --out labels.csv \
        --name-pattern '{group}_{audio}_{generator}' --frames lib_c.csv --features-out .
    tqa cv --labels labels.csv --features frames.csv sync.csv --folds 5 --group group \
        --seeds 0 1 2 --within generator --importance tqa:stack --importance-by column

and writes the grouped CV comparison table (tqa's default model, the chapter's configuration
and every baseline: SRCC / PLCC / RMSE after the 4-parameter logistic / KRCC, 95 % CIs,
paired Wilcoxon verdicts vs the default model) to ``reports/thqa_dev_cv.md``, with the
stack's mean blend weights, the rank correlations within each generator (``--within
generator``: does a method rank the videos of one generator, or only the generators?) and
which of the release's columns the default model leans on (``--importance``: the test-fold
SRCC it loses when a column is permuted, tqa/study/importance.py).
Extra ``-S key=value`` go to ``tqa cv``. No parameter of tqa was chosen by looking at these
numbers' test folds: the stack's weights come from inner folds of each training part only;
the design itself (the components, NNLS blending) was developed while looking at this
table, so the held-out portraits 11-20 are the honest test.

    .venv/bin/python benchmarks/thqa_dev_cv.py [--release ../shared/thqa-dev] [-S k=v ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cv_byo import timed  # noqa: E402  (benchmarks/ is this script's folder)

from tqa.core.atomic import write_text  # noqa: E402

RELEASE = ROOT.parent / "shared" / "thqa-dev"
REPORT = ROOT / "reports" / "thqa_dev_cv.md"
FOLDS = 5  # the worked example's portrait folds
IMPORTANCE = "tqa:stack"  # tqa's default model: what it reads from the release's columns


def describe(labels: pd.DataFrame) -> dict:
    """What the imported release holds, for the report's title and data line: ``portraits``
    (sorted ids), ``title`` ("portraits 1-10", or the ids when not a run) and ``sizes``
    ("400 videos = 10 portraits x 5 audios x 8 generators"), counted from ``labels.csv`` (so
    the report says so when the release has other portraits than the development ten)."""
    ids = sorted(
        labels["group"].unique(),
        key=lambda g: (not str(g).isdigit(), int(g) if str(g).isdigit() else 0, str(g)),
    )
    numeric = all(str(g).isdigit() for g in ids)
    portraits = [int(g) for g in ids] if numeric else [str(g) for g in ids]
    if numeric and portraits == list(range(portraits[0], portraits[-1] + 1)):
        title = f"portraits {portraits[0]}-{portraits[-1]}"
    else:
        title = "portraits " + ", ".join(map(str, portraits))
    sizes = f"{len(labels)} videos = {labels['group'].nunique()} portraits"
    if {"audio", "generator"} <= set(labels.columns):
        # each portrait speaks its own audios: count them per portrait
        per = labels.groupby("group")["audio"].nunique()
        audios = f"{per.min()}" if per.min() == per.max() else f"{per.min()}-{per.max()}"
        sizes += f" x {audios} audios x {labels['generator'].nunique()} generators"
    return {"portraits": portraits, "title": title, "sizes": sizes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", type=Path, default=RELEASE)
    ap.add_argument("--out", type=Path, default=REPORT)
    ap.add_argument("--seeds", nargs="+", default=["0", "1", "2"])
    ap.add_argument("-S", "--set", action="append", default=[], dest="overrides")
    args = ap.parse_args(argv)
    mos, frames = args.release / "vvmf_results_a01.csv", args.release / "lib_c.csv"
    if not mos.is_file() or not frames.is_file():
        print(f"THQA release not found at {args.release}: nothing to do", file=sys.stderr)
        return 1
    sets = [a for s in args.overrides for a in ("-S", s)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t_import = timed(["import-thqa", str(mos), "--out", str(work / "labels.csv"),
                        "--name-pattern", "{group}_{audio}_{generator}", "--frames",
                        str(frames), "--features-out", str(work)])  # fmt: skip
        t_cv = timed(["cv", "--labels", str(work / "labels.csv"), "--features",
                    str(work / "frames.csv"), str(work / "sync.csv"), "--folds", str(FOLDS),
                    "--group", "group", "--seeds", *args.seeds, "--out", str(work / "cv"),
                    "--within", "generator", "--importance", IMPORTANCE, "--importance-by",
                    "column", "--no-progress", *sets])  # fmt: skip
        table = (work / "cv" / "comparison.md").read_text(encoding="utf-8")
        within = (work / "cv" / "comparison_within_generator.md").read_text(encoding="utf-8")
        importance = (work / "cv" / "importance.md").read_text(encoding="utf-8")
        weights = pd.read_csv(work / "cv" / "stack_weights.csv")
        data = describe(pd.read_csv(work / "labels.csv"))
    w = weights.groupby("component", sort=False)["weight"].agg(["mean", "min", "max"])
    n_parts = FOLDS * len(args.seeds)  # one blend per (seed, fold) training part
    lines = [
        f"# THQA {data['title']}: grouped cross-validation of tqa's models and baselines",
        "",
        "Generated by `benchmarks/thqa_dev_cv.py` (the worked example of docs/your-data.md on "
        f"the real release; `{os.path.relpath(args.release, ROOT)}`, MIT, never copied here). "
        "Data: "
        f"{data['sizes']}, one MOS each (real subjective test); "
        "features: the release's own 21 per-frame IQA / face-identity columns (3-10 frames "
        "per video) as `visual__*` and its SyncNet offset / distance / confidence as "
        f"`sync__*`. Folds by portrait; seeds {' '.join(args.seeds)}"
        + (f"; overrides {' '.join(args.overrides)}" if args.overrides else "")
        + (
            ". The other ten portraits are held out of this repository on purpose."
            if data["portraits"] == list(range(1, 11))
            else "."
        ),
        "",
        f"Wall time on this machine: import {t_import:.1f} s, cv {t_cv:.0f} s.",
        "",
        f"## Blend weights of `tqa:stack` (over the {n_parts} outer training parts)",
        "",
        "| component | mean | min | max |",
        "|---|---|---|---|",
        *(
            f"| {c} | {r['mean']:.3f} | {r['min']:.3f} | {r['max']:.3f} |" for c, r in w.iterrows()
        ),  # fmt: skip
        "",
        table.split("\n", 1)[1].strip(),
        "",
        "#" + within.strip(),
        "",
        "#" + importance.strip().replace("\n#", "\n##"),
        "",
    ]
    write_text(args.out, "\n".join(lines))
    print(f"wrote {args.out} (cv {t_cv:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
