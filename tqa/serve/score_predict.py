"""The scores of the rows of ``tqa score``: cached features loaded file by file, predicted by
the bundle, the partial rule and the notes on untrained heads applied."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.schema import SYNC_FIELDS, TASKS, FeatureSet
from tqa.features.cache import cache_file, load_feature_set, read_meta
from tqa.serve.bundle_load import Bundle
from tqa.serve.partial_rule import edge_note, partial_rule, silent_rule, sync_rule
from tqa.serve.score_output import SYNC_COLUMNS, UNTRAINED_PREFIX

# the name `tqa score` has always logged under
log = logging.getLogger("tqa.serve.scoring")


def predict_rows(
    rows: pd.DataFrame, bundle: Bundle, cache: Path, impute: bool = False
) -> pd.DataFrame:
    """Load cached features of the pending rows, predict, fill scores + sync columns, and
    apply the partial rule (:func:`tqa.serve.partial_rule.partial_rule`,
    :func:`~tqa.serve.partial_rule.silent_rule` on the audio stream, then
    :func:`~tqa.serve.partial_rule.sync_rule` on the sync read) unless ``impute`` (the
    warnings are given either way)."""
    rows = rows.copy()
    for c in (*TASKS, *SYNC_COLUMNS):
        rows[c] = np.nan
    pending = rows.index[rows["status"] == "pending"].tolist()
    loaded: list[FeatureSet] = []
    ok_idx: list[int] = []
    rule_tasks: dict[int, set[str]] = {}  # what the input checks found missing, per row
    warned: dict[int, list[str]] = {}
    for i in pending:  # one by one: a damaged cache file fails its row only
        try:
            fs = load_feature_set(cache, [rows.at[i, "_key"]], bundle.modalities)
        except Exception as exc:  # noqa: BLE001 - reported per file
            rows.loc[i, ["status", "error"]] = ["failed", f"features not available: {exc}"]
            continue
        loaded.append(fs)
        ok_idx.append(i)
        tasks, warned[i] = _input_checks(cache, rows.at[i, "_key"])
        rule_tasks[i] = tasks or set()
        audio = fs.streams["audio"][0] if "audio" in fs.streams else None
        tasks, why = silent_rule(audio, rule_tasks[i])
        rule_tasks[i] |= tasks
        warned[i] += why
    if not ok_idx:
        return rows
    fs = _concat(loaded)
    rows.loc[ok_idx, list(TASKS)] = bundle.predict(fs)
    for col, values in sync_columns(fs).items():
        rows.loc[ok_idx, col] = values
    max_offset = int((bundle.params.get("features") or {}).get("sync_max_offset", 15))
    for i in ok_idx:  # the sync is read from the features, so its rule comes after them
        tasks, why = sync_rule(rows.at[i, "sync_offset"], rule_tasks[i])
        rule_tasks[i] |= tasks
        warned[i] += why + edge_note(rows.at[i, "sync_offset"], max_offset)
        if warned[i]:
            rows.at[i, "warning"] = "; ".join(warned[i])
            log.warning("%s: %s", rows.at[i, "path"], "; ".join(warned[i]))
    note_untrained(rows, ok_idx, bundle)
    nan_tasks = {} if impute else rule_tasks
    rows.loc[ok_idx, "status"] = "ok"
    for i, tasks in nan_tasks.items():
        if tasks:
            rows.loc[i, sorted(tasks)] = np.nan
            rows.at[i, "status"] = "partial"
    return rows


def _input_checks(cache: Path, key: str) -> tuple[set[str] | None, list[str]]:
    """(scores the partial rule sets NaN, warnings) of one cached file; None when its meta
    cannot be read (the features loaded: only the input checks are skipped)."""
    try:
        meta = read_meta(cache_file(cache, key))
        tasks, warnings = partial_rule(meta)
        if meta.get("decode_warning"):
            warnings.append(str(meta["decode_warning"]))
    except Exception as exc:  # noqa: BLE001 - the features loaded; only the meta is unreadable
        return None, [f"cache meta unreadable ({exc}): input checks skipped"]
    return tasks, warnings


def _concat(parts: list[FeatureSet]) -> FeatureSet:
    first = parts[0]
    if len(parts) == 1:
        return first
    return FeatureSet(
        video_ids=[v for p in parts for v in p.video_ids],
        streams={m: np.concatenate([p.streams[m] for p in parts]) for m in first.streams},
        sync=np.concatenate([p.sync for p in parts]),
        names=dict(first.names),
        meta=dict(first.meta),
    )


def sync_columns(fs: FeatureSet) -> dict[str, np.ndarray]:
    """``sync_offset``, ``sync_confidence``, ``sync_distance`` of the videos of ``fs``."""
    sync = np.asarray(fs.sync, dtype=np.float64)
    fields = ("offset", "confidence", "distance")
    return {col: sync[:, SYNC_FIELDS.index(f)] for col, f in zip(SYNC_COLUMNS, fields)}


def untrained_note(bundle: Bundle) -> str:
    """The warning for scores of heads without training labels ("" when every head is trained)."""
    missing = [t for t in TASKS if t not in set(bundle.trained_heads)]
    if not missing:
        return ""
    return f"{UNTRAINED_PREFIX}{', '.join(missing)} (NaN: the model never saw a label for them)"


def note_untrained(rows: pd.DataFrame, idx: list, bundle: Bundle) -> None:
    """Append :func:`untrained_note` to the ``warning`` of the rows ``idx``."""
    note = untrained_note(bundle)
    if not note or not len(idx):
        return
    for i in idx:
        old = str(rows.at[i, "warning"] or "")
        rows.at[i, "warning"] = f"{old}; {note}" if old else note
