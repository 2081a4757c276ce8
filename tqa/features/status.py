"""The per-video status of an extraction run: status rows, failures.csv, warnings, summary.

Every engine and every extractor path (:class:`tqa.features.pipeline.FeatureExtractor`,
``GPUOptimizedExtractor``, the Dask engine) reports one status row per video and records a
failed video the same way: its stale ``<video_id>.npz`` deleted, one row appended to
``<cache_dir>/failures.csv``. Those rows and records are built here, once.
"""

from __future__ import annotations

import fcntl
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv
from tqa.core.params import display_path
from tqa.features import cache as fcache
from tqa.features.fingerprint import cache_fingerprints

#: The logger these messages have always been written under (before this module was split
#: off tqa.features.pipeline); kept so that run logs and log filters read the same.
log = logging.getLogger("tqa.features.pipeline")

FAILURES = "failures.csv"
FAILURE_COLUMNS = ("video_id", "file", "stage", "reason", "time")
#: Below this face-detection rate a video is logged as a warning (the run goes on).
MIN_FACE_RATE = 0.5


# ---------------------------------------------------------------------- status rows
def status_row(
    video_id: str,
    path: str | os.PathLike,
    status: str = "extracted",
    reason: str = "",
    stage: str = "",
) -> dict[str, Any]:
    """The leading columns of one video's status row (video_id, status, reason, stage, file)."""
    return {
        "video_id": video_id,
        "status": status,
        "reason": reason,
        "stage": stage,
        "file": str(path),
    }


def extracted_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """What the status row of an extracted video adds from its meta: face rate, audio,
    ``t_<stage>`` timings."""
    return {
        "face_rate": meta["face_rate"],
        "has_audio": meta["has_audio"],
        **{f"t_{k}": v for k, v in meta["timings"].items()},
    }


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
    return pd.DataFrame(
        [
            rows.get(vid) or status_row(vid, path, "interrupted", "interrupted (Ctrl-C)")
            for vid, path in videos
        ]
    )


# ---------------------------------------------------------------------- failures
def failure_row(video_id: str, file: str, stage: str, reason: str) -> dict[str, str]:
    """One row of failures.csv (FAILURE_COLUMNS), stamped now."""
    return {
        "video_id": video_id,
        "file": file,
        "stage": stage,
        "reason": reason,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def append_failure(
    cache_dir: str | os.PathLike, video_id: str, file: str, stage: str, reason: str
) -> None:
    """Append one row to ``<cache_dir>/failures.csv`` (process-safe: a lock file + atomic
    replace)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    row = failure_row(video_id, file, stage, reason)
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


def record_failure(
    cache_dir: str | os.PathLike, video_id: str, file: str, stage: str, reason: str
) -> None:
    """A failed video leaves no stale cache file behind and one failures.csv row."""
    remove_stale(cache_dir, video_id)
    append_failure(cache_dir, video_id, file, stage, reason)


# ---------------------------------------------------------------------- warnings, summary
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


def summarize(cache_dir: str | os.PathLike, table: pd.DataFrame, seconds: float) -> dict[str, Any]:
    """Counts, face rate, NaN rates per modality, per-extractor content fingerprints
    (:func:`tqa.features.fingerprint.cache_fingerprints`) and throughput of one extraction run."""
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
    fingerprints = None
    if extractors and ok_ids:
        try:  # which extractor a rebuild on another machine changed (tqa.features.fingerprint)
            fingerprints = cache_fingerprints(cache_dir, ok_ids, extractors)
        except (OSError, ValueError, KeyError) as exc:  # a summary must not fail the run
            log.warning("feature cache fingerprints not written: %s", exc)
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
        "fingerprints": fingerprints,
        "seconds": float(seconds),
        "videos_per_s": float(n_extracted / seconds) if seconds > 0 and n_extracted else None,
    }
