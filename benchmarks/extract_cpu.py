"""CPU weight-free extraction benchmark: seconds per extractor and videos/s end to end.

    .venv/bin/python benchmarks/extract_cpu.py [--root data/sample] [--n 20] [--workers 1 0]

For each ``--workers`` value (0 = all cores) the first ``--n`` videos of the dataset are
extracted into a fresh temporary cache (nothing cached, nothing reused) with
:class:`tqa.features.pipeline.FeatureExtractor`; the wall time gives videos/s (process-pool
start-up included). Per-extractor seconds per video (decode, landmarks, visual, audio, au,
sync) are the means of the per-video timings the pipeline records. Prints a table and writes
``benchmarks/out/extract_cpu.json``. Target (params.yaml ``scale.bench.targets``): >= 1.5 videos/s
on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqa.core.atomic import write_json  # noqa: E402
from tqa.core.params import load_params, resolve  # noqa: E402
from tqa.features.extract import list_videos  # noqa: E402
from tqa.features.pipeline import FeatureExtractor  # noqa: E402
from tqa.features.pool import resolve_workers  # noqa: E402


def bench(params: dict, videos: list[tuple[str, str]], workers: int) -> dict:
    fe = FeatureExtractor(params)
    with tempfile.TemporaryDirectory(prefix="tqa-bench-") as tmp:
        t0 = time.perf_counter()
        table = fe.run(videos, tmp, workers=workers, progress=False)
        wall = time.perf_counter() - t0
    ok = table[table["status"] == "extracted"]
    per = {c[2:]: float(ok[c].mean()) for c in ok.columns if c.startswith("t_")}
    return {
        "workers": resolve_workers(workers),
        "videos": len(videos),
        "extracted": len(ok),
        "failed": int((table["status"] == "failed").sum()),
        "wall_s": wall,
        "videos_per_s": len(ok) / wall if wall > 0 else None,
        "seconds_per_video_by_stage": per,
        "seconds_per_video_in_worker": float(ok["seconds"].mean()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--root", default=None, help="dataset folder (default: data.root)")
    ap.add_argument("--n", type=int, default=20, help="videos to extract per setting")
    ap.add_argument(
        "--workers", type=int, nargs="+", default=[1, 0], help="settings to time (0 = all cores)"
    )
    ap.add_argument("--out", default="benchmarks/out/extract_cpu.json")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    root = resolve(args.root or params["data"]["root"])
    videos = list_videos(root, params)[: args.n]
    if not videos:
        raise SystemExit(f"no videos under {root}")
    results = [bench(params, videos, w) for w in args.workers]
    rows = [
        {
            "workers": r["workers"],
            "videos": r["extracted"],
            "wall_s": round(r["wall_s"], 2),
            "videos_per_s": round(r["videos_per_s"] or 0, 3),
            **{k: round(v, 3) for k, v in r["seconds_per_video_by_stage"].items()},
        }
        for r in results
    ]
    print(pd.DataFrame(rows).to_string(index=False))
    out = {
        "data_root": str(root),
        "extractors": {
            m: params["features"][m] for m in ("landmarks", "visual", "audio", "au", "sync")
        },
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "results": results,
        "target_videos_per_s": 1.5,
    }
    write_json(resolve(args.out), out)
    print("wrote", resolve(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
