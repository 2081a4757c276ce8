"""The one feature loader of the study: features, labels and split aligned on video ids.

Every consumer (training runs, studies, analysis notebooks, bundle) reads its inputs
through :func:`load_training_data`, so "which videos count" is decided in one place:
current feature-cache files (or a bring-your-own feature table, read by
:func:`tqa.features.tables.features_for_training` as the bundle does), rows with labels and a
split entry. :func:`load_cached_features` is the data-analysis view: every cache file, before
any split exists.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tqa.core.params import ParamsError, resolve
from tqa.core.schema import TASKS, FeatureSet
from tqa.data.labels import DataError, Dataset, load_dataset
from tqa.data.splits import read_split
from tqa.features.cache import cached_ids, is_cached, load_feature_set
from tqa.features.config import config_hash_from_params
from tqa.features.tables import FeatureTableError, features_for_training

log = logging.getLogger(__name__)

#: What reading a command's inputs raises on bad input rather than a bug (params, labels, a
#: feature table, a missing file, features that do not match): one line, no traceback.
INPUT_ERRORS: tuple[type[Exception], ...] = (
    ParamsError,
    DataError,
    FeatureTableError,
    FileNotFoundError,
    RuntimeError,
)


def load_training_data(
    params: dict,
    features_table: str | list[str] | None = None,
) -> tuple[FeatureSet, np.ndarray, np.ndarray]:
    """Features, labels (N, 5) and split (N,) aligned on the videos present in all three.

    Features come from ``features_table`` (default ``byo.features_table``) when given,
    else from the extraction cache ``features.cache_dir`` (see :func:`load_features`).
    Labels are read without opening or requiring video files (a dataset of labels + a
    feature table has none).
    """
    ds = load_dataset(resolve(params["data"]["root"]), params, check_files=False, progress=False)
    lab = ds.labels.set_index("video_id")
    spl = read_split(resolve(params["split"]["out"])).set_index("video_id")["split"]
    ids = [v for v in lab.index if v in spl.index]
    fs = load_features(params, ids, lab.get("path"), features_table)
    have = set(fs.video_ids)
    ids = [v for v in ids if v in have]
    if not ids:
        raise RuntimeError("no video has features, labels and a split entry")
    dropped = len(lab) - len(ids)
    if dropped:
        log.warning("%d labelled video(s) lack features or a split entry and are left out", dropped)
    if ids != fs.video_ids:  # a copy of every stream costs ~1.4 s on the sample corpus
        fs = fs.subset(ids)
    return fs, lab.loc[ids, list(TASKS)].to_numpy(np.float32), spl.loc[ids].to_numpy(str)


def load_features(
    params: dict,
    ids: list[str],
    paths: pd.Series | None = None,
    features_table: str | os.PathLike | list[str] | None = None,
) -> FeatureSet:
    """Features of (some of) ``ids``: from a feature table, else from the extraction cache.

    ``features_table`` (default ``byo.features_table``): one or several tables
    (:mod:`tqa.features.tables`; relative paths against the repository, as params paths).
    Cache: only files whose ``config_hash`` is the current one
    (:func:`tqa.features.config.config_hash_from_params`) and whose source fingerprint
    matches the video file now on disk (``paths``: video_id -> file, when it exists) are
    used; the others are left out with a warning naming them. The result may lack ids.
    """
    fs = features_for_training(params, table=features_table)
    if fs is not None:
        return fs
    cache_dir = resolve(params["features"]["cache_dir"])
    chash = config_hash_from_params(params)
    # only files made with the current extractor configuration from the current video
    # content count: a video whose (re-)extraction failed is left out, not fatal
    paths = paths if paths is not None else pd.Series(dtype=object)

    def source(v: str) -> str | None:
        p = paths.get(v)
        return p if isinstance(p, str) and p else None

    current = [v for v in ids if is_cached(cache_dir, v, chash, source=source(v))]
    keep = set(current)
    stale = [v for v in ids if v not in keep]
    if stale:
        log.warning(
            "%d labelled video(s) have no current feature-cache file in %s (missing, or made "
            "with another extractor configuration / another version of the video) and are left "
            "out: %s%s",
            len(stale),
            cache_dir,
            stale[:10],
            " ..." if len(stale) > 10 else "",
        )
    if not current:
        raise RuntimeError(
            f"no labelled video has a current feature-cache file in {cache_dir} "
            f"(config hash {chash}; run `tqa extract`, or give a feature table)"
        )
    return load_feature_set(cache_dir, current)


def load_labelled_features(
    labels_path: str | os.PathLike,
    params: dict,
    features_table: str | os.PathLike | list[str] | None = None,
    strict: bool = False,
) -> tuple[FeatureSet, np.ndarray, pd.DataFrame]:
    """Features, labels (N, 5; -1.0 missing) and per-video metadata of a labels file, no split.

    What ``tqa cv`` reads: every labelled video with features (no video files needed).
    Videos without features are left out with one warning line naming the first ones;
    RuntimeError when none is left. ``strict`` (``tqa cv --features``): a feature table that
    lacks labelled videos, or holds videos the labels do not name, is a ValueError naming
    both files and the first ids (a mismatched table is a mistake, not a subset).
    """
    ds = load_dataset(labels_path, params, check_media=False, check_files=False, progress=False)
    if not ds.ok:
        log.warning(
            "%s: %d row(s) with problems left out (run `tqa validate --no-media` for the list)",
            labels_path,
            len(ds.problems),
        )
    lab = ds.labels.set_index("video_id")
    fs = load_features(params, list(lab.index), lab.get("path"), features_table)
    if strict and features_table:
        _check_table_covers(labels_path, features_table, list(lab.index), list(fs.video_ids))
    have = set(fs.video_ids)
    ids = [v for v in lab.index if v in have]
    lost = [v for v in lab.index if v not in have]
    if not ids:
        raise RuntimeError(
            f"no video of {labels_path} has a row in the features (e.g. labels "
            f"{list(lab.index[:3])}, features {list(fs.video_ids[:3])})"
        )
    if lost:
        log.warning(
            "%d labelled video(s) have no features and are left out, e.g. %s", len(lost), lost[:5]
        )
    meta = lab.loc[ids].reset_index()
    if ids != fs.video_ids:  # the features as read are already in label order, mostly
        fs = fs.subset(ids)
    return fs, lab.loc[ids, list(TASKS)].to_numpy(float), meta


def _check_table_covers(labels_path, table, labelled: list[str], featured: list[str]) -> None:
    missing = [v for v in labelled if v not in set(featured)]
    extra = [v for v in featured if v not in set(labelled)]
    if not missing and not extra:
        return
    tables = ", ".join(map(str, table)) if isinstance(table, list | tuple) else str(table)
    parts = []
    if missing:
        parts.append(f"{len(missing)} labelled video(s) of {labels_path} have no row in "
                     f"{tables}, e.g. {missing[:5]}")  # fmt: skip
    if extra:
        parts.append(f"{len(extra)} video(s) of {tables} are not in {labels_path}, "
                     f"e.g. {extra[:5]}")  # fmt: skip
    raise ValueError("; ".join(parts) + " (the labels and the feature table must name the "
                     "same videos)")  # fmt: skip


@dataclass
class StudyInputs:
    """Features, labels (N, 5; -1.0 missing), split (N,) and per-video metadata, row-aligned."""

    features: FeatureSet
    labels: np.ndarray
    split: np.ndarray
    meta: pd.DataFrame

    def __post_init__(self) -> None:
        n = len(self.features.video_ids)
        self.labels = np.asarray(self.labels, dtype=float)
        self.split = np.asarray(self.split, dtype=object)
        if self.labels.shape != (n, len(TASKS)) or self.split.shape != (n,) or len(self.meta) != n:
            raise ValueError(
                f"inputs not aligned: {n} videos, labels {self.labels.shape}, "
                f"split {self.split.shape}, meta {len(self.meta)} rows"
            )


def labels_dataset(params: dict, progress: bool = True) -> Dataset:
    """``data.root`` read for its labels only: no video is opened or required (the study's
    features come from the cache or a feature table)."""
    return load_dataset(
        resolve(params["data"]["root"]),
        params,
        check_media=False,
        check_files=False,
        progress=progress,
    )


def load_inputs(params: dict, progress: bool = True) -> StudyInputs:
    """Features, labels and split aligned by video id, exactly as training loads them.

    Delegates to :func:`load_training_data` (extraction cache, or the
    ``byo.features_table`` when set), so that a fit recorded by notebook 05 / ``tqa train``
    has the same inputs hash here and is reused instead of retrained.
    """
    fs, y, split = load_training_data(params)
    ds = labels_dataset(params, progress)
    meta = ds.labels.set_index("video_id").loc[fs.video_ids].reset_index()
    return StudyInputs(
        features=fs,
        labels=np.asarray(y, dtype=float),
        split=np.asarray(split, dtype=object),
        meta=meta,
    )


def load_cached_features(params: dict, video_ids: Sequence[str] | None = None) -> FeatureSet | None:
    """Every file of the feature cache (``features.cache_dir``) as a FeatureSet, or None when
    nothing is extracted yet (the data-analysis notebook's view, whatever the configuration).

    video_ids: restrict to these ids (those without a cache file are skipped and
    counted in the log). Any failure to read is logged and gives None, so the
    data-analysis notebook still runs before extraction. Stacks everything in memory:
    (N, T, D) float32 per modality (~5 GB for 1,985 videos at the chapter's 4,237 dims).
    """
    cache_dir = resolve(params.get("features", {}).get("cache_dir", "data/features"))
    if not cache_dir.is_dir() or next(cache_dir.glob("*.npz"), None) is None:
        log.info("features not yet extracted: no cache files in %s", cache_dir)
        return None
    ids = cached_ids(cache_dir)
    if video_ids is not None:
        wanted = set(video_ids)
        skipped = len(wanted - set(ids))
        ids = [v for v in ids if v in wanted]
        if skipped:
            log.info(
                "%d of %d videos have no cached features in %s", skipped, len(wanted), cache_dir
            )
    if not ids:
        log.info("features not yet extracted: no cache files in %s", cache_dir)
        return None
    try:
        return load_feature_set(cache_dir, ids)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("could not load features from %s: %s", cache_dir, exc)
        return None
