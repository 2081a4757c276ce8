"""`tqa cv` on a generated public-layout MOS release: wall time of each step and of a resume.

Builds a release like the worked example of docs/your-data.md (``Image``/``Score`` MOS
table, per-frame feature CSV, no videos) with ``--portraits`` x ``--audio`` x 3 methods
videos of ``--frames`` frames in a temporary folder, then times, through ``tqa.cli``:
``import-thqa``, ``validate``, ``cv`` (first run) and ``cv`` again (everything resumed
from the run cache). Extra ``-S`` overrides go to ``cv``. Prints the figures and writes
``benchmarks/out/cv_byo.json``.

    .venv/bin/python benchmarks/cv_byo.py                       # 20 x 2 x 3 = 120 videos
    .venv/bin/python benchmarks/cv_byo.py --seeds 0 1 2 -S train.epochs=10
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from public_fixture import write_public_release  # noqa: E402

from tqa.cli import main as tqa  # noqa: E402


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = tqa(argv)
    if rc != 0:
        raise SystemExit(f"tqa {' '.join(argv)} failed with exit status {rc}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--portraits", type=int, default=20)
    ap.add_argument("--audio", type=int, default=2)
    ap.add_argument("--frames", type=int, default=150, help="frames per video in the table")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("-S", dest="set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=str(HERE / "out" / "cv_byo.json"))
    args = ap.parse_args(argv)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="tqa-cv-bench-") as tmp:
        t0 = time.perf_counter()
        _, _, truth = write_public_release(
            Path(tmp) / "release", args.portraits, args.audio, args.frames
        )
        gen = time.perf_counter() - t0
        work = Path(tmp) / "work"
        work.mkdir()
        os.chdir(work)
        try:
            pattern = "{portrait}_{audio}_{generator}"
            t_import = timed(
                ["import-thqa", "../release/mos.csv", "--out", "data/labels.csv",
                 "--name-pattern", pattern]
            )  # fmt: skip
            t_validate = timed(["validate", "data/labels.csv"])
            cv = ["cv", "--labels", "data/labels.csv", "--features", "../release/frames.csv",
                  "--folds", str(args.folds), "--group", "portrait", "--no-progress",
                  "--seeds", *map(str, args.seeds), "--out", "cv"]  # fmt: skip
            for s in args.set:
                cv += ["-S", s]
            t_cv = timed(cv)
            t_resume = timed(cv)
            n_runs = len(list(Path("cv/runs").glob("*.json")))
        finally:
            os.chdir(cwd)
    result = {
        "videos": len(truth),
        "frames_per_video": args.frames,
        "folds": args.folds,
        "seeds": args.seeds,
        "overrides": args.set,
        "runs_cached": n_runs,
        "seconds": {
            "generate_release": round(gen, 2),
            "import_thqa": round(t_import, 2),
            "validate": round(t_validate, 2),
            "cv_first_run": round(t_cv, 2),
            "cv_resumed": round(t_resume, 2),
        },
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
