"""Data contract: load and validate a dataset folder (``labels.csv`` + videos).

A dataset folder (the data contract of ``tqa``) holds ``labels.csv`` with ``video_id``, the five
score columns (:data:`tqa.core.schema.TASKS`, float in ``[score_min, score_max]`` or ``-1.0``
for "not rated", chapter 3.1.2), optional ``split`` / ``group`` / ``generator`` / ``file``
columns, and the videos in ``videos/`` beside it (``videos/<video_id>.mp4`` or any of
:data:`tqa.data.videos.VIDEO_EXTS`; a ``file`` column, relative to the folder, overrides the
lookup).

Bad rows never stop a run: each one is reported in :attr:`Dataset.problems` (CSV line,
id, file, reason) and dropped, and the rest is loaded. :meth:`Dataset.raise_if_problems`
turns the report into one :class:`DataError` listing every problem. Only structural
faults (no labels file, a required column absent) raise at once.

A public MOS table becomes such a ``labels.csv`` with :mod:`tqa.data.mos_import`; ``tqa validate``
(:mod:`tqa.data.validate`) prints the report of a folder.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tqa.core.params import load_params
from tqa.core.schema import MISSING, TASKS
from tqa.data.videos import VIDEO_EXTS, check_video, locate_video

log = logging.getLogger(__name__)

_EXT_LIST = ",".join(e[1:] for e in VIDEO_EXTS)

#: Columns every labels.csv must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("video_id", *TASKS)

#: Optional text columns carried into :attr:`Dataset.labels` when present.
OPTIONAL_COLUMNS: tuple[str, ...] = ("split", "group", "generator")

#: Columns of labels.csv that are neither scores nor metadata (never carried).
_NOT_META: tuple[str, ...] = ("file", "path", "row", "__line__")

#: Allowed values of a ``split`` column.
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")

PROBLEM_COLUMNS: tuple[str, ...] = ("row", "video_id", "file", "reason")

#: Defaults used only when no params.yaml can be read (e.g. a user's bare checkout).
_FALLBACK = {
    "labels": "labels.csv",
    "videos_dir": "videos",
    "score_min": 1.0,
    "score_max": 5.0,
    "missing_value": MISSING,
    "require_audio": True,
    "check_media": True,
}


class DataError(ValueError):
    """A dataset does not meet the data contract; the message names every file/row at fault."""


@dataclass
class Dataset:
    """A validated dataset folder.

    labels: one row per valid video: ``video_id`` (str), ``path`` (absolute str of the
        video file), the five TASKS as float64 (score or -1.0), then ``split``, ``group``,
        ``generator`` when the CSV has them, then any other column of the CSV as text
        metadata (e.g. ``portrait``, ``audio`` from ``tqa import-thqa --name-pattern``).
    problems: one row per fault: ``row`` (1-based line of labels.csv, header = line 1;
        NA when not tied to a line), ``video_id``, ``file``, ``reason``.
    unlabelled: video files in the videos folder that no row of labels.csv names.
    media: whether video files were looked for (False: a labels-only dataset).
    """

    root: Path
    labels: pd.DataFrame
    problems: pd.DataFrame
    unlabelled: list[str] = field(default_factory=list)
    #: False for a labels-only load (no video files checked; features come from a table).
    media: bool = True

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def ids(self) -> list[str]:
        return self.labels["video_id"].tolist()

    @property
    def ok(self) -> bool:
        return self.problems.empty

    def scores(self) -> np.ndarray:
        """float64 (N, 5) in TASKS order, -1.0 where missing."""
        return self.labels[list(TASKS)].to_numpy(dtype=np.float64)

    def raise_if_problems(self) -> None:
        """Raise :class:`DataError` listing every problem (no-op when there are none)."""
        if not self.problems.empty:
            raise DataError(
                format_problems(
                    self.problems, header=f"{len(self.problems)} problem(s) in {self.root}:"
                )
            )


# ---------------------------------------------------------------------------------------
# params


def data_params(params: dict | None = None) -> dict:
    """The ``data`` section (from the full params dict, the section itself, or params.yaml)."""
    if params is None:
        try:
            params = load_params()
        except FileNotFoundError:
            params = {}
    section = params.get("data", params) if isinstance(params, dict) else {}
    return {**_FALLBACK, **{k: v for k, v in section.items() if v is not None}}


# ---------------------------------------------------------------------------------------
# loading


def load_dataset(
    root: str | os.PathLike,
    params: dict | None = None,
    check_media: bool | None = None,
    check_files: bool | None = None,
    require_audio: bool | None = None,
    progress: bool = True,
) -> Dataset:
    """Load and validate a dataset folder; bad rows go to ``problems`` and are dropped.

    root: the dataset folder (or the labels CSV itself; its folder is then the root).
    params: full params dict or its ``data`` section (None: the repository's params.yaml).
    check_media: open every video with PyAV (header + first decoded frame + audio stream);
        None takes ``data.check_media``. ~ms per file.
    check_files: report missing / unreadable video files (False: labels only; ``path``
        is the file found, else the expected ``videos/<id>.mp4``, and nothing is reported).
        None (default): True when the videos folder exists or labels.csv has a ``file``
        column, else False: a labels-only dataset (labels + a feature table, no media),
        said once in the log and in :attr:`Dataset.media`.
    require_audio: a video without an audio stream is a problem ("no audio track");
        None takes ``data.require_audio``.

    Raises :class:`DataError` only when the labels file is absent/unparseable or a
    required column is missing.
    """
    p = data_params(params)
    check_media = bool(p["check_media"]) if check_media is None else check_media
    require_audio = bool(p["require_audio"]) if require_audio is None else require_audio
    labels_path, root = _labels_location(root, p)
    raw, problems = _read_labels_csv(labels_path)
    extra = [
        c
        for c in raw.columns
        if c not in REQUIRED_COLUMNS and c not in OPTIONAL_COLUMNS and c not in _NOT_META
    ]
    rows, bad_rows = _parse_rows(raw, extra, labels_path.name, p, problems)
    by_id = _flag_duplicates(rows, labels_path.name, problems, bad_rows)
    rows = [r for r in rows if r["row"] not in bad_rows]
    videos_dir = root / str(p["videos_dir"])
    if check_files is None:
        check_files = _has_media(videos_dir, raw, labels_path, p)
    _check_videos(
        rows, root, p, problems, bad_rows, check_files, check_media, require_audio, progress
    )
    good = [r for r in rows if r["row"] not in bad_rows]
    optional = [c for c in OPTIONAL_COLUMNS if c in raw.columns]
    labels = _labels_frame(good, optional, extra)

    named = set(by_id) | {Path(r["path"]).stem for r in rows if r.get("path")}
    unlabelled = (
        _unlabelled(videos_dir, named, labels_path.name)
        if check_files and videos_dir.is_dir()
        else []
    )
    prob = _problems_frame(problems)
    if len(prob):
        log.warning("%s: %d problem(s); %d valid row(s) kept", labels_path, len(prob), len(labels))
    return Dataset(
        root=root, labels=labels, problems=prob, unlabelled=unlabelled, media=bool(check_files)
    )


def _labels_location(root: str | os.PathLike, p: dict) -> tuple[Path, Path]:
    """(labels file, resolved dataset folder) of a folder or of a labels CSV given itself."""
    root = Path(root).expanduser()
    if root.is_file():
        labels_path, root = root, root.parent
    else:
        labels_path = root / p["labels"]
    return labels_path, root.resolve()


def _has_media(videos_dir: Path, raw: pd.DataFrame, labels_path: Path, p: dict) -> bool:
    """Whether video files are expected (a videos folder or a ``file`` column); a labels-only
    dataset is said once in the log."""
    media = videos_dir.is_dir() or "file" in raw.columns
    if not media:
        log.info(
            "%s: no %s/ folder and no 'file' column: labels only, video files not checked",
            labels_path,
            p["videos_dir"],
        )
    return media


def _unlabelled(videos_dir: Path, named: set[str], labels_name: str) -> list[str]:
    """Sorted stems of the video files in ``videos_dir`` that no labels row names (a warning
    when there are any: they are ignored)."""
    unlabelled = sorted(
        f.stem
        for f in videos_dir.glob("*")
        if f.suffix.lower() in VIDEO_EXTS and f.stem not in named
    )
    if unlabelled:
        log.warning(
            "%d video(s) in %s have no row in %s (ignored), e.g. %s",
            len(unlabelled),
            videos_dir,
            labels_name,
            unlabelled[:3],
        )
    return unlabelled


def _problems_frame(problems: list[dict[str, Any]]) -> pd.DataFrame:
    """The problems as a table (PROBLEM_COLUMNS), ordered by labels.csv line, then reason."""
    prob = pd.DataFrame(problems, columns=list(PROBLEM_COLUMNS))
    prob["row"] = prob["row"].astype("Int64")
    return prob.sort_values(["row", "reason"], kind="stable", na_position="first").reset_index(
        drop=True
    )


def _parse_rows(
    raw: pd.DataFrame, extra: list[str], labels_name: str, p: dict, problems: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], set[int]]:
    """One dict per labels.csv row (scores parsed, other columns stripped) and the lines with a
    problem (each reason appended to ``problems``)."""
    rows: list[dict[str, Any]] = []
    bad_rows: set[int] = set()
    vmin, vmax, missing = float(p["score_min"]), float(p["score_max"]), float(p["missing_value"])

    for rec in raw.to_dict("records"):
        line = int(rec["__line__"])  # physical line of labels.csv, header = 1
        vid = rec["video_id"].strip()
        reasons = []
        if not vid:
            reasons.append("empty video_id")
        out: dict[str, Any] = {"row": line, "video_id": vid}
        for task in TASKS:
            value, why = _parse_score(rec[task], task, vmin, vmax, missing)
            if why:
                reasons.append(why)
            out[task] = value
        for col in OPTIONAL_COLUMNS:
            if col in raw.columns:
                out[col] = rec[col].strip()
        for col in extra:
            out[col] = rec[col].strip()
        if "split" in out and out["split"] and out["split"] not in SPLIT_NAMES:
            reasons.append(f"column 'split': {out['split']!r} is not one of {list(SPLIT_NAMES)}")
        out["file"] = rec.get("file", "").strip() if "file" in raw.columns else ""
        for why in reasons:
            problems.append({"row": line, "video_id": vid, "file": labels_name, "reason": why})
        if reasons:
            bad_rows.add(line)
        rows.append(out)
    return rows, bad_rows


def _flag_duplicates(
    rows: list[dict[str, Any]], labels_name: str, problems: list[dict[str, Any]], bad_rows: set[int]
) -> dict[str, list[int]]:
    """Every row sharing an id is reported and marked bad (which is right is unknowable);
    returns video_id -> its lines."""
    by_id: dict[str, list[int]] = {}
    for r in rows:
        if r["video_id"]:
            by_id.setdefault(r["video_id"], []).append(r["row"])
    for r in rows:
        lines = by_id.get(r["video_id"], [])
        if len(lines) > 1:
            others = ", ".join(str(x) for x in lines if x != r["row"])
            problems.append(
                {
                    "row": r["row"],
                    "video_id": r["video_id"],
                    "file": labels_name,
                    "reason": f"duplicate video_id (also on line(s) {others})",
                }
            )
            bad_rows.add(r["row"])
    return by_id


def _check_videos(
    rows: list[dict[str, Any]],
    root: Path,
    p: dict,
    problems: list[dict[str, Any]],
    bad_rows: set[int],
    check_files: bool,
    check_media: bool,
    require_audio: bool,
    progress: bool,
) -> None:
    """Set each row's ``path``; with ``check_files`` report (and mark bad) missing files and,
    with ``check_media``, undecodable ones."""
    videos_dir = root / str(p["videos_dir"])
    for r in tqdm(
        rows,
        desc="checking videos",
        unit="video",
        disable=not (progress and check_files) or len(rows) < 50,
        leave=False,
    ):
        path = locate_video(root, videos_dir, r["video_id"], r["file"])
        if not check_files:
            r["path"] = str(path or (videos_dir / f"{r['video_id']}{VIDEO_EXTS[0]}"))
            continue
        if path is None:
            want = r["file"] or f"{Path(p['videos_dir']) / r['video_id']}.{{{_EXT_LIST}}}"
            problems.append(
                {
                    "row": r["row"],
                    "video_id": r["video_id"],
                    "file": str(want),
                    "reason": "video file not found",
                }
            )
            bad_rows.add(r["row"])
            continue
        r["path"] = str(path)
        if check_media:
            why = check_video(path, require_audio=require_audio)
            if why:
                problems.append(
                    {"row": r["row"], "video_id": r["video_id"], "file": str(path), "reason": why}
                )
                bad_rows.add(r["row"])


def _labels_frame(
    good: list[dict[str, Any]], optional: list[str], extra: list[str]
) -> pd.DataFrame:
    """The valid rows as the labels table: video_id, path, TASKS (float64), the ``optional`` and
    ``extra`` columns present (empty -> None)."""
    cols = ["video_id", "path", *TASKS, *optional, *extra]
    labels = pd.DataFrame(good, columns=[*cols, "row", "file"])[cols].reset_index(drop=True)
    labels["video_id"] = labels["video_id"].astype(str)
    labels["path"] = labels["path"].astype(str)
    for task in TASKS:
        labels[task] = labels[task].astype(np.float64)
    for col in [*OPTIONAL_COLUMNS, *extra]:
        if col in labels.columns:
            labels[col] = labels[col].astype(object).where(labels[col] != "", None)
    return labels


def _read_labels_csv(path: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """labels.csv as strings plus a ``__line__`` column, and the problems of malformed lines.

    Read with the csv module (not pandas) so that a line with too few / too many fields is
    one reported problem instead of a failed parse; blank lines are skipped. DataError on
    structural faults (no file, undecodable, no header, required column absent).
    """
    if not path.is_file():
        raise DataError(f"labels file not found: {path}")
    problems: list[dict[str, Any]] = []
    records: list[list[str]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, skipinitialspace=True)
            header = next(reader, None)
            if not header:
                raise DataError(
                    f"{path}: empty file (expected a header row with {list(REQUIRED_COLUMNS)})"
                )
            header = [h.strip() for h in header]
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue
                if len(fields) != len(header):
                    first = fields[0].strip() if fields else ""
                    problems.append(
                        {
                            "row": line,
                            "video_id": first,
                            "file": path.name,
                            "reason": f"expected {len(header)} fields, got {len(fields)}",
                        }
                    )
                    continue
                records.append([*fields, str(line)])
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: cannot parse as CSV: {exc}") from exc
    absent = [c for c in REQUIRED_COLUMNS if c not in header]
    if absent:
        raise DataError(f"{path}: missing required column(s) {absent}; found {header}")
    dup_cols = sorted({c for c in header if header.count(c) > 1})
    if dup_cols:
        raise DataError(f"{path}: column(s) {dup_cols} appear more than once")
    return pd.DataFrame(records, columns=[*header, "__line__"], dtype=object), problems


def _parse_score(
    cell: str, task: str, vmin: float, vmax: float, missing: float
) -> tuple[float, str | None]:
    """(value, None) for a valid score, (MISSING, None) for the missing code, else (nan, reason).

    The configured ``data.missing_value`` is the code in the *file*; the loaded table always
    uses :data:`tqa.core.schema.MISSING` (-1.0), which is what every downstream module tests for.
    """
    text = cell.strip()
    if text == "":
        return math.nan, f"column {task!r}: empty cell (write {missing} for a missing label)"
    try:
        value = float(text)
    except ValueError:
        return math.nan, f"column {task!r}: non-numeric value {text!r}"
    if math.isnan(value):
        return math.nan, f"column {task!r}: NaN (write {missing} for a missing label)"
    if value == missing:
        return MISSING, None
    if not (vmin <= value <= vmax):
        return (
            math.nan,
            f"column {task!r}: {value:g} outside [{vmin:g}, {vmax:g}] "
            f"(and not the missing code {missing:g})",
        )
    return value, None


def format_problems(problems: pd.DataFrame, header: str = "") -> str:
    """Human-readable problem list, one line per problem: ``line N [id] file: reason``."""
    lines = [header] if header else []
    for r in problems.itertuples(index=False):
        where = f"line {r.row}" if not pd.isna(r.row) else "-"
        lines.append(f"  {where:<9} [{r.video_id}] {r.file}: {r.reason}")
    return "\n".join(lines)


def split_column_warning(labels: pd.DataFrame, params: dict) -> str | None:
    """A one-line warning when the configured split needs a column ``labels`` lacks, else None."""
    sp = params.get("split") or {}
    method, col = sp.get("method", "random"), sp.get("group_column", "group")
    if method == "group" and col not in labels.columns:
        return (
            f"split.method is 'group' but the labels have no {col!r} column: derive it with "
            f"--name-pattern '{{{col}}}_...', or set -S split.group_column=COLUMN "
            f"(found {[c for c in labels.columns if c not in (*TASKS, 'path', 'file')]}), "
            "or -S split.method=random"
        )
    if method == "given" and "split" not in labels.columns:
        return "split.method is 'given' but the labels have no 'split' column"
    return None
