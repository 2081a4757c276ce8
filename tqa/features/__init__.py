"""Feature extraction: one registered extractor per file (see tqa.features.base).

Built-in modules are imported here so that they register themselves; a module whose
optional dependency is missing is skipped (its extractor is then simply unavailable).
"""
from __future__ import annotations

import importlib
import logging

from tqa.features.base import Clip, Extractor, available, get_extractor, register

_BUILTIN = (
    "visual_nss", "visual_resnet", "audio_spectral", "audio_hubert",
    "landmarks_mediapipe", "au_geometry", "au_openface", "sync_correlation", "sync_syncnet",
)

for _mod in _BUILTIN:
    try:
        importlib.import_module(f"tqa.features.{_mod}")
    except ModuleNotFoundError as exc:  # module not written yet or optional dependency absent
        if exc.name != f"tqa.features.{_mod}":
            logging.getLogger(__name__).debug("extractor module %s unavailable: %s", _mod, exc)

__all__ = ["Clip", "Extractor", "available", "get_extractor", "register"]
