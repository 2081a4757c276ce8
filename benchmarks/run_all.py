#!/usr/bin/env python
"""Run tqa's benchmarks and WRITE ``reports/benchmarks.md``; nothing in it is typed by hand.

What it runs (each part can be selected with ``--only``):

* ``extract_cpu`` / ``extract`` / ``train`` — the benchmark scripts beside this file, when
  they exist (``benchmarks/extract_cpu.py``: weight-free extractors; ``extract.py``: naive
  vs GPUOptimizedExtractor; ``train.py``: training step/epoch time). Each writes JSON into
  ``benchmarks/out/``; every ``*.json`` there is rendered, including files produced on
  another machine (e.g. ``extract_cuda.json`` from a GPU box, copied in).
* ``local`` — local process speedup: the same videos extracted with workers=1 and with
  all cores (``tqa.features.engines`` ``local``), each into a fresh temporary cache.
* ``dask`` — the Dask engine on a LocalCluster on 127.0.0.1 (cluster start timed apart).
* ``dvc`` — a no-op ``dvc repro``: run twice, the second is reported (only when
  ``dvc status`` says the pipeline is up to date, or after ``--repro``).
* ``--repro`` — ``make repro`` wall time (long; the pipeline state before is recorded).

Its own figures go to ``benchmarks/out/scale.json``; ``--report-only`` re-renders the
report from the JSON files without measuring anything. Targets (params ``scale.bench.
targets``) are printed beside the measured figures with met / not met.

    .venv/bin/python benchmarks/run_all.py                 # everything but make repro
    .venv/bin/python benchmarks/run_all.py --repro         # + make repro wall time
    .venv/bin/python benchmarks/run_all.py --only local,dask --n-videos 4
    .venv/bin/python benchmarks/run_all.py --report-only
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the runner/ package beside this file

from runner.device import describe_device  # noqa: E402
from runner.measure import (  # noqa: E402
    bench_dvc,
    bench_engines,
    dataset_videos,
    default_script_args,
    run_scripts,
)
from runner.report import load_results, render_report, without_machine_paths  # noqa: E402

from tqa.core.atomic import write_json, write_text  # noqa: E402
from tqa.core.params import ROOT, load_params, resolve  # noqa: E402

log = logging.getLogger("benchmarks.run_all")

SCRIPTS = ("extract_cpu", "extract", "train")
OWN = ("local", "dask", "dvc")
PARTS = SCRIPTS + OWN


def _arguments() -> argparse.ArgumentParser:
    """The command line of ``run_all.py``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    ap.add_argument(
        "--n-videos",
        type=int,
        default=None,
        help="videos for the engine runs (scale.bench.n_videos)",
    )
    ap.add_argument("--repro", action="store_true", help="also time `make repro` (long)")
    ap.add_argument(
        "--report-only", action="store_true", help="measure nothing; re-render the report from JSON"
    )
    ap.add_argument(
        "--script-args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help='extra arguments for a script, e.g. --script-args "extract_cpu=--workers 2"',
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="params override (YAML value), e.g. --set data.root=data/sample",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = _arguments()
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    params = load_params(args.params, overrides)
    bench = (params.get("scale") or {}).get("bench") or {}
    out_dir = resolve(bench.get("out_dir", "benchmarks/out"))
    report = resolve(bench.get("report", "reports/benchmarks.md"))
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from {PARTS}")
    device = describe_device()
    now = datetime.now(UTC).isoformat(timespec="seconds")

    if not args.report_only:
        _measure(args, params, parts, out_dir, device, now)
    results = load_results(out_dir)
    write_text(report, without_machine_paths(render_report(results, params, device, now)))
    log.info("wrote %s", report)
    return 0


def _measure(
    args: argparse.Namespace,
    params: dict,
    parts: list[str],
    out_dir: Path,
    device: dict[str, Any],
    now: str,
) -> None:
    """Run the selected ``parts``; their figures go to ``out_dir`` (run_all.json, scale.json)."""
    bench = (params.get("scale") or {}).get("bench") or {}
    timeout = float(bench.get("script_timeout", 1800))
    extra = default_script_args(
        out_dir,
        int(args.n_videos or bench.get("n_videos") or 8),
        bool(device.get("cuda_device")),
    )
    for s in args.script_args:
        name, _, rest = s.partition("=")
        extra[name] = shlex.split(rest)
    scripts = run_scripts([p for p in parts if p in SCRIPTS], extra, timeout)
    prev = load_results(out_dir).get("run_all", {})
    write_json(
        out_dir / "run_all.json",
        {"generated": now, "device": device, "scripts": {**prev.get("scripts", {}), **scripts}},
    )
    scale = load_results(out_dir).get("scale", {})
    scale.update({"generated": now, "device": device})
    if {"local", "dask"} & set(parts):
        try:
            videos = dataset_videos(params, args.n_videos or bench.get("n_videos"))
            scale["engines"] = bench_engines(params, videos, parts)
        except Exception as exc:  # reported in the file, the other parts still run
            log.exception("engine benchmark failed")
            scale["engines"] = {"error": f"{type(exc).__name__}: {exc}"}
        write_json(out_dir / "scale.json", scale)
    if "dvc" in parts or args.repro:
        scale["dvc"] = bench_dvc(args.repro, timeout)
        write_json(out_dir / "scale.json", scale)


if __name__ == "__main__":
    raise SystemExit(main())
