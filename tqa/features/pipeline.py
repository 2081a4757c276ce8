"""FeatureExtractor: videos -> cached per-frame streams on the 150 x 25 fps grid (chapter 3.2.2).

One extractor per modality is built from ``params["features"]`` (registry names, see
:mod:`tqa.features.extractors.base`) and run in ``RUN_ORDER`` on each decoded clip
(:func:`tqa.features.decode.load_clip`); the result goes to ``<cache_dir>/<video_id>.npz``
(:mod:`tqa.features.cache`).

* Resumable: videos whose cache file carries the current :attr:`FeatureExtractor.config_hash`
  are skipped; every file is written atomically, so a killed run loses at most the videos
  in flight.
* Failures never stop a batch: the video is logged, appended to
  ``<cache_dir>/failures.csv`` (video_id, file, stage, reason, time), an older
  ``<video_id>.npz`` of it is deleted (nothing stale stays behind) and the run goes on.
  Videos without an audio track or with a face-detection rate below 0.5 are logged as
  warnings naming the file (status rows, failures and warnings: :mod:`tqa.features.status`).
* Parallel: ``workers`` processes (``features.workers``; 0 = all cores) in a
  ``ProcessPoolExecutor`` with the *spawn* start method (:mod:`tqa.features.pool`;
  MediaPipe / torch are not fork-safe); each worker keeps one FeatureExtractor (one
  FaceMesh) for all its videos.
  ``workers=1`` runs in this process. The per-video task is the module-level, picklable
  :func:`extract_one`, which other engines (``tqa.features.engines``, Dask) call too.
* Every stream and the sync triple are rounded to ``features.quantize_bits`` mantissa bits
  (:mod:`tqa.features.quantize`) before the NaN masks, the cache and any caller see them, so
  last-bit float noise of another CPU does not reach the cache (issue 23).
* Padded frames (clips shorter than 6 s, ``clip.meta["valid_frames"]`` False) get NaN in
  every per-frame stream; frames the audio track does not reach (``clip.meta["audio_frames"]``
  False) get NaN in the audio stream.
* The cache key and the extractors a params file selects: :mod:`tqa.features.config`.

CLI: ``tqa extract [--params params.yaml] [--root DIR] [--cache DIR] [--workers N] [--list]``.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tqa.core.interrupt import ignore_sigint
from tqa.core.malloc import keep_large_buffers
from tqa.core.params import params_hash
from tqa.core.version import __version__
from tqa.features import cache as fcache
from tqa.features.config import build_extractors, features_section, hash_config
from tqa.features.decode import MediaError, load_clip_params
from tqa.features.extractors.base import Clip, Extractor, run_extractor, valid_frames
from tqa.features.float_noise import noise_level, perturbed
from tqa.features.pool import resolve_workers, run_pool
from tqa.features.quantize import quantize_mantissa
from tqa.features.status import (
    ExtractionInterrupted,
    extracted_fields,
    interrupted_table,
    record_failure,
    status_row,
    warn_quality,
)

log = logging.getLogger(__name__)


@dataclass
class VideoFeatures:
    """Features of one video: streams modality -> float32 (T, D), sync float32 (3,), meta."""

    video_id: str
    streams: dict[str, np.ndarray]
    sync: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunPlan:
    """What one :meth:`FeatureExtractor.run` has to do (:meth:`FeatureExtractor.plan_run`)."""

    videos: list[tuple[str, str]]
    #: the cache folder
    cache_dir: Path
    #: status rows by video id: the videos cached already (this config, same source
    #: content), then each one as it finishes
    rows: dict[str, dict[str, Any]]
    #: the (video_id, path) list still to extract
    todo: list[tuple[str, str]]
    #: worker processes for it
    n_workers: int


class ExtractionError(RuntimeError):
    """One video failed at ``stage`` (decode, landmarks, visual, audio, au, sync, write)."""

    def __init__(self, stage: str, reason: str) -> None:
        self.stage, self.reason = stage, reason
        super().__init__(f"{stage}: {reason}")


def audio_frames(clip: Clip) -> np.ndarray:
    """bool (T,): the frames the decoded audio covers
    (:func:`tqa.features.decode.audio_frame_mask`; all True for a clip built without it)."""
    return np.asarray(clip.meta.get("audio_frames", np.ones(clip.n_frames, bool)), bool)


def finish_stream(out: np.ndarray, clip: Clip, bits: int, audio: bool = False) -> np.ndarray:
    """A (T, D) stream as the cache holds it (a new float32 array): rounded to ``bits``
    mantissa bits (float noise stops here), NaN on padded frames, which carry no data, and
    for the audio stream also past the end of a shorter audio track."""
    out = quantize_mantissa(out, bits)
    out[~valid_frames(clip)] = np.nan
    if audio and clip.has_audio:
        out[~audio_frames(clip)] = np.nan
    return out


class FeatureExtractor:
    """Simple CPU extractor: one extractor per modality from ``params['features']``.

    ``self.extractors``: modality (``landmarks``, ``visual``, ``audio``, ``au``, ``sync``)
    -> :class:`Extractor`, in RUN_ORDER. Subclasses (``GPUOptimizedExtractor``) may override
    :meth:`extract_clip` / :meth:`run` and keep the cache format and :attr:`config_hash`.
    """

    def __init__(self, params: dict) -> None:
        # a snapshot: the extractors are built from it, so a caller's later edit of the
        # params dict must not change :attr:`config_hash` (the cache key) under them
        self.fparams: dict = copy.deepcopy(features_section(params))
        self.params = params
        self.extractors: dict[str, Extractor] = build_extractors(self.fparams)
        #: mantissa bits every stream keeps (:mod:`tqa.features.quantize`; 23 = float32 as is)
        self.quantize_bits: int = int(self.fparams.get("quantize_bits", 23))

    # ------------------------------------------------------------------ provenance
    @property
    def config_hash(self) -> str:
        """Hash of everything that changes the features: extractor descriptions + features
        params."""
        return hash_config(self.fparams, self.describe())

    def describe(self) -> dict[str, dict[str, Any]]:
        """Extractor provenance per modality (name, version, dim, options)."""
        return {m: e.describe() for m, e in self.extractors.items()}

    def feature_names(self) -> dict[str, list[str]]:
        """Column names of every stream, per modality."""
        return {m: e.feature_names() for m, e in self.extractors.items()}

    # ------------------------------------------------------------------ one video
    def load(self, path: str, video_id: str) -> Clip:
        """Decode ``path`` onto the grid (:func:`tqa.features.decode.load_clip`, params
        ``features``), from its segment start when ``video_id`` is a segment's: params key
        ``segment_starts`` (video id -> s; ``tqa score``'s segments of a long file), outside
        ``features``, so no part of the cache key, and passed to every worker with the params."""
        start = (self.params.get("segment_starts") or {}).get(str(video_id), 0.0)
        return load_clip_params(path, video_id, self.fparams, float(start))

    def extract_clip(self, clip: Clip) -> VideoFeatures:
        """Run every extractor on one decoded clip (RUN_ORDER, shared ``context``), each
        with BLAS on one thread (:func:`~tqa.features.extractors.base.run_extractor`)."""
        context: dict[str, Any] = {}
        streams: dict[str, np.ndarray] = {}
        sync = np.full(3, np.nan, np.float32)
        timings: dict[str, float] = {}
        noise = noise_level()  # 0 unless a float-noise emulation is asked for (issue 23)
        for modality, ext in self.extractors.items():
            t0 = time.perf_counter()
            try:
                out = run_extractor(ext, clip, context)
            except Exception as exc:
                raise ExtractionError(modality, f"{type(exc).__name__}: {exc}") from exc
            timings[modality] = time.perf_counter() - t0
            _check_shape(modality, ext, out, clip.n_frames)
            out = perturbed(out, f"{clip.video_id}/{modality}", noise)  # TQA_FEATURE_NOISE
            if modality == "sync":
                sync = quantize_mantissa(out, self.quantize_bits)  # float noise stops here
                continue
            streams[modality] = finish_stream(out, clip, self.quantize_bits, modality == "audio")
        return VideoFeatures(
            clip.video_id, streams, sync, self._meta(clip, streams, sync, context, timings)
        )

    def extract_video(self, path: str, video_id: str) -> VideoFeatures:
        """Decode and extract one video file (raises ExtractionError with the failing stage)."""
        t0 = time.perf_counter()
        try:
            clip = self.load(path, video_id)
        except MediaError as exc:
            raise ExtractionError("decode", exc.reason) from exc
        t_decode = time.perf_counter() - t0
        vf = self.extract_clip(clip)
        vf.meta["timings"]["decode"] = t_decode
        return vf

    def _meta(
        self,
        clip: Clip,
        streams: dict[str, np.ndarray],
        sync: np.ndarray,
        context: dict[str, Any],
        timings: dict[str, float],
    ) -> dict[str, Any]:
        """The cache file's meta: provenance, the clip's source, face/NaN counts, timings."""
        valid = valid_frames(clip)
        return {
            "video_id": clip.video_id,
            "file": str(clip.path),
            "config_hash": self.config_hash,
            "source_fingerprint": fcache.source_fingerprint(clip.path)
            if Path(clip.path).is_file()
            else None,
            "extractors": self.describe(),
            "names": {**self.feature_names()},
            "grid_fps": clip.fps,
            "n_frames": clip.n_frames,
            "sample_rate": clip.sample_rate,
            "source_fps": clip.source_fps,
            "source_frames": clip.source_frames,
            "source_size": clip.meta.get("source_size"),
            "n_valid_frames": int(valid.sum()),
            "has_audio": bool(clip.has_audio),
            "face_rate": _face_rate(context.get("face_detected"), valid),
            "n_faces": context.get("n_faces"),
            "nan_counts": {m: int(np.isnan(a).sum()) for m, a in streams.items()},
            "nan_rows": {m: int(np.isnan(a).all(axis=1).sum()) for m, a in streams.items()},
            "sync_nan": bool(np.isnan(sync).any()),
            "sync_detail": context.get("sync_detail"),
            "dnsmos_video": context.get("dnsmos_video"),
            "truncated_after_s": clip.meta.get("truncated_after_s"),
            "decode_warning": clip.meta.get("decode_warning"),
            "timings": timings,
            "tqa_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def write(self, cache_dir: str | os.PathLike, vf: VideoFeatures) -> Path:
        """Atomically write one video's features to ``<cache_dir>/<video_id>.npz``."""
        return fcache.write_features(cache_dir, vf.video_id, vf.streams, vf.sync, vf.meta)

    def store(
        self, cache_dir: str | os.PathLike, vf: VideoFeatures, path: str | os.PathLike
    ) -> dict[str, Any]:
        """Write ``vf`` to the cache (an OSError is the ``write`` stage's failure), warn about
        its quality; the fields its status row adds."""
        try:
            self.write(cache_dir, vf)
        except OSError as exc:
            raise ExtractionError("write", f"{type(exc).__name__}: {exc}") from exc
        fields = extracted_fields(vf.meta)
        warn_quality(vf.video_id, path, vf.meta)
        return fields

    def process_one(self, video_id: str, path: str, cache_dir: str | os.PathLike) -> dict[str, Any]:
        """Extract + cache one video; never raises for a per-file problem (status dict instead).

        Returns ``video_id``, ``status`` (extracted | failed), ``reason``, ``stage``,
        ``seconds``, ``face_rate``, ``has_audio``; failures are appended to failures.csv.
        """
        t0 = time.perf_counter()
        row = status_row(video_id, path)
        try:
            row.update(self.store(cache_dir, self.extract_video(str(path), video_id), path))
        except ExtractionError as exc:
            row.update(status="failed", reason=exc.reason, stage=exc.stage)
        except Exception as exc:  # anything unexpected is still one video's failure
            row.update(status="failed", reason=f"{type(exc).__name__}: {exc}", stage="extract")
        row["seconds"] = time.perf_counter() - t0
        row["worker"] = f"pid{os.getpid()}"
        if row["status"] == "failed":
            log.warning(
                "video %s (%s) failed at %s: %s", video_id, path, row["stage"], row["reason"]
            )
            record_failure(cache_dir, video_id, str(path), row["stage"], row["reason"])
        return row

    # ------------------------------------------------------------------ many videos
    def plan_run(
        self, videos: list[tuple[str, str]], cache_dir: str | os.PathLike, workers: int | None
    ) -> RunPlan:
        """What a run has to do (:class:`RunPlan`); creates the cache folder."""
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        chash = self.config_hash
        rows: dict[str, dict[str, Any]] = {}
        todo: list[tuple[str, str]] = []
        for vid, path in videos:
            if fcache.is_cached(cache_dir, vid, chash, source=path):
                rows[vid] = status_row(vid, path, "cached")
            else:
                todo.append((vid, str(path)))
        n_workers = resolve_workers(self.fparams.get("workers", 1) if workers is None else workers)
        return RunPlan(videos, cache_dir, rows, todo, max(1, min(n_workers, len(todo))))

    def run(
        self,
        videos: list[tuple[str, str]],
        cache_dir: str | os.PathLike,
        workers: int | None = None,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Extract ``videos`` [(video_id, path)] into ``cache_dir``; one status row per video.

        Columns: video_id, status (cached | extracted | failed), reason, stage, seconds, ...
        ``workers``: processes (None: ``features.workers``; 0 = all cores; 1 = in-process).
        Ctrl-C raises :class:`ExtractionInterrupted` carrying the rows so far (within seconds:
        queued videos are cancelled and the workers terminated).
        """
        plan = self.plan_run(videos, cache_dir, workers)
        try:
            self.extract_planned(plan, progress)
        except KeyboardInterrupt:
            raise ExtractionInterrupted(interrupted_table(videos, plan.rows)) from None
        return pd.DataFrame([plan.rows[v] for v, _ in videos if v in plan.rows])

    def extract_planned(self, plan: RunPlan, progress: bool) -> None:
        """Extract ``plan.todo``, filling ``plan.rows``: here with one worker, else in a
        process pool. The step of :meth:`run` that subclasses replace (the rest is shared)."""
        rows, todo, cache_dir, n_workers = plan.rows, plan.todo, plan.cache_dir, plan.n_workers
        log.info(
            "extract: %d videos, %d cached, %d to do, %d worker(s), cache %s",
            len(plan.videos),
            len(rows),
            len(todo),
            n_workers,
            cache_dir,
        )
        bar = tqdm(total=len(todo), desc="extract", unit="video", disable=not progress or not todo)
        try:
            if n_workers == 1:
                for vid, path in todo:
                    rows[vid] = self.process_one(vid, path, cache_dir)
                    bar.update(1)
            else:
                run_pool(
                    extract_one, _init_worker, self.params, todo, cache_dir, n_workers, rows, bar
                )
        except KeyboardInterrupt:
            bar.close()
            log.warning(
                "extraction interrupted: %d of %d videos done; finished ones are cached in %s",
                len(rows),
                len(plan.videos),
                cache_dir,
            )
            raise
        finally:
            bar.close()


def _check_shape(modality: str, ext: Extractor, out: np.ndarray, n_frames: int) -> None:
    """An extractor's output must be (3,) for sync, else (T, dim): ExtractionError if not."""
    expected = (3,) if modality == "sync" else (n_frames, ext.dim)
    if out.shape != expected:
        shown = "(3,)" if modality == "sync" else f"({n_frames}, {ext.dim})"
        raise ExtractionError(modality, f"{ext.name} returned shape {out.shape}, expected {shown}")


def _face_rate(detected: Any, valid: np.ndarray) -> float | None:
    """Share of the decoded frames with a detected face (None without a landmark context)."""
    if detected is None or not valid.any():
        return None
    return float(np.mean(np.asarray(detected)[valid]))


# ---------------------------------------------------------------------- process-level task
_WORKER_EXTRACTORS: dict[str, FeatureExtractor] = {}


def _extractor_for(params: dict) -> FeatureExtractor:
    """The process's FeatureExtractor for these params (built once: one FaceMesh per process).

    The first build in a worker process (a process pool's or a Dask worker's) also raises
    glibc's malloc thresholds (``features.malloc_threshold``, :mod:`tqa.core.malloc`), so the
    large arrays every video allocates again are reused from the heap."""
    key = params_hash(params)
    if key not in _WORKER_EXTRACTORS:
        if not _WORKER_EXTRACTORS:
            keep_large_buffers(features_section(params).get("malloc_threshold"))
        _WORKER_EXTRACTORS.clear()
        _WORKER_EXTRACTORS[key] = FeatureExtractor(params)
    return _WORKER_EXTRACTORS[key]


def _init_worker(params: dict) -> None:
    """Pool initializer: one FeatureExtractor (one FaceMesh) per process, one OpenCV thread
    per process (the pool already uses every core; nested threads only oversubscribe)."""
    ignore_sigint()
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(1)
    _extractor_for(params)


def extract_one(video_id: str, path: str, params: dict, cache_dir: str) -> dict:
    """One video end to end (decode, extract, write ``<cache_dir>/<video_id>.npz``); a status dict.

    Module-level and picklable: process pools and the Dask engine call this. Per-file
    problems come back as ``status="failed"`` (and a failures.csv row), never as an exception.
    """
    return _extractor_for(params).process_one(video_id, path, cache_dir)
