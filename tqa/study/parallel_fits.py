"""Fit a study's pending runs in several processes, then let the study read them from the cache.

``runtime.train.parallel_fits`` is a machine knob (no run key or stage includes it): every
fit is seeded and uses ``train.num_threads`` torch threads, so a run fitted in a worker
process is bit-identical to the same run fitted in the calling process, and the run cache
cannot tell them apart. The model is small: a second torch thread does not speed up one fit
(14.3 s vs 14.4 s per fit on 2 cores), but two fits in two processes use both cores.

Workers are started with ``spawn`` (a forked child of a process that already ran torch's
OpenMP pool can hang) and receive the features and labels once, in their initializer. Each
worker saves its run atomically to the store, so an interrupted study keeps every finished
fit; the caller then loops over the runs as before and finds them cached. Ctrl-C: the workers
ignore it, the parent cancels the queue and terminates them (:mod:`tqa.core.interrupt`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tqa.core.interrupt import abort_pool, ignore_sigint, sigint_deferred
from tqa.core.logs import capture_warnings, replay
from tqa.core.schema import FeatureSet
from tqa.study.run_cache import ResultsStore
from tqa.study.studies import _train_and_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitJob:
    """One run to fit: what :func:`tqa.study.studies._train_and_store` needs besides the data.

    params: the run's merged params (overrides applied); key: its run key; split: (N,) of
    train / val / test.
    """

    study: str
    config: str
    overrides: dict
    strategy: str
    seed: int
    split: np.ndarray
    params: dict
    key: str


def worker_count(params: dict) -> int:
    """``train.parallel_fits`` (from ``runtime.train``): processes for a study's fits; 0 = all
    cores, empty or 1 = fit in the calling process."""
    n = (params.get("train") or {}).get("parallel_fits")
    if n is None:
        return 1
    n = int(n)
    return (os.cpu_count() or 1) if n == 0 else max(1, n)


_WORKER: dict[str, Any] = {}


def _init_worker(fs: FeatureSet, labels: np.ndarray, store: ResultsStore) -> None:
    ignore_sigint()  # Ctrl-C: the parent terminates the workers; no traceback here
    _WORKER.update(fs=fs, labels=labels, store=store)


def _fit(job: FitJob) -> list[tuple[str, int, str]]:
    """Fit one run in a worker; its warnings come back to be logged once by the parent."""
    with capture_warnings() as warned:
        _fit_one(job)
    return warned


def _fit_one(job: FitJob) -> str:
    record = {"strategy": job.strategy, "seed": int(job.seed), "overrides": job.overrides}
    _train_and_store(
        f"{job.study}/{job.config}",
        record,
        _WORKER["fs"],
        _WORKER["labels"],
        job.split,
        job.params,
        _WORKER["store"],
        None,
        job.key,
    )
    return job.key


def prefit(
    jobs: Sequence[FitJob],
    fs: FeatureSet,
    labels: np.ndarray,
    store: ResultsStore,
    workers: int,
    progress: bool = True,
) -> int:
    """Fit the ``jobs`` the store does not hold yet in ``workers`` processes; return how many.

    Does nothing (returns 0) with one worker or fewer than two pending runs: the caller fits
    those itself. Jobs sharing a run key are fitted once.
    """
    todo: dict[str, FitJob] = {}
    for job in jobs:
        if job.key not in todo and store.load_run(job.key, fs.video_ids) is None:
            todo[job.key] = job
    if workers <= 1 or len(todo) < 2:
        return 0
    n = min(workers, len(todo))
    log.info("fitting %d runs in %d processes", len(todo), n)
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker,
                               initargs=(fs, np.asarray(labels), store))  # fmt: skip
    try:
        with sigint_deferred():  # submit() starts the workers: a Ctrl-C is held, not lost
            futures = [pool.submit(_fit, job) for job in todo.values()]
        for fut in tqdm(as_completed(futures), total=len(futures),
                        desc=f"fits ({n} processes)", disable=not progress):  # fmt: skip
            replay(fut.result())  # a failed fit raises here; the finished ones are saved
    except KeyboardInterrupt:  # Ctrl-C: stop now; the finished fits are saved
        abort_pool(pool)
        raise
    except BaseException:  # a failed fit: the others finish and are saved, then it raises
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    return len(todo)
