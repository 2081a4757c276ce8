"""Ctrl-C with worker processes: the parent decides, the workers stay silent, nothing is lost.

Ctrl-C sends SIGINT to the whole foreground process group: the ``tqa`` process and every
worker it started. The rules every pool of the package follows:

* **Workers ignore SIGINT** (:func:`ignore_sigint`, called first in every pool initializer):
  they never print a ``KeyboardInterrupt`` traceback; the parent cancels the queue and
  terminates them (:func:`abort_pool`).
* **Workers are started inside** :func:`sigint_deferred`: the calling thread blocks SIGINT, so
  a spawned worker starts with SIGINT blocked (the signal mask survives ``fork`` and ``exec``)
  until its initializer ignores it and unblocks it: a Ctrl-C during its imports stays pending
  and is then discarded, with no traceback. In the parent a Ctrl-C during that window is
  *recorded*, not dropped, and raised as ``KeyboardInterrupt`` as soon as the workers are
  started (an older version set ``SIG_IGN`` for the window and so lost the Ctrl-C).
* A Ctrl-C is process-directed: the kernel may hand it to any thread that does not block it
  (a BLAS or torch thread). That thread only marks it; the main thread runs the Python handler
  at its next check: inside the window it is recorded, after the window the restored handler
  raises it, milliseconds late but never lost.
* ``tqa`` returns :data:`EXIT_INTERRUPTED` (130 = 128 + SIGINT) after keeping every finished item.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT, what a shell reports).
EXIT_INTERRUPTED = 130

_SIGINT = {signal.SIGINT}


def ignore_sigint() -> None:
    """In a worker process: ignore SIGINT, then unblock it (a Ctrl-C that arrived while the
    worker started is pending; ignoring a pending signal discards it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Start worker processes inside this: they inherit a blocked SIGINT, and a Ctrl-C that
    reaches this process meanwhile is raised as ``KeyboardInterrupt`` on leaving the block.

    Outside the main thread (signals are not ours to change) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def record(signum: int, frame: Any) -> None:
        caught.append(signum)

    prev = signal.signal(signal.SIGINT, record)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGINT)
    try:
        yield
    finally:
        # unblock first: a SIGINT pending on this thread is delivered now, to ``record``
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)
        signal.signal(signal.SIGINT, prev)
    if caught:  # deliver it now, as it would have been
        if callable(prev):
            prev(signal.SIGINT, None)
        elif prev == signal.SIG_DFL:
            raise KeyboardInterrupt


def abort_pool(pool: Any) -> None:
    """Stop a ``concurrent.futures.ProcessPoolExecutor`` now: queued tasks cancelled, worker
    processes terminated (``shutdown(wait=True)``, what ``with`` does, would finish every
    queued task first)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=2)
        if proc.is_alive():
            proc.kill()
