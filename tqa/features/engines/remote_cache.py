"""The feature cache on a shared path or an object store, through fsspec.

``cache_dir`` is either a local folder (``data/features``, ``/mnt/shared/features``,
``file:///mnt/shared/features``) or any fsspec URL (``s3://bucket/tqa/features``,
``gs://...``, ``ssh://host/path``, ``memory://features`` in tests). The cache layout is
the local one of :mod:`tqa.features.cache` — one ``<video_id>.npz`` per video plus
``failures.csv`` — so a remote cache can be pulled with :func:`pull` (or ``dvc pull``,
``aws s3 sync``) and read with ``load_feature_set`` unchanged.

Writes to a remote cache keep the local guarantee that a half-written file never counts
as cached: a worker extracts into a private local temporary folder, uploads under a
temporary name and then renames (:func:`put_atomic`); on object stores the final object
appears only once complete either way.

Protocol-specific packages (``s3fs``, ``gcsfs``, ``sshfs``...) are NOT dependencies of
tqa: install the one for your store on the driver and on every worker.
"""

from __future__ import annotations

import io
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from tqa.core.atomic import atomic_path, write_csv
from tqa.features import cache as fcache
from tqa.features.cache import StrPath
from tqa.features.pipeline import extract_one
from tqa.features.status import FAILURES

log = logging.getLogger(__name__)

#: fsspec protocols that are this machine's own file system.
LOCAL_PROTOCOLS = frozenset({"file", "local"})
SUFFIX = ".npz"


def is_remote(cache_dir: StrPath) -> bool:
    """True when ``cache_dir`` is a URL of a non-local fsspec file system."""
    text = str(cache_dir)
    if "://" not in text:
        return False
    return text.split("://", 1)[0].lower() not in LOCAL_PROTOCOLS


def local_dir(cache_dir: StrPath) -> Path:
    """A local cache folder as a Path (``file://`` stripped); error for a remote URL."""
    if is_remote(cache_dir):
        raise ValueError(f"{cache_dir!s} is a remote URL, not a local folder")
    text = str(cache_dir)
    if "://" in text:
        text = text.split("://", 1)[1]
    return Path(text)


def get_fs(cache_url: str):
    """``(fs, root)``: the fsspec file system and the path of the cache inside it."""
    import fsspec  # noqa: PLC0415 (only remote caches need it)

    fs, root = fsspec.core.url_to_fs(str(cache_url))
    return fs, root.rstrip("/")


def entry_name(video_id: str) -> str:
    """File name of one video's cache entry (the local layout of tqa.features.cache)."""
    return f"{video_id}{SUFFIX}"


def put_atomic(fs, local_file: StrPath, remote_path: str) -> None:
    """Upload ``local_file`` to ``remote_path`` so that readers never see a partial file."""
    parent = remote_path.rsplit("/", 1)[0]
    tmp = f"{parent}/.{remote_path.rsplit('/', 1)[-1]}.{uuid.uuid4().hex}.part"
    fs.makedirs(parent, exist_ok=True)
    fs.put_file(str(local_file), tmp)
    try:
        fs.mv(tmp, remote_path)
    except Exception:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise


def is_cached(
    cache_dir: StrPath, video_id: str, config_hash: str, source: StrPath | None = None
) -> bool:
    """``tqa.features.cache.is_cached`` for a local folder or a remote URL.

    Remote: the entry must exist (``fs.exists``) and its meta must carry ``config_hash``
    (an entry from another extractor configuration is stale and is re-extracted). Only
    the zip directory and the small ``meta`` member are read (a seekable fsspec file),
    with :func:`tqa.features.cache.read_meta`, so both share one cache format.
    """
    if not is_remote(cache_dir):
        return fcache.is_cached(local_dir(cache_dir), video_id, config_hash, source=source)
    fs, root = get_fs(str(cache_dir))
    remote = f"{root}/{entry_name(video_id)}"
    if not fs.exists(remote):
        return False
    try:
        with fs.open(remote, "rb") as fh:
            return fcache.meta_is_current(fcache.read_meta(fh), config_hash, source)
    except Exception as exc:  # corrupt / foreign object: re-extract
        log.warning(
            "%s: unreadable cache entry, will re-extract (%s)",
            f"{cache_dir}/{entry_name(video_id)}",
            exc,
        )
        return False


def extract_one_remote(video_id: str, path: str, params: dict, cache_url: str) -> dict:
    """:func:`tqa.features.pipeline.extract_one` for a remote cache.

    Extracts into a private local temporary folder, then uploads the entry atomically.
    Picklable (module level) so that Dask workers can run it. The returned status dict
    is extract_one's, with ``cache`` set to the remote entry's URL when one was written.
    """
    fs, root = get_fs(cache_url)
    with tempfile.TemporaryDirectory(prefix="tqa-extract-") as tmp:
        status = dict(extract_one(video_id, path, params, tmp))
        produced = Path(tmp) / entry_name(video_id)
        if produced.exists():
            put_atomic(fs, produced, f"{root}/{entry_name(video_id)}")
            status["cache"] = f"{str(cache_url).rstrip('/')}/{entry_name(video_id)}"
    return status


def read_failures(cache_dir: StrPath) -> pd.DataFrame:
    """The cache's ``failures.csv`` (empty frame when there is none)."""
    if not is_remote(cache_dir):
        path = local_dir(cache_dir) / FAILURES
        return pd.read_csv(path) if path.exists() else pd.DataFrame()
    fs, root = get_fs(str(cache_dir))
    remote = f"{root}/{FAILURES}"
    if not fs.exists(remote):
        return pd.DataFrame()
    with fs.open(remote, "rb") as fh:
        return pd.read_csv(io.BytesIO(fh.read()))


def append_failures(cache_dir: StrPath, rows: list[dict[str, Any]]) -> None:
    """Append failure rows (video_id, file, stage, reason, time) to the cache's failures.csv.

    Only the driver calls this (one writer), so a read-modify-write with an atomic
    replace is safe on object stores that have no append.
    """
    if not rows:
        return
    table = pd.concat([read_failures(cache_dir), pd.DataFrame(rows)], ignore_index=True)
    if not is_remote(cache_dir):
        write_csv(local_dir(cache_dir) / FAILURES, table)
        return
    fs, root = get_fs(str(cache_dir))
    with tempfile.TemporaryDirectory(prefix="tqa-failures-") as tmp:
        path = Path(tmp) / FAILURES
        table.to_csv(path, index=False)
        put_atomic(fs, path, f"{root}/{FAILURES}")


def push(local_cache: StrPath, cache_url: str, video_ids: list[str] | None = None) -> list[str]:
    """Upload local entries (all, or those of ``video_ids``) to ``cache_url``; ids pushed."""
    fs, root = get_fs(cache_url)
    local = Path(local_cache)
    ids = video_ids if video_ids is not None else sorted(p.stem for p in local.glob(f"*{SUFFIX}"))
    pushed = []
    for vid in ids:
        src = local / entry_name(vid)
        if src.exists():
            put_atomic(fs, src, f"{root}/{entry_name(vid)}")
            pushed.append(vid)
    return pushed


def pull(cache_url: str, local_cache: StrPath, video_ids: list[str] | None = None) -> list[str]:
    """Download entries (all, or those of ``video_ids``) of ``cache_url`` into a local folder.

    After a pull, ``tqa.features.cache.load_feature_set(local_cache)`` reads them as usual.
    Returns the ids downloaded; an id with no remote entry raises KeyError naming it.
    """
    fs, root = get_fs(cache_url)
    local = Path(local_cache)
    local.mkdir(parents=True, exist_ok=True)
    if video_ids is None:
        names = [p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)]
        video_ids = sorted(
            n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX) and not n.startswith(".")
        )
    missing = [v for v in video_ids if not fs.exists(f"{root}/{entry_name(v)}")]
    if missing:
        raise KeyError(f"no cache entry in {cache_url} for video ids {missing[:5]}")
    for vid in video_ids:
        with atomic_path(local / entry_name(vid)) as tmp:
            fs.get_file(f"{root}/{entry_name(vid)}", str(tmp))
    return list(video_ids)
