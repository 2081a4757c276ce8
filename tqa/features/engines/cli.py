"""``tqa extract --engine local|dask --address tcp://host:8786``: the engine flags.

``tqa extract`` (tqa.features.extract.main) adds the flags with
:func:`add_engine_arguments` and hands its video list to :func:`run_engine`::

    add_engine_arguments(parser)                     # --engine, --address
    ...
    table = run_engine(
        args.engine, videos, params, cache_dir, address=args.address, workers=args.workers
    )

Defaults come from params.yaml: ``features.engine`` and ``scale.dask.address``.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from typing import Any

import pandas as pd

from tqa.features.engines import Job, available_engines, get_engine

log = logging.getLogger(__name__)


def add_engine_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--engine`` and ``--address`` (None = take params.yaml's value)."""
    parser.add_argument(
        "--engine",
        choices=available_engines(),
        default=None,
        help="where extraction runs: local process pool or a Dask cluster "
        "(default: features.engine in params.yaml)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Dask scheduler address, e.g. tcp://host:8786 (default: scale.dask.address; "
        "none = a LocalCluster on 127.0.0.1)",
    )
    return parser


def engine_name(engine: str | None, params: dict) -> str:
    """The engine to use: the flag, else ``features.engine``, else ``local``."""
    return engine or (params.get("features") or {}).get("engine") or "local"


def run_engine(engine: str | None, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """Run extraction with the named engine; status table.

    The other arguments are an engine's (the fields of :class:`~tqa.features.engines.Job`):
    ``videos`` [(video_id, path)], ``params``, ``cache_dir``, then ``address``, ``workers``,
    ``progress`` by keyword. The table is the engine's (video_id, status, reason, ...) with
    ``engine`` added; ``table.attrs["seconds"]`` holds the wall time of the call.
    """
    job = Job(*args, **kwargs)
    name = engine_name(engine, job.params)
    run = get_engine(name)
    address = job.address
    if name != "local" and address is None:
        address = ((job.params.get("scale") or {}).get("dask") or {}).get("address")
    job = replace(job, cache_dir=str(job.cache_dir), address=address)
    start = time.perf_counter()
    table = job.run_with(run).copy()
    table["engine"] = name
    table.attrs["seconds"] = time.perf_counter() - start
    counts = table["status"].value_counts().to_dict() if "status" in table else {}
    log.info("engine %s: %s in %.1f s", name, counts, table.attrs["seconds"])
    return table
