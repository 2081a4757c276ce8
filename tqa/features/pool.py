"""Worker plumbing of a local extraction run: how many processes, and the process pool.

The pool uses the *spawn* start method (MediaPipe / torch are not fork-safe). Ctrl-C is
held while workers are spawned and, once the run is interrupted, queued videos are
cancelled and the workers terminated (:func:`tqa.core.interrupt.abort_pool`). A worker
that dies (a native crash) fails its video only, like any per-file problem.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqa.core.interrupt import abort_pool, sigint_deferred
from tqa.features.status import record_failure, status_row

#: Run logs have always named this logger for a dead worker (as tqa.features.status does).
log = logging.getLogger("tqa.features.pipeline")

#: The per-video task: (video_id, path, params, cache_dir) -> status row.
Task = Callable[[str, str, dict, str], dict]


def resolve_workers(workers: int | None) -> int:
    """``0``/None -> all cores, else the number given (at least 1)."""
    if not workers:
        return os.cpu_count() or 1
    return max(1, int(workers))


def run_pool(
    task: Task,
    initializer: Callable[[dict], None],
    params: dict,
    todo: list[tuple[str, str]],
    cache_dir: Path,
    n_workers: int,
    rows: dict[str, dict[str, Any]],
    bar,
) -> None:
    """Run ``task`` once per video of ``todo`` in ``n_workers`` spawned processes (each set
    up by ``initializer(params)``); fill ``rows`` as videos finish, one ``bar`` step each."""
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=n_workers, mp_context=ctx, initializer=initializer, initargs=(params,)
    )
    try:
        with sigint_deferred():  # submit() spawns the workers: Ctrl-C held, not lost
            futs = {
                pool.submit(task, vid, path, params, str(cache_dir)): (vid, path)
                for vid, path in todo
            }
        for fut in as_completed(futs):
            vid, path = futs[fut]
            try:
                rows[vid] = fut.result()
            except Exception as exc:  # a worker died (e.g. a native crash): that video failed
                rows[vid] = _worker_failed(cache_dir, vid, path, exc)
            bar.update(1)
    except BaseException:
        abort_pool(pool)
        raise
    pool.shutdown(wait=True)


def _worker_failed(cache_dir: Path, vid: str, path: str, exc: Exception) -> dict[str, Any]:
    """Log and record the video of a worker that died; its ``failed`` status row."""
    reason = f"{type(exc).__name__}: {exc}"
    log.warning("video %s (%s): worker failed: %s", vid, path, reason)
    record_failure(cache_dir, vid, path, "worker", reason)
    return status_row(vid, path, "failed", reason, "worker")
