"""Extraction engines: where the per-video task :func:`tqa.features.pipeline.extract_one` runs.

Every engine runs the SAME per-video task and writes the SAME resumable cache (one
``<video_id>.npz`` per video, see :mod:`tqa.features.cache`); they differ only in where
the work happens:

* ``local`` — :meth:`FeatureExtractor.run`: a process pool on this machine
  (``features.workers``, 0 = all cores).
* ``dask`` — a Dask ``distributed`` cluster (:mod:`tqa.features.engines.dask_engine`): an existing
  scheduler address (``tcp://host:8786``) or a LocalCluster on 127.0.0.1.

An engine is ONE file, ``tqa/features/engines/<name>_engine.py``, that defines::

    run(videos, params, cache_dir, *, address=None, workers=None, progress=True) -> pd.DataFrame

``videos`` is a list of ``(video_id, path)``; the returned table has one row per video
(``video_id``, ``status`` in {cached, extracted, failed}, ``reason``, ...). ``cache_dir``
may be a local path or an fsspec URL (:mod:`tqa.features.engines.remote_cache`). A Ray engine,
say, would be ``tqa/features/engines/ray_engine.py``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pandas as pd

from tqa.core.registry import Registry


class Engine(Protocol):
    """Signature every engine's ``run`` function follows."""

    def __call__(
        self,
        videos: list[tuple[str, str]],
        params: dict,
        cache_dir: str,
        *,
        address: str | None = None,
        workers: int | None = None,
        progress: bool = True,
    ) -> pd.DataFrame: ...


#: name -> engine ``run`` function; one ``<name>_engine.py`` module here registers each.
#: Plug-ins: entry-point group ``tqa.engines``.
ENGINES: Registry[Callable[..., pd.DataFrame]] = Registry(
    "extraction engine", package="tqa.features.engines", entry_point_group="tqa.engines"
)


def available_engines() -> list[str]:
    """Names of the registered engines."""
    return ENGINES.names()


def get_engine(name: str) -> Callable[..., pd.DataFrame]:
    """The ``run`` function of engine ``name`` (``local``, ``dask``, ...)."""
    return ENGINES.get(name)


__all__ = ["ENGINES", "Engine", "available_engines", "get_engine"]
