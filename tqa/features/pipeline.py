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
  warnings naming the file.
* Parallel: ``workers`` processes (``features.workers``; 0 = all cores) in a
  ``ProcessPoolExecutor`` with the *spawn* start method (MediaPipe / torch are not
  fork-safe); each worker keeps one FeatureExtractor (one FaceMesh) for all its videos.
  ``workers=1`` runs in this process. The per-video task is the module-level, picklable
  :func:`extract_one`, which other engines (``tqa.features.engines``, Dask) call too.
* Padded frames (clips shorter than 6 s, ``clip.meta["valid_frames"]`` False) get NaN in
  every per-frame stream.

CLI: ``tqa extract [--params params.yaml] [--root DIR] [--cache DIR] [--workers N] [--list]``.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tqa.core.atomic import write_csv
from tqa.core.interrupt import abort_pool, ignore_sigint, sigint_deferred
from tqa.core.params import display_path, params_hash, runtime_keys
from tqa.core.version import __version__
from tqa.features import cache as fcache
from tqa.features.decode import DECODE_VERSION, MediaError, load_clip_params
from tqa.features.extractors.base import (
    RUN_ORDER,
    Clip,
    Extractor,
    available,
    get_extractor,
    random_init_allowed,
)

log = logging.getLogger(__name__)

#: ``features`` keys that say where outputs go, not what they hold (not hashed); the machine
#: knobs (workers, device, ...) are ``runtime_keys("features")``, the params' runtime section.
LOCATION_KEYS = frozenset({"cache_dir", "summary_path"})
FAILURES = "failures.csv"
FAILURE_COLUMNS = ("video_id", "file", "stage", "reason", "time")


@dataclass
class VideoFeatures:
    """Features of one video: streams modality -> float32 (T, D), sync float32 (3,), meta."""

    video_id: str
    streams: dict[str, np.ndarray]
    sync: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


class ExtractionError(RuntimeError):
    """One video failed at ``stage`` (decode, landmarks, visual, audio, au, sync, write)."""

    def __init__(self, stage: str, reason: str) -> None:
        self.stage, self.reason = stage, reason
        super().__init__(f"{stage}: {reason}")


class ExtractionInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: ``table`` holds the status rows so far, the rest ``interrupted``.

    Videos finished before the interrupt are in the cache (atomic writes); the videos in
    flight are dropped (their workers are terminated), so a re-run resumes cleanly.
    """

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        n = int((table["status"] == "interrupted").sum()) if len(table) else 0
        super().__init__(f"interrupted: {len(table) - n} of {len(table)} videos done")


def interrupted_table(
    videos: list[tuple[str, str]], rows: dict[str, dict[str, Any]]
) -> pd.DataFrame:
    """Status rows of ``videos`` in order; videos without a row are ``interrupted``."""
    out = []
    for vid, path in videos:
        out.append(
            rows.get(vid)
            or {
                "video_id": vid,
                "status": "interrupted",
                "reason": "interrupted (Ctrl-C)",
                "stage": "",
                "file": str(path),
            }
        )
    return pd.DataFrame(out)


class FeatureExtractor:
    """Simple CPU extractor: one extractor per modality from ``params['features']``.

    ``self.extractors``: modality (``landmarks``, ``visual``, ``audio``, ``au``, ``sync``)
    -> :class:`Extractor`, in RUN_ORDER. Subclasses (``GPUOptimizedExtractor``) may override
    :meth:`extract_clip` / :meth:`run` and keep the cache format and :attr:`config_hash`.
    """

    def __init__(self, params: dict) -> None:
        if "features" not in params:
            raise KeyError("params has no 'features' section (pass the whole params.yaml dict)")
        self.params = params
        self.fparams: dict = params["features"]
        self.extractors: dict[str, Extractor] = {}
        for modality in RUN_ORDER:
            name = self.fparams.get(modality)
            if not name:
                raise KeyError(
                    f"params features.{modality} is not set (choose from {available(modality)})"
                )
            self.extractors[modality] = get_extractor(modality, str(name), self.fparams)

    # ------------------------------------------------------------------ provenance
    @property
    def config_hash(self) -> str:
        """Hash of everything that changes the features: extractor descriptions + features
        params."""
        return _hash_config(self.fparams, self.describe())

    def describe(self) -> dict[str, dict[str, Any]]:
        """Extractor provenance per modality (name, version, dim, options)."""
        return {m: e.describe() for m, e in self.extractors.items()}

    def feature_names(self) -> dict[str, list[str]]:
        return {m: e.feature_names() for m, e in self.extractors.items()}

    # ------------------------------------------------------------------ one video
    def load(self, path: str, video_id: str) -> Clip:
        """Decode ``path`` onto the grid (:func:`tqa.features.decode.load_clip`, params
        ``features``)."""
        return load_clip_params(path, video_id, self.fparams)

    def extract_clip(self, clip: Clip) -> VideoFeatures:
        """Run every extractor on one decoded clip (RUN_ORDER, shared ``context``)."""
        context: dict[str, Any] = {}
        streams: dict[str, np.ndarray] = {}
        sync = np.full(3, np.nan, np.float32)
        timings: dict[str, float] = {}
        valid = np.asarray(clip.meta.get("valid_frames", np.ones(clip.n_frames, bool)), bool)
        for modality, ext in self.extractors.items():
            t0 = time.perf_counter()
            try:
                out = np.asarray(ext.extract(clip, context), np.float32)
            except Exception as exc:
                raise ExtractionError(modality, f"{type(exc).__name__}: {exc}") from exc
            timings[modality] = time.perf_counter() - t0
            if modality == "sync":
                if out.shape != (3,):
                    raise ExtractionError(
                        modality, f"{ext.name} returned shape {out.shape}, expected (3,)"
                    )
                sync = out
                continue
            if out.shape != (clip.n_frames, ext.dim):
                raise ExtractionError(
                    modality,
                    f"{ext.name} returned shape {out.shape}, expected ({clip.n_frames}, {ext.dim})",
                )
            out = out.copy()
            out[~valid] = np.nan  # padded frames carry no data
            streams[modality] = out
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
        detected = context.get("face_detected")
        valid = np.asarray(clip.meta.get("valid_frames", np.ones(clip.n_frames, bool)), bool)
        face_rate = (
            float(np.mean(np.asarray(detected)[valid]))
            if detected is not None and valid.any()
            else None
        )
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
            "face_rate": face_rate,
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

    def process_one(self, video_id: str, path: str, cache_dir: str | os.PathLike) -> dict[str, Any]:
        """Extract + cache one video; never raises for a per-file problem (status dict instead).

        Returns ``video_id``, ``status`` (extracted | failed), ``reason``, ``stage``,
        ``seconds``, ``face_rate``, ``has_audio``; failures are appended to failures.csv.
        """
        t0 = time.perf_counter()
        row: dict[str, Any] = {
            "video_id": video_id,
            "status": "extracted",
            "reason": "",
            "stage": "",
            "file": str(path),
        }
        try:
            vf = self.extract_video(str(path), video_id)
            try:
                self.write(cache_dir, vf)
            except OSError as exc:
                raise ExtractionError("write", f"{type(exc).__name__}: {exc}") from exc
            row.update(
                face_rate=vf.meta["face_rate"],
                has_audio=vf.meta["has_audio"],
                **{f"t_{k}": v for k, v in vf.meta["timings"].items()},
            )
            warn_quality(video_id, path, vf.meta)
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
            remove_stale(cache_dir, video_id)
            append_failure(cache_dir, video_id, str(path), row["stage"], row["reason"])
        return row

    # ------------------------------------------------------------------ many videos
    def plan_run(
        self, videos: list[tuple[str, str]], cache_dir: str | os.PathLike, workers: int | None
    ) -> tuple[Path, dict[str, dict[str, Any]], list[tuple[str, str]], int]:
        """What a run has to do: the cache folder (created), status rows of the videos already
        cached (this config, same source content), the (video_id, path) list still to
        extract, and the number of worker processes for it."""
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        chash = self.config_hash
        rows: dict[str, dict[str, Any]] = {}
        todo: list[tuple[str, str]] = []
        for vid, path in videos:
            if fcache.is_cached(cache_dir, vid, chash, source=path):
                rows[vid] = {
                    "video_id": vid,
                    "status": "cached",
                    "reason": "",
                    "stage": "",
                    "file": str(path),
                }
            else:
                todo.append((vid, str(path)))
        n_workers = resolve_workers(self.fparams.get("workers", 1) if workers is None else workers)
        return cache_dir, rows, todo, max(1, min(n_workers, len(todo)))

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
        cache_dir, rows, todo, n_workers = self.plan_run(videos, cache_dir, workers)
        log.info(
            "extract: %d videos, %d cached, %d to do, %d worker(s), cache %s",
            len(videos),
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
                self._run_pool(todo, cache_dir, n_workers, rows, bar)
        except KeyboardInterrupt:
            bar.close()
            log.warning(
                "extraction interrupted: %d of %d videos done; finished ones are cached in %s",
                len(rows),
                len(videos),
                cache_dir,
            )
            raise ExtractionInterrupted(interrupted_table(videos, rows)) from None
        finally:
            bar.close()
        order = [v for v, _ in videos]
        return pd.DataFrame([rows[v] for v in order if v in rows])

    def _run_pool(
        self,
        todo: list[tuple[str, str]],
        cache_dir: Path,
        n_workers: int,
        rows: dict[str, dict[str, Any]],
        bar,
    ) -> None:
        ctx = mp.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=n_workers, mp_context=ctx, initializer=_init_worker, initargs=(self.params,)
        )
        try:
            with sigint_deferred():  # submit() spawns the workers: Ctrl-C held, not lost
                futs = {
                    pool.submit(extract_one, vid, path, self.params, str(cache_dir)): (vid, path)
                    for vid, path in todo
                }
            for fut in as_completed(futs):
                vid, path = futs[fut]
                try:
                    rows[vid] = fut.result()
                except Exception as exc:  # a worker died (e.g. a native crash): that video failed
                    reason = f"{type(exc).__name__}: {exc}"
                    log.warning("video %s (%s): worker failed: %s", vid, path, reason)
                    remove_stale(cache_dir, vid)
                    append_failure(cache_dir, vid, path, "worker", reason)
                    rows[vid] = {
                        "video_id": vid,
                        "status": "failed",
                        "reason": reason,
                        "stage": "worker",
                        "file": path,
                    }
                bar.update(1)
        except BaseException:
            abort_pool(pool)
            raise
        pool.shutdown(wait=True)


# ---------------------------------------------------------------------- config hash, stale files,
# warnings
def _hash_config(fparams: dict, descriptions: dict[str, dict[str, Any]]) -> str:
    """The cache key: features params (runtime keys left out) + extractor descriptions +
    the decoding policy's version (a decoder change must not hand back old features) + the
    cache file layout's version (:data:`tqa.features.cache.CACHE_FORMAT`)."""
    skip = LOCATION_KEYS | runtime_keys("features")
    cfg = {k: v for k, v in fparams.items() if k not in skip}
    return params_hash(
        {
            "features": cfg,
            "extractors": descriptions,
            "decode_version": DECODE_VERSION,
            "cache_format": fcache.CACHE_FORMAT,
        }
    )


def config_hash_from_params(params: dict) -> str:
    """``FeatureExtractor(params).config_hash`` without requiring neural weights.

    The extractors are instantiated inside :func:`tqa.features.extractors.base.random_init_allowed`
    (a neural extractor only resolves its weights path at construction; networks are built
    lazily, so nothing heavy is loaded). When the weights are found the hash is identical to
    ``FeatureExtractor(params).config_hash``; when they are not, it is the hash a random-init
    extraction with these params would write (``describe()`` says ``random_init: True``), so
    features extracted with real weights elsewhere do not match it.
    """
    if "features" not in params:
        raise KeyError("params has no 'features' section (pass the whole params.yaml dict)")
    fparams: dict = params["features"]
    descriptions: dict[str, dict[str, Any]] = {}
    with random_init_allowed():
        for modality in RUN_ORDER:
            name = fparams.get(modality)
            if not name:
                raise KeyError(
                    f"params features.{modality} is not set (choose from {available(modality)})"
                )
            descriptions[modality] = get_extractor(modality, str(name), fparams).describe()
    return _hash_config(fparams, descriptions)


#: Below this face-detection rate a video is logged as a warning (the run goes on).
MIN_FACE_RATE = 0.5


def warn_quality(video_id: str, path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Log a WARNING naming the file when it has no audio track or a face rate below 0.5."""
    if not meta.get("has_audio", True):
        log.warning(
            "video %s (%s) has no audio track: audio and sync features are not meaningful",
            video_id,
            path,
        )
    rate = meta.get("face_rate")
    if rate is not None and rate < MIN_FACE_RATE:
        log.warning(
            "video %s (%s): face detected in only %.0f%% of frames (< %.0f%%)",
            video_id,
            path,
            100 * rate,
            100 * MIN_FACE_RATE,
        )


def remove_stale(cache_dir: str | os.PathLike, video_id: str) -> bool:
    """Delete ``<cache_dir>/<video_id>.npz`` left by an earlier run (the re-extraction failed,
    so it describes another configuration or another file); True when one was removed."""
    path = fcache.cache_file(cache_dir, video_id)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("could not remove stale cache file %s: %s", path, exc)
        return False
    log.warning("removed stale cache file %s (its re-extraction failed)", path)
    return True


# ---------------------------------------------------------------------- process-level task
_WORKER_EXTRACTORS: dict[str, FeatureExtractor] = {}


def _extractor_for(params: dict) -> FeatureExtractor:
    """The process's FeatureExtractor for these params (built once: one FaceMesh per process)."""
    key = params_hash(params)
    if key not in _WORKER_EXTRACTORS:
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


def resolve_workers(workers: int | None) -> int:
    """``0``/None -> all cores, else the number given (at least 1)."""
    if not workers:
        return os.cpu_count() or 1
    return max(1, int(workers))


def append_failure(
    cache_dir: str | os.PathLike, video_id: str, file: str, stage: str, reason: str
) -> None:
    """Append one row to ``<cache_dir>/failures.csv`` (process-safe: a lock file + atomic
    replace)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    row = {
        "video_id": video_id,
        "file": file,
        "stage": stage,
        "reason": reason,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with open(cache_dir / f".{FAILURES}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            path = cache_dir / FAILURES
            old = (
                pd.read_csv(path, dtype=str, keep_default_na=False)
                if path.exists()
                else pd.DataFrame(columns=list(FAILURE_COLUMNS))
            )
            write_csv(path, pd.concat([old, pd.DataFrame([row])], ignore_index=True))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------------- summary + CLI
def summarize(cache_dir: str | os.PathLike, table: pd.DataFrame, seconds: float) -> dict[str, Any]:
    """Counts, face rate, NaN rates per modality and throughput of one extraction run."""
    counts = table["status"].value_counts().to_dict() if len(table) else {}
    face, nan_rate, has_audio, extractors, sync_nan = [], {}, [], None, 0
    ok_ids = (
        table.loc[table["status"].isin(["cached", "extracted"]), "video_id"].tolist()
        if len(table)
        else []
    )
    for vid in ok_ids:
        try:
            meta = fcache.read_meta(fcache.cache_file(cache_dir, vid))
        except Exception:  # noqa: BLE001 - a summary must not fail the run
            continue
        extractors = extractors or meta.get("extractors")
        if meta.get("face_rate") is not None:
            face.append(meta["face_rate"])
        has_audio.append(bool(meta.get("has_audio")))
        sync_nan += int(bool(meta.get("sync_nan")))
        for m, n in meta.get("nan_counts", {}).items():
            dim = (meta.get("extractors", {}).get(m) or {}).get("dim") or 1
            nan_rate.setdefault(m, []).append(n / (dim * meta.get("n_frames", 150)))
    n_extracted = int(counts.get("extracted", 0))
    return {
        "cache_dir": display_path(cache_dir),
        "n_videos": int(len(table)),
        "counts": {k: int(v) for k, v in counts.items()},
        "face_rate_mean": float(np.mean(face)) if face else None,
        "videos_without_face": int(sum(f == 0 for f in face)),
        "videos_without_audio": int(sum(not a for a in has_audio)),
        "nan_rate": {m: float(np.mean(v)) for m, v in nan_rate.items()},
        "sync_nan_videos": sync_nan,
        "extractors": extractors,
        "seconds": float(seconds),
        "videos_per_s": float(n_extracted / seconds) if seconds > 0 and n_extracted else None,
    }
