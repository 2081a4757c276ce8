"""The CPU stage of batched extraction (chapter 3.2.2): decoding and the weight-free
extractors, kept off the critical path of the neural forwards.

* :class:`CpuStage`: one decoded clip with its weight-free outputs, or the error that stopped
  it (picklable, so worker processes can return it).
* :func:`in_order`: results of a pool (threads or processes) in input order, with a bounded
  look-ahead of submitted tasks; a worker that dies fails only its video.
* :func:`group_steps`: staged videos grouped into steps of ``clips_per_step`` good clips
  (failed ones ride along to be recorded).
* :func:`staged_in_process` / :func:`staged_in_pool`: where the stage runs: decoding threads
  ahead of this process's weight-free extractors, or ``n`` spawn processes doing both.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tqa.core.interrupt import abort_pool, ignore_sigint
from tqa.core.malloc import keep_large_buffers
from tqa.features.config import features_section
from tqa.features.decode import MediaError
from tqa.features.extractors.base import Clip
from tqa.features.pipeline import ExtractionError

#: (video_id, path, its CPU stage): what the CPU stage yields per video.
Staged = tuple[str, str, "CpuStage"]


@dataclass
class CpuStage:
    """A decoded clip with its weight-free streams (stage 1), or the error that stopped it."""

    clip: Clip | None = None
    context: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: ExtractionError | None = None

    def __getstate__(
        self,
    ) -> dict[str, Any]:  # ExtractionError(stage, reason) does not unpickle by itself
        state = dict(self.__dict__)
        if self.error is not None:
            state["error"] = (self.error.stage, self.error.reason)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("error") is not None:
            state["error"] = ExtractionError(*state["error"])
        self.__dict__.update(state)


def in_order(
    pool: Executor,
    todo: list[tuple[str, str]],
    fn: Callable[[str, str], Any],
    ahead: int,
    convert: Callable[[Any], CpuStage],
) -> Iterator[Staged]:
    """Results of ``fn(vid, path)`` in input order, ``ahead`` tasks submitted in advance."""
    futures: list[tuple[str, str, Future]] = []
    it = iter(todo)
    for vid, path in it:
        futures.append((vid, path, pool.submit(fn, vid, path)))
        if len(futures) >= ahead:
            break
    while futures:
        vid, path, fut = futures.pop(0)
        nxt = next(it, None)
        if nxt is not None:
            futures.append((nxt[0], nxt[1], pool.submit(fn, *nxt)))
        try:
            yield vid, path, convert(fut.result())
        except Exception as exc:  # a worker died (native crash): that video failed
            yield (
                vid,
                path,
                CpuStage(error=ExtractionError("worker", f"{type(exc).__name__}: {exc}")),
            )


def group_steps(staged: Iterator[Staged], clips_per_step: int) -> Iterator[list[Staged]]:
    """Consecutive staged videos, cut after every ``clips_per_step`` clips without error."""
    step: list[Staged] = []
    for item in staged:
        step.append(item)
        if sum(st.error is None for _, _, st in step) >= clips_per_step:
            yield step
            step = []
    if step:
        yield step


def decode(ext: Any, vid: str, path: str) -> Clip | ExtractionError:
    """``ext.load(path, vid)`` timed into ``clip.meta["_decode_s"]``, or the error as a value
    (one file's problem: the run goes on)."""
    try:
        t0 = time.perf_counter()
        clip = ext.load(path, vid)
        clip.meta["_decode_s"] = time.perf_counter() - t0
        return clip
    except MediaError as exc:
        return ExtractionError("decode", exc.reason)
    except Exception as exc:  # noqa: BLE001 - one file's problem
        return ExtractionError("decode", f"{type(exc).__name__}: {exc}")


def staged_in_process(ext: Any, todo: list[tuple[str, str]]) -> Iterator[Staged]:
    """Stage 1 here: ``ext.prefetch`` clips decoded ahead by ``ext.decode_threads`` background
    threads, ``ext.weight_free`` extractors in this process (one Face Mesh)."""

    def as_stage(item: Clip | ExtractionError) -> CpuStage:
        return CpuStage(error=item) if isinstance(item, ExtractionError) else ext.weight_free(item)

    with ThreadPoolExecutor(
        max_workers=ext.decode_threads, thread_name_prefix="tqa-decode"
    ) as pool:
        yield from in_order(
            pool, todo, lambda vid, path: decode(ext, vid, path), ext.prefetch, as_stage
        )


def staged_in_pool(ext: Any, todo: list[tuple[str, str]], n_workers: int) -> Iterator[Staged]:
    """Stage 1 in ``n_workers`` spawn processes (decode + weight-free extractors), each with
    its own CPU copy of ``ext`` (built by ``type(ext)`` from ``ext.params``)."""
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=n_workers,
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(type(ext), ext.params, ext.allow_random_init),
    )
    try:
        yield from in_order(pool, todo, cpu_stage, max(ext.prefetch, 2 * n_workers), lambda st: st)
    except BaseException:  # Ctrl-C / generator closed early: stop the workers now
        abort_pool(pool)
        raise
    pool.shutdown(wait=True)


_WORKER: dict[str, Any] = {}


def _worker_init(factory: Callable[..., Any], params: dict, allow_random_init: bool) -> None:
    ignore_sigint()  # Ctrl-C: the parent cancels and terminates the pool
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    keep_large_buffers(features_section(params).get("malloc_threshold"))
    _WORKER["x"] = factory(params, device="cpu", allow_random_init=allow_random_init)


def cpu_stage(vid: str, path: str) -> CpuStage:
    """Decode + weight-free extractors of one video in a worker process (picklable task)."""
    ext = _WORKER["x"]
    clip = decode(ext, vid, path)
    if isinstance(clip, ExtractionError):
        return CpuStage(error=clip)
    return ext.weight_free(clip)
