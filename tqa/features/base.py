"""Extractor interface and registry (chapter 3.2.2).

Every extractor is one file under ``tqa/features/`` that subclasses :class:`Extractor`
and is registered with :func:`register`; ``params.yaml`` selects one per modality by
name (``features.visual: nss``). Adding an extractor is adding one file.

Run order inside one video is fixed by :data:`RUN_ORDER`: landmarks first, because the
face box (visual face crop), the AU geometry estimates and the lip-sync mouth signal
are all read from the landmark context.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

#: Order in which one video's extractors run; later ones read ``context``.
RUN_ORDER: tuple[str, ...] = ("landmarks", "visual", "audio", "au", "sync")


@dataclass
class Clip:
    """One decoded video on the common grid.

    frames: uint8 (T, H, W, 3) RGB, T = grid frames (150) at ``fps`` (25 Hz).
    audio: float32 (S,) mono in [-1, 1] at ``sample_rate`` Hz, S = T / fps * sample_rate
        (zeros and ``has_audio=False`` when the file has no audio track).
    """

    video_id: str
    path: str
    frames: np.ndarray
    audio: np.ndarray
    fps: float = 25.0
    sample_rate: int = 16000
    has_audio: bool = True
    source_fps: float | None = None
    source_frames: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


class Extractor(ABC):
    """One feature stream for one modality.

    Subclasses set ``name`` (registry key), ``modality`` (one of MODALITIES or
    ``"sync"``), ``version`` (bump when outputs change: it keys the cache) and
    implement :meth:`extract`. Per-frame extractors return float32 (T, dim) with NaN
    rows for frames they could not process; the ``sync`` extractor returns float32
    (3,) in SYNC_FIELDS order.
    """

    name: ClassVar[str]
    modality: ClassVar[str]
    version: ClassVar[str] = "1"
    #: True when the extractor needs weights on disk / a neural network.
    needs_weights: ClassVar[bool] = False

    def __init__(self, params: dict | None = None) -> None:
        #: the ``features`` section of params.yaml
        self.params = params or {}

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature width D (3 for sync)."""

    def feature_names(self) -> list[str]:
        return [f"{self.modality}__{self.name}_{i}" for i in range(self.dim)]

    @abstractmethod
    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        """Features of one clip; may read and add entries to ``context``."""

    def describe(self) -> dict[str, Any]:
        """Provenance written into every cache file and report."""
        return {"name": self.name, "modality": self.modality, "version": self.version, "dim": self.dim}


_REGISTRY: dict[str, dict[str, type[Extractor]]] = {}


def register(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator: make ``cls`` selectable as ``features.<modality>: <name>``."""
    _REGISTRY.setdefault(cls.modality, {})[cls.name] = cls
    return cls


def available(modality: str | None = None) -> dict[str, list[str]]:
    """Registered extractor names, per modality."""
    _load_builtin()
    mods = [modality] if modality else sorted(_REGISTRY)
    return {m: sorted(_REGISTRY.get(m, {})) for m in mods}


def get_extractor(modality: str, name: str, params: dict | None = None) -> Extractor:
    """Instantiate the registered extractor ``name`` for ``modality``."""
    _load_builtin()
    try:
        cls = _REGISTRY[modality][name]
    except KeyError:
        raise KeyError(
            f"no {modality!r} extractor named {name!r}; available: {available().get(modality, [])}"
        ) from None
    return cls(params)


def _load_builtin() -> None:
    # Importing the package registers every built-in extractor module.
    import tqa.features  # noqa: F401


Factory = Callable[[dict | None], Extractor]
