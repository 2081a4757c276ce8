"""``tqa extract``: every video of a dataset through an engine into the feature cache."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from tqa.core.atomic import write_json
from tqa.core.params import (
    add_params_arguments,
    cli_path,
    display_path,
    params_from_args,
    resolve,
)
from tqa.data.labels import load_dataset
from tqa.features.engines.cli import add_engine_arguments, run_engine
from tqa.features.extractors.base import available
from tqa.features.status import ExtractionInterrupted, summarize

log = logging.getLogger(__name__)


def list_videos(root: str | os.PathLike, params: dict) -> list[tuple[str, str]]:
    """(video_id, path) of every valid video of the dataset at ``root``
    (tqa.data.labels.load_dataset)."""

    ds = load_dataset(root, params)
    if not ds.media:  # labels + a feature table (byo.features_table): nothing to decode
        log.info("%s: labels-only dataset (no video files): nothing to extract", root)
        return []
    if len(getattr(ds, "problems", [])):
        log.warning(
            "dataset %s: %d problem row(s) skipped (see `tqa validate`)", root, len(ds.problems)
        )
    return list(zip(ds.labels["video_id"].astype(str), ds.labels["path"].astype(str)))


def _parser() -> argparse.ArgumentParser:
    """``tqa extract``'s flags: dataset, cache, workers, summary, engine, params."""
    ap = argparse.ArgumentParser(prog="tqa extract", description=main.__doc__)
    ap.add_argument("--root", default=None, help="dataset folder (default: data.root)")
    ap.add_argument(
        "--cache", default=None, help="feature cache folder (default: features.cache_dir)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default features.workers; 0 = all cores)",
    )
    ap.add_argument("--summary", default=None, help="summary JSON (default: features.summary_path)")
    ap.add_argument("--list", action="store_true", help="list the registered extractors and exit")
    ap.add_argument("--no-progress", action="store_true")
    add_engine_arguments(ap)
    add_params_arguments(ap)
    return ap


def _cache_dir(flag: str | None, fp: dict) -> str:
    """The cache folder (or fsspec URL): ``--cache``, else ``features.cache_dir``."""
    cache = flag if flag and "://" in flag else cli_path(flag)
    if cache:
        return str(cache)
    return fp["cache_dir"] if "://" in str(fp["cache_dir"]) else str(resolve(fp["cache_dir"]))


def _summary(
    cache_dir: str, root: str | os.PathLike, table, seconds: float
) -> tuple[dict, dict, dict]:
    """(the tracked summary, this run's status counts, the timings kept out of the summary)."""
    summary = (
        summarize(cache_dir, table, seconds)
        if "://" not in str(cache_dir)
        else {
            "cache_dir": display_path(cache_dir),
            "counts": table["status"].value_counts().to_dict(),
            "seconds": seconds,
        }
    )
    summary["data_root"] = display_path(root)
    # what the cache holds, not what this run did (extracted now or found cached): a rerun of
    # an unchanged extraction (`dvc repro -f`) rewrites this tracked file byte for byte
    run_counts = summary["counts"]
    summary["counts"] = {
        "with_features": int(run_counts.get("extracted", 0) + run_counts.get("cached", 0)),
        **{k: int(v) for k, v in run_counts.items() if k not in ("extracted", "cached")},
    }
    # timings go to the log and reports/benchmarks.md, not into this tracked file: an
    # unchanged extraction rewrites it byte for byte
    timing = {k: summary.pop(k, None) for k in ("seconds", "videos_per_s")}
    return summary, run_counts, timing


def main(argv: list[str] | None = None) -> int:
    """``tqa extract``: extract features of the dataset into the cache; write the summary JSON."""
    args = _parser().parse_args(argv)
    if args.list:
        for modality, names in available().items():
            print(f"{modality:<10} {', '.join(names)}")
        return 0
    params = params_from_args(args)
    fp = params["features"]
    root = cli_path(args.root) or resolve(params["data"]["root"])
    cache_dir = _cache_dir(args.cache, fp)
    videos = list_videos(root, params)
    t0 = time.perf_counter()
    interrupted = False
    try:
        table = run_engine(
            args.engine,
            videos,
            params,
            cache_dir,
            address=args.address,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except ExtractionInterrupted as exc:  # Ctrl-C: finished videos are cached; summary written
        table, interrupted = exc.table, True
    except KeyboardInterrupt:
        print("tqa extract: interrupted", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    summary, run_counts, timing = _summary(cache_dir, root, table, seconds)
    out = cli_path(args.summary) or resolve(
        fp.get("summary_path", "reports/extraction_summary.json")
    )
    write_json(out, summary)
    log.info("extraction: %s in %.1f s; summary -> %s", run_counts, seconds, out)
    log.debug("extraction timing: %s", timing)
    if interrupted:
        print(f"tqa extract: interrupted; {run_counts}; summary -> {out}", file=sys.stderr)
        return 130
    return 0 if len(videos) == 0 or summary["counts"].get("failed", 0) < len(videos) else 1


if __name__ == "__main__":
    raise SystemExit(main())
