"""Extractor interface and registry (chapter 3.2.2).

Every extractor is one file under ``tqa/features/extractors/`` that subclasses :class:`Extractor`
(or :class:`ColumnExtractor`, when its columns are a fixed list of labels) and is registered
with :func:`register`; ``params.yaml`` selects one per modality by name
(``features.visual: nss``). Adding an extractor is adding one file: name, modality, version,
``extract`` and, when options change its output, :meth:`Extractor.options`.

Run order inside one video is fixed by :data:`RUN_ORDER`: landmarks first, because the
face box (visual face crop), the AU geometry estimates and the lip-sync mouth signal
are all read from the landmark context.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from tqa.core.clip import Clip
from tqa.core.registry import Registry, RegistryError
from tqa.features.audio_level import at_level

_STATE = threading.local()


@contextlib.contextmanager
def random_init_allowed(enabled: bool = True) -> Iterator[None]:
    """Within this block neural extractors built by name (``get_extractor``, ``FeatureExtractor``)
    accept missing weights and use seeded random init (tests and benchmarks only).

    Defined here, not in :mod:`tqa.features.extractors.neural`, so that the pipeline can use it
    without importing torch (weight-free extraction workers never load torch).
    """
    old = getattr(_STATE, "allow", False)
    _STATE.allow = bool(enabled) or old
    try:
        yield
    finally:
        _STATE.allow = old


def random_init_is_allowed() -> bool:
    """True inside a :func:`random_init_allowed` block (of this thread)."""
    return bool(getattr(_STATE, "allow", False))


#: Order in which one video's extractors run; later ones read ``context``.
RUN_ORDER: tuple[str, ...] = ("landmarks", "visual", "audio", "au", "sync")


class Extractor(ABC):
    """One feature stream for one modality.

    Subclasses set ``name`` (registry key), ``modality`` (one of MODALITIES or
    ``"sync"``), ``dim`` (a class attribute or a property) and, once their outputs have
    changed, ``version`` (it keys the cache; ``"1"`` until then), and implement
    :meth:`extract`. Per-frame extractors return float32 (T, dim) with NaN
    rows for frames they could not process; the ``sync`` extractor returns float32
    (3,) in SYNC_FIELDS order.
    """

    name: ClassVar[str]
    modality: ClassVar[str]
    #: bumped (from "1") whenever the outputs change, so that older cache files are stale
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
        """Column names of the output, ``<modality>__...`` (D of them)."""
        return [f"{self.modality}__{self.name}_{i}" for i in range(self.dim)]

    @abstractmethod
    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        """Features of one clip; may read and add entries to ``context``."""

    def options(self) -> dict[str, Any]:
        """The settings that change this extractor's output (they key the cache via
        :meth:`describe`); none by default."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Provenance written into every cache file and report: name, modality, version, dim,
        then :meth:`options`."""
        return {
            "name": self.name,
            "modality": self.modality,
            "version": self.version,
            "dim": self.dim,
            **self.options(),
        }

    def no_output(self, clip: Clip) -> np.ndarray:
        """All-NaN output for a clip this extractor cannot measure (no audio, no face):
        float32 (T, dim), or (dim,) for ``sync``."""
        shape = (self.dim,) if self.modality == "sync" else (clip.n_frames, self.dim)
        return np.full(shape, np.nan, np.float32)


class ColumnExtractor(Extractor):
    """An extractor whose columns are a fixed list of labels: ``dim`` and ``feature_names``
    follow from :attr:`columns` and :attr:`column_name` (``"au__{}_est"``)."""

    #: The output columns' labels, in order.
    columns: tuple[str, ...]
    #: Format of one feature name, ``{}`` standing for the column's label.
    column_name: ClassVar[str]

    @property
    def dim(self) -> int:
        return len(self.columns)

    def feature_names(self) -> list[str]:
        return [self.column_name.format(c) for c in self.columns]


def as_heard(ext: Extractor, clip: Clip) -> Clip:
    """``clip`` with its audio at the level ``ext``'s params ask for
    (``features.audio_level_dbfs``, :func:`tqa.features.audio_level.at_level`); every path
    that runs an extractor on a clip passes it through here (:func:`run_extractor`, the GPU
    path's batched neural forwards)."""
    return at_level(clip, ext.params.get("audio_level_dbfs"))


def run_extractor(ext: Extractor, clip: Clip, context: dict[str, Any]) -> np.ndarray:
    """float32 output of ``ext`` on ``clip``, with BLAS / OpenMP on one thread.

    Every path that fills the feature cache calls this (``FeatureExtractor.extract_clip``,
    the GPU extractor's CPU stage, the defect benchmark's memoised extraction), so they write
    the same bits: with more threads a few audio values moved by several rounding steps of
    the cache (0.23 % of a test's audio stream, 2 threads vs 1), i.e. the features depended
    on the machine's core count. Parallelism comes from worker processes instead.

    The clip's audio is first brought to ``features.audio_level_dbfs``
    (:func:`tqa.features.audio_level.at_level`): playback volume is not quality, and all
    these paths must hear the same level.
    """
    clip = as_heard(ext, clip)
    with threadpool_limits(limits=1):
        return np.asarray(ext.extract(clip, context), np.float32)


def valid_frames(clip: Clip) -> np.ndarray:
    """bool (T,): the frames decoded from the source (False: padding of a short clip)."""
    return np.asarray(clip.meta.get("valid_frames", np.ones(clip.n_frames, bool)), bool)


#: ``landmarks_from``'s hint for extractors that read the Face Mesh landmarks' context.
MEDIAPIPE_FIRST = " (features.landmarks: mediapipe runs first)"


def landmarks_from(clip: Clip, context: dict[str, Any], needs: str, hint: str = "") -> Any:
    """``context["landmarks_px"]``, put there by the landmark extractor (it runs first); a
    RuntimeError ``"<clip path>: <needs> context['landmarks_px'] from a landmark
    extractor<hint>"`` when it is missing."""
    lm = context.get("landmarks_px")
    if lm is None:
        raise RuntimeError(
            f"{clip.path}: {needs} context['landmarks_px'] from a landmark extractor{hint}"
        )
    return lm


#: name -> extractor class (names are unique across modalities). Built-ins: one module of
#: ``tqa.features.extractors`` each; plug-ins: entry-point group ``tqa.extractors``.
EXTRACTORS: Registry[type[Extractor]] = Registry(
    "extractor", package="tqa.features.extractors", entry_point_group="tqa.extractors"
)


def register(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator: make ``cls`` selectable as ``features.<modality>: <name>``."""
    EXTRACTORS.add(cls.name, cls)
    return cls


def available(modality: str | None = None) -> dict[str, list[str]]:
    """Registered extractor names, per modality."""
    by_mod: dict[str, list[str]] = {}
    for name, cls in EXTRACTORS.items().items():
        by_mod.setdefault(cls.modality, []).append(name)
    mods = [modality] if modality else sorted(by_mod)
    return {m: sorted(by_mod.get(m, [])) for m in mods}


#: Joins extractor names whose columns are stacked into one stream (``visual: nss+brisque``).
STACK_SEP = "+"


class StackedExtractor(Extractor):
    """Several extractors of one modality run in order; their columns are concatenated.

    ``features.audio: spectral+dnsmos`` gives the spectral columns, then the DNSMOS columns,
    as one audio stream (the model's four streams stay four). Parts share ``context``.
    """

    def __init__(self, modality: str, parts: list[Extractor], params: dict | None = None) -> None:
        super().__init__(params)
        self.parts = parts
        self.name = STACK_SEP.join(p.name for p in parts)  # type: ignore[misc]
        self.modality = modality  # type: ignore[misc]
        self.version = STACK_SEP.join(p.version for p in parts)  # type: ignore[misc]
        self.needs_weights = any(p.needs_weights for p in parts)  # type: ignore[misc]

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    def feature_names(self) -> list[str]:
        return [n for p in self.parts for n in p.feature_names()]

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        outs = [np.asarray(p.extract(clip, context), np.float32) for p in self.parts]
        return np.concatenate([o.reshape(clip.n_frames, -1) for o in outs], axis=1)

    def options(self) -> dict[str, Any]:
        # parts with sorted keys: the same text as after a JSON round trip (bundle checks
        # compare the str of each field)
        return {"parts": [dict(sorted(p.describe().items())) for p in self.parts]}


def get_extractor(modality: str, name: str, params: dict | None = None) -> Extractor:
    """Instantiate the registered extractor ``name`` for ``modality`` (``a+b``: stacked)."""
    if STACK_SEP in name:
        if modality == "sync":
            raise RegistryError(f"the sync extractor cannot be stacked: {name!r}")
        parts = [get_extractor(modality, n.strip(), params) for n in name.split(STACK_SEP)]
        return StackedExtractor(modality, parts, params)
    cls = EXTRACTORS.get(name)
    if cls.modality != modality:
        raise RegistryError(
            f"extractor {name!r} is a {cls.modality!r} extractor, not {modality!r}; "
            f"{modality} extractors: {available(modality)[modality]}"
        )
    return cls(params)


Factory = Callable[[dict | None], Extractor]
