"""Extraction engines: where the per-video task :func:`tqa.features.pipeline.extract_one` runs.

Every engine runs the SAME per-video task and writes the SAME resumable cache (one
``<video_id>.npz`` per video, see :mod:`tqa.features.cache`); they differ only in where
the work happens (issue #8):

* ``local`` — :meth:`FeatureExtractor.run`: a process pool on this machine
  (``features.workers``, 0 = all cores).
* ``dask`` — a Dask ``distributed`` cluster (:mod:`tqa.engines.dask_engine`): an existing
  scheduler address (``tcp://host:8786``) or a LocalCluster on 127.0.0.1.

An engine is ONE file, ``tqa/engines/<name>_engine.py``, that defines::

    run(videos, params, cache_dir, *, address=None, workers=None, progress=True) -> pd.DataFrame

``videos`` is a list of ``(video_id, path)``; the returned table has one row per video
(``video_id``, ``status`` in {cached, extracted, failed}, ``reason``, ...). ``cache_dir``
may be a local path or an fsspec URL (:mod:`tqa.engines.remote_cache`). A Ray engine,
say, would be ``tqa/engines/ray_engine.py``; nothing else changes.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Callable, Protocol

import pandas as pd


class Engine(Protocol):
    """Signature every engine's ``run`` function follows."""

    def __call__(self, videos: list[tuple[str, str]], params: dict, cache_dir: str, *,
                 address: str | None = None, workers: int | None = None,
                 progress: bool = True) -> pd.DataFrame: ...


_SUFFIX = "_engine"


def available_engines() -> list[str]:
    """Names of the engines shipped in this package (one ``<name>_engine.py`` each)."""
    here = str(Path(__file__).parent)
    return sorted(m.name[: -len(_SUFFIX)] for m in pkgutil.iter_modules([here]) if m.name.endswith(_SUFFIX))


def get_engine(name: str) -> Callable[..., pd.DataFrame]:
    """The ``run`` function of engine ``name`` (``local``, ``dask``, ...).

    Imported lazily so that ``local`` never needs ``distributed`` and a missing optional
    dependency only breaks the engine that needs it, with a message saying so.
    """
    if name not in available_engines():
        raise KeyError(f"no extraction engine named {name!r}; available: {available_engines()}")
    try:
        module = importlib.import_module(f"tqa.engines.{name}{_SUFFIX}")
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"engine {name!r} needs the package {exc.name!r}, which is not installed "
            f"(pip install it into the environment of the driver AND the workers)"
        ) from exc
    return module.run


__all__ = ["Engine", "available_engines", "get_engine"]
