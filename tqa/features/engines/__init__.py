"""Extraction engines: where the per-video task :func:`tqa.features.pipeline.extract_one` runs.

Every engine runs the SAME per-video task and writes the SAME resumable cache (one
``<video_id>.npz`` per video, see :mod:`tqa.features.cache`); they differ only in where
the work happens:

* ``local`` — :meth:`FeatureExtractor.run`: a process pool on this machine
  (``features.workers``, 0 = all cores).
* ``dask`` — a Dask ``distributed`` cluster (:mod:`tqa.features.engines.dask_engine`): an existing
  scheduler address (``tcp://host:8786``) or a LocalCluster on 127.0.0.1.

An engine is ONE file, ``tqa/features/engines/<name>_engine.py``, whose ``run`` is called as::

    run(videos, params, cache_dir, *, address=None, workers=None, progress=True) -> pd.DataFrame

``videos`` is a list of ``(video_id, path)``; the returned table has one row per video
(``video_id``, ``status`` in {cached, extracted, failed}, ``reason``, ...). ``cache_dir``
may be a local path or an fsspec URL (:mod:`tqa.features.engines.remote_cache`). Those
arguments are the fields of :class:`Job`; an engine written as ``run(job)`` and decorated
with :func:`register_engine` gets them as one :class:`Job`. A Ray engine, say, would be
``tqa/features/engines/ray_engine.py``; nothing else changes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any

import pandas as pd

from tqa.core.registry import Registry

#: An engine's ``run``: called with the fields of :class:`Job` (see the module docstring).
Engine = Callable[..., pd.DataFrame]


@dataclass(frozen=True)
class Job:
    """One extraction request: the arguments of every engine's ``run``, in order.

    Spelt once here so that the engines, :func:`tqa.features.engines.cli.run_engine` and
    :func:`register_engine` cannot drift apart.
    """

    videos: list[tuple[str, str]]
    params: dict
    cache_dir: str
    _: KW_ONLY
    address: str | None = None
    workers: int | None = None
    progress: bool = True

    def run_with(self, run: Engine) -> pd.DataFrame:
        """Call ``run`` (any engine's, plug-ins included) with this job's arguments."""
        options = {"address": self.address, "workers": self.workers, "progress": self.progress}
        return run(self.videos, self.params, self.cache_dir, **options)


#: name -> engine ``run`` function; one ``<name>_engine.py`` module here registers each.
#: Plug-ins: entry-point group ``tqa.engines``.
ENGINES: Registry[Engine] = Registry(
    "extraction engine", package="tqa.features.engines", entry_point_group="tqa.engines"
)


def register_engine(name: str) -> Callable[[Callable[[Job], pd.DataFrame]], Engine]:
    """Decorator: register ``impl(job)`` as engine ``name``; what it returns (and registers)
    is called with the engine arguments and hands ``impl`` the :class:`Job` they make."""

    def deco(impl: Callable[[Job], pd.DataFrame]) -> Engine:
        def run(*args: Any, **kwargs: Any) -> pd.DataFrame:
            return impl(Job(*args, **kwargs))

        functools.update_wrapper(run, impl)  # impl's name and docstring, Job's signature
        signature = inspect.signature(Job).replace(return_annotation="pd.DataFrame")
        run.__signature__ = signature  # type: ignore[attr-defined]
        return ENGINES.register(name)(run)

    return deco


def available_engines() -> list[str]:
    """Names of the registered engines."""
    return ENGINES.names()


def get_engine(name: str) -> Engine:
    """The ``run`` function of engine ``name`` (``local``, ``dask``, ...)."""
    return ENGINES.get(name)


__all__ = ["ENGINES", "Engine", "Job", "available_engines", "get_engine", "register_engine"]
