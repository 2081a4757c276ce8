"""Per-video feature cache: ``<cache_dir>/<video_id>.npz``, written atomically.

Each file holds one float32 (T, D) array per modality (keys ``visual``, ``audio``,
``landmarks``, ``au``), ``sync`` float32 (3,) and ``meta``: a JSON string with the
extractor descriptions (name, version, dim), feature names, ``config_hash`` (the hash of
the extractor configuration, :func:`tqa.core.params.params_hash`), source fps / frames,
``has_audio``, face-detection rate, per-stream NaN counts and the tqa version.

A file counts as cached only when its ``config_hash`` matches the current configuration
and its ``source_fingerprint`` matches the video file now on disk, so changing an
extractor, its params or the video itself (a rebuilt corpus, a re-encoded file under the
same id) re-extracts (stale files are overwritten). Writes
go through :func:`tqa.core.atomic.atomic_path`, so a killed run never leaves a half file under
the final name (temporary files start with ``.`` and never match ``<id>.npz``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tqa.core.atomic import atomic_path, jsonable
from tqa.core.params import display_path
from tqa.core.schema import MODALITIES, SYNC_FIELDS, FeatureSet

log = logging.getLogger(__name__)

#: A file-system path, as a string or a path-like object.
StrPath = str | os.PathLike

#: Version of the cache file layout; part of every ``config_hash``, so files written by an
#: older layout are re-extracted (2: no timings or creation time, fixed zip member times;
#: 3: meta ``n_faces``, the faces in the picture, which ``tqa score``'s partial rule reads).
#: A layout change does not change any extractor's output, so trained bundles still match.
CACHE_FORMAT = 3


def cache_file(cache_dir: StrPath, video_id: str) -> Path:
    """Path of one video's cache file."""
    return Path(cache_dir) / f"{video_id}.npz"


def write_features(
    cache_dir: StrPath,
    video_id: str,
    streams: dict[str, np.ndarray],
    sync: np.ndarray,
    meta: dict[str, Any],
) -> Path:
    """Atomically write one video's streams, sync triple and JSON meta; returns the path."""
    path = cache_file(cache_dir, video_id)
    arrays = {m: np.asarray(a, np.float32) for m, a in streams.items()}
    arrays["sync"] = np.asarray(sync, np.float32).reshape(len(SYNC_FIELDS))
    arrays["meta"] = np.array(json.dumps(stable_meta(meta), sort_keys=True, default=jsonable))
    with atomic_path(path, suffix=".npz") as tmp:
        write_npz(tmp, arrays)
    return path


#: Meta keys that differ between two identical extractions (wall-clock timings, creation
#: time): kept in memory for the run's status table and benchmarks, never written, so the
#: cache folder (a DVC output) is byte-identical for identical features.
VOLATILE_META: frozenset[str] = frozenset({"timings", "created"})

#: A fixed zip member time (the zip format's epoch): ``np.savez`` stamps members with the
#: current time, so identical arrays gave different files.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def stable_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` as written: no :data:`VOLATILE_META`, ``file`` relative to the repository
    when the video lies inside it (an absolute path names one machine's checkout)."""
    out = {k: v for k, v in meta.items() if k not in VOLATILE_META}
    if out.get("file") is not None:
        out["file"] = display_path(out["file"])
    return out


def write_npz(path: StrPath, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` (uncompressed ``.npy`` members, readable by ``np.load``) with fixed member
    times and order: the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def read_meta(path: StrPath) -> dict[str, Any]:
    """The JSON meta of one cache file."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"]))


def read_features(path: StrPath) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """(streams, sync, meta) of one cache file."""
    with np.load(path, allow_pickle=False) as z:
        streams = {k: z[k] for k in z.files if k in MODALITIES}
        return streams, z["sync"], json.loads(str(z["meta"]))


#: Bytes hashed at each end of a video for its fingerprint.
_FINGERPRINT_BYTES = 1 << 20


def source_fingerprint(path: StrPath) -> str:
    """Content fingerprint of a video file: size + SHA-1 of its first and last MiB.

    Content-based (not mtime) so that a DVC checkout or a copy keeps the cache valid,
    while a rebuilt or re-encoded video under the same id is re-extracted. Reads at most
    2 MiB per file.
    """
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        h.update(fh.read(_FINGERPRINT_BYTES))
        if size > 2 * _FINGERPRINT_BYTES:
            fh.seek(-_FINGERPRINT_BYTES, os.SEEK_END)
        h.update(fh.read(_FINGERPRINT_BYTES))
    return f"{size}-{h.hexdigest()[:16]}"


def meta_is_current(meta: dict[str, Any], config_hash: str, source: StrPath | None = None) -> bool:
    """Whether a cache entry's meta was made with ``config_hash`` from the file ``source``.

    ``source=None`` (or a path that no longer exists) checks the configuration only.
    """
    if meta.get("config_hash") != config_hash:
        return False
    if source is None or not Path(source).is_file():
        return True
    return meta.get("source_fingerprint") == source_fingerprint(source)


def is_cached(
    cache_dir: StrPath, video_id: str, config_hash: str, source: StrPath | None = None
) -> bool:
    """True when ``<video_id>.npz`` exists, is readable, was made with ``config_hash``
    and (when ``source`` is given) from the same video content."""
    path = cache_file(cache_dir, video_id)
    if not path.is_file():
        return False
    try:
        return meta_is_current(read_meta(path), config_hash, source)
    except Exception as exc:  # corrupt / foreign file: re-extract
        log.warning("%s: unreadable cache file, will re-extract (%s)", path, exc)
        return False


def cached_ids(cache_dir: StrPath) -> list[str]:
    """Video ids with a cache file (any configuration), sorted."""
    d = Path(cache_dir)
    return (
        sorted(p.stem for p in d.glob("*.npz") if not p.name.startswith(".")) if d.is_dir() else []
    )


def load_feature_set(
    cache_dir: StrPath,
    video_ids: Iterable[str] | None = None,
    modalities: Iterable[str] | None = None,
) -> FeatureSet:
    """Stack cached videos into a :class:`tqa.core.schema.FeatureSet` (N, T, D) per modality.

    ``video_ids`` default: every cached video (sorted). Missing ids raise FileNotFoundError
    naming them; files with different extractors/widths raise ValueError naming the file.
    """
    ids = list(video_ids) if video_ids is not None else cached_ids(cache_dir)
    missing = [v for v in ids if not cache_file(cache_dir, v).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} video(s) not in feature cache {cache_dir}: {missing[:10]}"
            + (" ..." if len(missing) > 10 else "")
            + " (run `tqa extract`)"
        )
    if not ids:
        raise FileNotFoundError(f"feature cache {cache_dir} is empty (run `tqa extract`)")
    mods: list[str] | None = list(modalities) if modalities is not None else None
    per_mod: dict[str, list[np.ndarray]] = {}
    syncs, first_meta, hashes = [], None, set()
    for v in ids:
        path = cache_file(cache_dir, v)
        streams, sync, meta = read_features(path)
        if mods is None:
            mods = [m for m in MODALITIES if m in streams]
        if first_meta is None:
            first_meta = meta
        lacking = [m for m in mods if m not in streams]
        if lacking:
            raise ValueError(f"{path}: cache file has no stream(s) {lacking}")
        for m in mods:
            arr = streams[m]
            if per_mod.get(m) and arr.shape != per_mod[m][0].shape:
                raise ValueError(
                    f"{path}: {m} has shape {arr.shape}, other videos {per_mod[m][0].shape} "
                    "(mixed extractor configurations in one cache; re-run `tqa extract`)"
                )
            per_mod.setdefault(m, []).append(arr)
        syncs.append(sync)
        hashes.add(meta.get("config_hash"))
    if len(hashes) > 1:
        log.warning("feature cache %s mixes %d extractor configurations", cache_dir, len(hashes))
    names = {m: list(first_meta.get("names", {}).get(m, [])) for m in mods}
    meta = {
        "cache_dir": str(cache_dir),
        "extractors": first_meta.get("extractors", {}),
        "config_hash": sorted(h for h in hashes if h),
        "tqa_version": first_meta.get("tqa_version"),
        "sync_names": first_meta.get("names", {}).get("sync", [f"sync__{f}" for f in SYNC_FIELDS]),
    }
    return FeatureSet(
        video_ids=ids,
        streams={m: np.stack(per_mod[m]) for m in mods},
        sync=np.stack(syncs).astype(np.float32),
        names=names,
        meta=meta,
    )


# ------------------------------------------------------------- cache summaries (notebook 02)
def cache_meta_table(cache_dir: StrPath, video_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per cached video: face_rate, has_audio, source fps/frames, valid frames, NaN
    counts (timings are not cached: the run's status table has them)."""
    ids = list(video_ids) if video_ids is not None else cached_ids(cache_dir)
    rows = []
    for v in ids:
        path = cache_file(cache_dir, v)
        if not path.is_file():
            continue
        m = read_meta(path)
        row = {
            "video_id": v,
            "face_rate": m.get("face_rate"),
            "has_audio": m.get("has_audio"),
            "source_fps": m.get("source_fps"),
            "source_frames": m.get("source_frames"),
            "n_valid_frames": m.get("n_valid_frames"),
            "sync_nan": m.get("sync_nan"),
            "config_hash": m.get("config_hash"),
        }
        row.update({f"nan_{k}": n for k, n in (m.get("nan_counts") or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def nan_rate_table(fs: FeatureSet) -> pd.DataFrame:
    """Per modality: dims, NaN values, NaN share, all-NaN frame rows, videos with any NaN."""
    rows = []
    for m, a in fs.streams.items():
        nan = np.isnan(a)
        rows.append(
            {
                "modality": m,
                "dim": a.shape[2],
                "nan_values": int(nan.sum()),
                "nan_rate": float(nan.mean()),
                "nan_frame_rows": int(nan.all(axis=2).sum()),
                "videos_with_nan": int(nan.any(axis=(1, 2)).sum()),
            }
        )
    rows.append(
        {
            "modality": "sync",
            "dim": fs.sync.shape[1],
            "nan_values": int(np.isnan(fs.sync).sum()),
            "nan_rate": float(np.isnan(fs.sync).mean()),
            "nan_frame_rows": 0,
            "videos_with_nan": int(np.isnan(fs.sync).any(axis=1).sum()),
        }
    )
    return pd.DataFrame(rows)


def feature_scale_table(fs: FeatureSet) -> pd.DataFrame:
    """Per modality value ranges (min, max, max |x|, median column std) over all videos and frames.

    ``orders_of_magnitude`` is log10 of the largest over the smallest modality ``abs_max``:
    the chapter's cross-modal scale imbalance, measured on these features.
    """
    rows = []
    for m, a in fs.streams.items():
        flat = a.reshape(-1, a.shape[2])
        with np.errstate(all="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                std = np.nanstd(flat, axis=0)
                rows.append(
                    {
                        "modality": m,
                        "dim": a.shape[2],
                        "min": float(np.nanmin(flat)),
                        "max": float(np.nanmax(flat)),
                        "abs_max": float(np.nanmax(np.abs(flat))),
                        "median_col_std": float(np.nanmedian(std)),
                        "max_col_std": float(np.nanmax(std)),
                    }
                )
    df = pd.DataFrame(rows)
    if len(df) and (df["abs_max"] > 0).all():
        df["orders_of_magnitude"] = np.log10(df["abs_max"].max() / df["abs_max"].min())
    return df
