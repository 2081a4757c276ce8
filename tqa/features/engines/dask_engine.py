"""Dask ``distributed`` engine: the per-video extraction task on a cluster.

Why Dask (and not Ray) as the one distributed engine shipped:

* a pure-pip install (``dask[distributed]``) already in tqa's dependencies, no daemon or
  native object store; Ray wheels are large and not installed here;
* the same code runs on a ``LocalCluster`` on 127.0.0.1 (tests, one big machine) or on an
  existing cluster: ``dask-scheduler`` + ``dask-worker tcp://host:8786`` on any machines,
  or a cluster manager's address (dask-jobqueue on SLURM/PBS, dask-kubernetes);
* it speaks fsspec natively, so the cache can be a shared path or an object-store URL
  (:mod:`tqa.features.engines.remote_cache`);
* a small footprint on the 2-core machines this project is developed on.

A Ray engine would be one more file, ``tqa/features/engines/ray_engine.py``, with the same ``run``.

What it does: skip videos already cached (``is_cached`` on the driver, before anything
is submitted); submit :func:`tqa.features.pipeline.extract_one` once per remaining video;
gather statuses as they complete (tqdm); each worker writes its own cache entry
atomically the moment it finishes, so an interrupted run (Ctrl-C, a lost worker, a dead
driver) keeps every finished video and a re-run does only the rest. Per-file problems come
back from extract_one as ``failed`` rows (it never raises for them); a task that raises is
re-run ``scale.dask.retries`` times, and a task whose worker dies is rescheduled by Dask up
to ``distributed.scheduler.allowed-failures`` times (default 3, then ``KilledWorker``);
either way the video ends as ``failed`` with the reason, in ``<cache_dir>/failures.csv``,
and the batch goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from tqa.features.config import config_hash_from_params
from tqa.features.engines import Job, register_engine, remote_cache
from tqa.features.pipeline import extract_one
from tqa.features.status import failure_row, remove_stale

log = logging.getLogger(__name__)

#: Columns every engine's status table has (extract_one's extra keys are kept too).
STATUS_COLUMNS = ("video_id", "status", "reason", "seconds", "worker")


#: glibc's ``MALLOC_TRIM_THRESHOLD_`` (bytes) in a LocalCluster's worker processes. Dask sets
#: 65536 there (``distributed.nanny.pre-spawn-environ``) so that workers hand freed memory
#: back to the OS; each video allocates and frees arrays of tens of MB (frames, NSS maps), so
#: at 64 KiB every one is returned and faulted in again: on 2 cores the visual extractors ran
#: 2.2x slower in a Dask worker than in the local engine's processes (1.25 vs 0.55 s per
#: video, docs/scaling.md). 128 MiB keeps about one video's arrays per worker.
MALLOC_TRIM_THRESHOLD = 128 * 1024 * 1024
#: The Dask config key that sets the variable in a worker process before it starts.
TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def dask_settings(params: dict) -> dict:
    """The ``scale.dask`` section of params.yaml, with defaults for missing keys."""
    cfg = {
        "address": None,
        "n_workers": 0,
        "threads_per_worker": 1,
        "retries": 1,
        "memory_limit": "auto",
        "dashboard": False,
        "malloc_trim_threshold": MALLOC_TRIM_THRESHOLD,
    }
    cfg.update((params.get("scale") or {}).get("dask") or {})
    return cfg


def config_hash_of(params: dict) -> str:
    """The feature configuration hash the cache is keyed to (FeatureExtractor's; no weights
    needed)."""
    return config_hash_from_params(params)


def _n_workers(workers: int | None, params: dict) -> int:
    n = workers if workers is not None else dask_settings(params)["n_workers"]
    if not n:
        n = (params.get("features") or {}).get("workers") or 0
    return int(n) if n and int(n) > 0 else (os.cpu_count() or 1)


#: extract_one keeps ONE FeatureExtractor (one MediaPipe FaceMesh, one model) per process;
#: those are not thread-safe (two threads in one FaceMesh segfault), so tasks in one worker
#: process run one at a time. Parallelism comes from worker processes (`--nworkers`).
_EXTRACT_LOCK = threading.Lock()


def _task(video_id: str, path: str, params: dict, cache_dir: str, remote: bool) -> dict:
    """Worker side: one video end to end, tagged with the worker that ran it."""
    with _EXTRACT_LOCK:
        if remote:
            status = remote_cache.extract_one_remote(video_id, path, params, cache_dir)
        else:
            status = dict(extract_one(video_id, path, params, cache_dir))
    try:
        from distributed import get_worker  # noqa: PLC0415 (optional: dask workers only)

        status["worker"] = get_worker().address  # extract_one's own is "pid<n>"
    except (ImportError, ValueError):
        status.setdefault("worker", f"pid{os.getpid()}")
    return status


def _normalise(video_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    row = {
        "video_id": video_id,
        "status": "extracted",
        "reason": "",
        "seconds": float("nan"),
        "worker": "",
    }
    row.update({k: v for k, v in raw.items() if v is not None})
    row["video_id"] = video_id
    return row


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def start_local_cluster(n_workers: int, params: dict | None = None):
    """A LocalCluster of ``n_workers`` single-threaded processes on 127.0.0.1 (no dashboard),
    their ``MALLOC_TRIM_THRESHOLD_`` set from ``scale.dask.malloc_trim_threshold``
    (:data:`MALLOC_TRIM_THRESHOLD`; empty: Dask's own). A cluster you start yourself
    (``--address``) keeps its own setting."""
    import dask  # noqa: PLC0415 (optional: dask engine only)
    from distributed import LocalCluster  # noqa: PLC0415

    cfg = dask_settings(params or {})
    trim = cfg["malloc_trim_threshold"]
    # read when each Nanny is built, kept for its worker's restarts (must be set pre-spawn)
    env = {} if trim is None else {TRIM_KEY: int(trim)}
    with dask.config.set(env):
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=int(cfg["threads_per_worker"]),
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0" if cfg["dashboard"] else None,
            memory_limit=cfg["memory_limit"],
        )


def run_dask(
    videos: list[tuple[str, str]],
    params: dict,
    cache_dir: str,
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    client=None,
) -> pd.DataFrame:
    """Extract ``videos`` [(video_id, path)] on a Dask cluster into ``cache_dir``.

    address: ``tcp://host:8786`` of a running scheduler; None (and no ``scale.dask.address``)
        starts a LocalCluster on 127.0.0.1 with ``workers`` processes (None: params
        ``scale.dask.n_workers``, then ``features.workers``; 0 = all cores) for this call.
    client: an existing ``distributed.Client`` to use instead (not closed here).
    cache_dir: a folder every worker can write (a shared path on a real cluster) or an
        fsspec URL. Video paths must be readable by the workers under the same path.

    Returns one row per input video, in input order: video_id, status (cached |
    extracted | failed), reason, seconds, worker, plus extract_one's own keys.
    """
    ids = [v for v, _ in videos]
    dup = sorted({v for v in ids if ids.count(v) > 1})
    if dup:
        raise ValueError(f"duplicate video ids in the extraction list: {dup[:5]}")
    remote = remote_cache.is_remote(cache_dir)
    cache = str(cache_dir) if remote else str(remote_cache.local_dir(cache_dir).resolve())
    if not remote:
        os.makedirs(cache, exist_ok=True)
    rows, todo = _split_cached(videos, params, cache)
    log.info(
        "dask engine: %d videos, %d already cached, %d to extract",
        len(videos),
        len(rows),
        len(todo),
    )
    if not todo:
        return _table(ids, rows)

    cfg = dask_settings(params)
    address = address or cfg["address"]
    own_cluster = own_client = None
    failures: list[dict] = []
    try:
        if client is None:
            client, own_client, own_cluster = _connect(address, workers, params)
        log.info("dask engine: scheduler %s", client.scheduler.address)
        futures = _submit(client, todo, params, cache, remote, int(cfg["retries"]))
        _collect(futures, rows, failures, cache, remote, progress)
    finally:
        remote_cache.append_failures(cache, failures)
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
    return _table(ids, rows)


def _split_cached(
    videos: list[tuple[str, str]], params: dict, cache: str
) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """(status rows of the videos already cached, [(video_id, absolute path)] to extract)."""
    chash = config_hash_of(params)
    rows: dict[str, dict] = {}
    todo: list[tuple[str, str]] = []
    for vid, path in videos:
        if remote_cache.is_cached(cache, vid, chash, source=path):
            rows[vid] = _normalise(vid, {"status": "cached", "seconds": 0.0})
        else:
            todo.append((vid, _absolute(str(path))))
    return rows, todo


def _connect(address: str | None, workers: int | None, params: dict):
    """``(client, own_client, own_cluster)``: a Client of ``address``, else of a new
    LocalCluster; the ``own_*`` ones are closed by the caller."""
    from distributed import Client  # noqa: PLC0415 (optional: dask engine only)

    if address:
        client = Client(address)
        return client, client, None
    cluster = start_local_cluster(_n_workers(workers, params), params)
    client = Client(cluster)
    return client, client, cluster


def _submit(
    client, todo: list[tuple[str, str]], params: dict, cache: str, remote: bool, retries: int
) -> dict[str, tuple[str, str, Any]]:
    """One task per video; ``{future key: (video_id, path, future)}``."""
    futures = {}
    for vid, path in todo:
        fut = client.submit(
            _task,
            vid,
            path,
            params,
            cache,
            remote,
            pure=False,
            key=f"tqa-extract-{vid}-{time.monotonic_ns()}",
            retries=retries,
        )
        futures[fut.key] = (vid, path, fut)
    return futures


def _collect(
    futures: dict[str, tuple[str, str, Any]],
    rows: dict[str, dict],
    failures: list[dict],
    cache: str,
    remote: bool,
    progress: bool,
) -> None:
    """Fill ``rows`` (and ``failures``) as tasks finish; cancel the rest on any error."""
    from distributed import as_completed  # noqa: PLC0415 (optional: dask engine only)

    bar = tqdm(total=len(futures), desc="extract (dask)", unit="video", disable=not progress)
    try:
        for fut in as_completed([f for _, _, f in futures.values()]):
            vid, path, _ = futures[fut.key]
            if fut.status == "error":
                exc = fut.exception()
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("video %s (%s) failed on the cluster: %s", vid, path, reason)
                rows[vid] = _normalise(vid, {"status": "failed", "reason": reason})
                failures.append(failure_row(vid, path, "task", reason))
                if not remote:  # nothing stale may stay behind a failed re-extraction
                    remove_stale(cache, vid)
            else:
                rows[vid] = _normalise(vid, fut.result())
                if remote and rows[vid]["status"] == "failed":
                    # the worker's own failures.csv was in its temporary folder
                    stage = rows[vid].get("stage", "extract")
                    failures.append(failure_row(vid, path, stage, rows[vid]["reason"]))
            fut.release()
            bar.update(1)
    except BaseException:
        for _, _, f in futures.values():
            f.cancel()
        raise
    finally:
        bar.close()


def _table(ids: list[str], rows: dict[str, dict]) -> pd.DataFrame:
    table = pd.DataFrame([rows[v] for v in ids if v in rows])
    for col in STATUS_COLUMNS:
        if col not in table:
            table[col] = pd.Series(dtype=object)
    front = list(STATUS_COLUMNS)
    return table[front + [c for c in table.columns if c not in front]]


@register_engine("dask")
def run(job: Job) -> pd.DataFrame:
    """Engine entry point (see :mod:`tqa.features.engines`): :func:`run_dask` on ``job``."""
    return job.run_with(run_dask)
