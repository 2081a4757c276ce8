"""Features of the files to score: extracted with EXACTLY the bundle's extractor settings into
a feature cache that outlives an interrupted run, each file's failure marked on its row."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from tqa.core.params import resolve
from tqa.features.pipeline import FeatureExtractor
from tqa.features.status import ExtractionInterrupted
from tqa.serve.bundle_format import BundleMismatchError
from tqa.serve.bundle_load import Bundle

# the name `tqa score` has always logged under
log = logging.getLogger("tqa.serve.scoring")

#: Default feature cache of scored files (relative to the repository root) when params have no
#: ``score.cache_dir``.
DEFAULT_CACHE_DIR = "data/score_cache"


def extractor_for(bundle: Bundle, params: dict) -> FeatureExtractor:
    """FeatureExtractor with the bundle's extractor settings, checked against what is installed."""
    fparams = bundle.feature_params(params)
    try:
        extractor = FeatureExtractor(fparams)
    except KeyError as exc:  # an extractor name this installation does not register
        raise BundleMismatchError(
            f"model bundle {bundle.path} needs extractors this installation cannot build: {exc}.\n"
            "Fix: install the tqa version / extractor plugin the bundle was made with, or retrain "
            "(`make repro`) with the extractors you have."
        ) from exc
    bundle.check_extractors({m: e.describe() for m, e in extractor.extractors.items()})
    return extractor


@contextmanager
def feature_cache(cache_dir: str | Path | None) -> Iterator[tuple[Path, bool]]:
    """(cache folder, kept): ``cache_dir`` resolved and kept, or, when it is None or empty
    (``score.cache_dir: null``), a temporary folder removed on exit."""
    if cache_dir:
        yield resolve(cache_dir), True
        return
    tmp = tempfile.mkdtemp(prefix="tqa-score-")
    try:
        yield Path(tmp), False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_features(
    rows: pd.DataFrame,
    extractor: FeatureExtractor,
    cache: Path,
    workers: int | None,
    progress: bool,
    kept: bool,
) -> ExtractionInterrupted | None:
    """Extract the features of the rows with a cache key into ``cache`` and mark the rows
    whose extraction failed; the interruption when Ctrl-C stopped it (finished files stay
    cached)."""
    todo = rows[rows["_key"].notna()]
    if not len(todo):
        return None
    interrupted = None
    try:
        status = extractor.run(
            list(zip(todo["_key"], todo["path"])), cache, workers=workers, progress=progress
        )
    except ExtractionInterrupted as exc:
        interrupted = exc
        status = exc.table
        if kept:
            log.warning(
                "scoring interrupted: features of the files finished so far are kept in "
                "%s; run the same command again to resume",
                cache,
            )
    apply_status(rows, status)
    return interrupted


def apply_status(rows: pd.DataFrame, status: pd.DataFrame | None) -> None:
    """Mark rows whose extraction failed (status DataFrame from FeatureExtractor.run)."""
    if status is None or len(status) == 0:
        return
    reason_col = next((c for c in ("reason", "error", "message") if c in status.columns), None)
    by_key = status.set_index("video_id") if "video_id" in status.columns else status
    for i, key in rows["_key"].items():
        if key is None or key not in by_key.index:
            continue
        rec = by_key.loc[key]
        if isinstance(rec, pd.DataFrame):
            rec = rec.iloc[-1]
        if str(rec.get("status", "")).lower() == "interrupted":
            rows.loc[i, ["status", "error"]] = ["interrupted", "interrupted (Ctrl-C)"]
        elif str(rec.get("status", "")).lower() in {"failed", "error"}:
            reason = str(rec.get(reason_col, "") or "") if reason_col else ""
            stage = str(rec.get("stage", "") or "")
            reason = reason or "extraction failed"
            rows.loc[i, ["status", "error"]] = ["failed", f"{stage}: {reason}" if stage else reason]
