"""MOS-table import: a public MOS table (video name + one MOS) -> a contract ``labels.csv``.

:func:`import_thqa` (``tqa import-thqa``) turns a THQA-style MOS table (video name + one MOS
on 0-5) into a ``labels.csv`` (:mod:`tqa.data.labels`) with ``overall`` rescaled to [1, 5] and
the four other tasks missing; ``--name-pattern`` (:mod:`tqa.data.name_patterns`) derives
columns from the names, ``--frames`` / ``--features-out`` (:mod:`tqa.data.release_features`)
map the release's own features to feature tables.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv
from tqa.core.params import ParamsError, add_params_arguments, cli_path, params_from_args
from tqa.core.schema import TASKS
from tqa.data.labels import OPTIONAL_COLUMNS, DataError, data_params, split_column_warning
from tqa.data.name_patterns import fields_from_names
from tqa.data.release_features import ReleaseFeatureError, release_feature_tables, write_tables
from tqa.data.videos import VIDEO_EXTS, locate_video

log = logging.getLogger(__name__)

#: Names of the video-name column, tried in order (case-insensitive) when none is given.
NAME_COLUMNS: tuple[str, ...] = (
    "video_id", "name", "video", "video_name", "filename", "file_name", "file", "vid", "clip",
    "image", "image_name", "img", "stimulus", "sample", "id",
)  # fmt: skip
#: Names of the MOS column, tried in order (case-insensitive) when none is given.
MOS_COLUMNS: tuple[str, ...] = (
    "mos", "score", "mos_score", "overall", "quality", "rating", "mean_score", "dmos", "mean",
)  # fmt: skip
#: The command-line option that names each column explicitly.
_COLUMN_OPTION = {"video name": "--name-col", "MOS": "--mos-col"}


def rescale_mos(
    mos: np.ndarray | float,
    mos_scale: Sequence[float] = (0.0, 5.0),
    target: Sequence[float] = (1.0, 5.0),
) -> np.ndarray:
    """Linear map of MOS from ``mos_scale`` = (lo, hi) onto ``target`` = (a, b).

    ``a + (mos - lo) * (b - a) / (hi - lo)``: THQA's 0-5 MOS becomes our 1-5 scale
    (0 -> 1, 2.5 -> 3, 5 -> 5), keeping order and relative distances.
    """
    lo, hi = map(float, mos_scale)
    a, b = map(float, target)
    if hi <= lo:
        raise ValueError(f"mos_scale must be (low, high) with low < high, got {tuple(mos_scale)}")
    return a + (np.asarray(mos, dtype=np.float64) - lo) * (b - a) / (hi - lo)


def video_id_from_name(name: str) -> str:
    """``video_id`` of a THQA-style name: the file stem (folders and a video extension dropped)."""
    base = Path(name.strip().replace("\\", "/")).name
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in VIDEO_EXTS else base


def _pick_column(
    columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str, src: Path
) -> str:
    """The column ``wanted`` (must exist), else the first of ``candidates`` present, any case;
    DataError naming the columns found and the option that picks one."""
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{src}: no column {wanted!r} ({what}); found {list(columns)}")
        return wanted
    lower = {c.lower().strip(): c for c in columns}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    raise DataError(
        f"{src}: cannot tell which column holds the {what}; found {list(columns)}; "
        f"name it with {_COLUMN_OPTION.get(what, 'the column option')} COLUMN "
        f"(recognised names: {list(candidates)})"
    )


def read_mos_table(src: Path) -> pd.DataFrame:
    """A MOS table as strings (CSV; .txt/.tsv: delimiter sniffed), column names stripped;
    DataError naming the file when it is missing or cannot be parsed."""
    if not src.is_file():
        raise DataError(f"MOS file not found: {src}")
    sep = None if src.suffix.lower() in {".txt", ".tsv"} else ","
    try:
        raw = pd.read_csv(
            src, dtype=str, keep_default_na=False, sep=sep, engine="python" if sep is None else "c"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{src}: cannot parse: {exc}") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw


def import_thqa(
    csv_path: str | os.PathLike,
    out_labels_path: str | os.PathLike | None,
    video_dir: str | os.PathLike | None = None,
    name_col: str | None = None,
    mos_col: str | None = None,
    mos_scale: Sequence[float] = (0.0, 5.0),
    params: dict | None = None,
    name_pattern: str | None = None,
) -> pd.DataFrame:
    """Convert a THQA-style MOS table into our labels.csv (written atomically).

    The input has one row per video: a name column (``name``/``video``/``filename``...,
    or ``name_col``) and one MOS column (``mos``/``MOS``/``score``..., or ``mos_col``) on
    ``mos_scale`` (THQA: 0-5). ``video_id`` is the file stem of the name; ``overall`` is
    the MOS linearly rescaled onto [score_min, score_max] (:func:`rescale_mos`); the four
    other tasks are the missing code (-1.0). Any ``group``/``generator``/``split`` column
    is carried over. ``name_pattern`` (:func:`name_pattern_regex`) derives columns from
    the video ids, e.g. ``{group}_{audio}_{generator}``; a field named like a carried
    column replaces it. With ``video_dir``, a ``file`` column gives each video's path
    relative to the output's folder (absolute if that is impossible); names with no file
    there are logged, and ``tqa validate`` will report them.

    Raises :class:`DataError` naming the line for an empty name, a non-numeric MOS, a MOS
    outside ``mos_scale``, or a duplicate video id.
    """
    p = data_params(params)
    src = Path(csv_path)
    raw = read_mos_table(src)
    ncol = _pick_column(raw.columns, name_col, NAME_COLUMNS, "video name", src)
    mcol = _pick_column(raw.columns, mos_col, MOS_COLUMNS, "MOS", src)
    ids, mos = _ids_and_mos(raw[ncol], raw[mcol], ncol, mos_scale, src)
    out = _labels_from_mos(ids, mos, mos_scale, p)
    _carry_columns(out, raw, ids, name_pattern)
    if video_dir is not None:
        out["file"] = _thqa_files(
            raw[ncol].tolist(),
            ids,
            Path(video_dir),
            Path(out_labels_path).parent if out_labels_path else Path.cwd(),
        )
    if out_labels_path is not None:
        _write_labels(out, out_labels_path, mos_scale, p)
    return out


def _ids_and_mos(
    names: pd.Series, scores: pd.Series, ncol: str, mos_scale: Sequence[float], src: Path
) -> tuple[list[str], list[float]]:
    """The video id and MOS of every row; DataError listing every bad line (empty name,
    non-numeric MOS or one outside ``mos_scale``, duplicate id) so one run shows them all."""
    lo, hi = map(float, mos_scale)
    errors: list[str] = []
    ids, mos = [], []
    for i, (name, m) in enumerate(zip(names, scores)):
        line = i + 2
        name = name.strip()
        if not name:
            errors.append(f"line {line}: empty {ncol!r}")
        try:
            val = float(m)
            if not (lo <= val <= hi):
                errors.append(f"line {line} [{name}]: MOS {val:g} outside {tuple(mos_scale)}")
        except ValueError:
            errors.append(f"line {line} [{name}]: non-numeric MOS {m!r}")
            val = math.nan
        ids.append(video_id_from_name(name))
        mos.append(val)
    errors += _duplicate_id_errors(ids)
    if errors:
        raise DataError(f"{src}: {len(errors)} problem(s):\n  " + "\n  ".join(errors))
    return ids, mos


def _duplicate_id_errors(ids: list[str]) -> list[str]:
    """One error per repeat of a video id (data line = index + 2), naming its first line."""
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, vid in enumerate(ids):
        if vid in seen:
            errors.append(f"line {i + 2}: duplicate video id {vid!r} (first on line {seen[vid]})")
        seen.setdefault(vid, i + 2)
    return errors


def _labels_from_mos(
    ids: list[str], mos: list[float], mos_scale: Sequence[float], p: dict
) -> pd.DataFrame:
    """video_id + the five TASKS: ``overall`` = the MOS rescaled, the others the missing code."""
    lo, hi = map(float, mos_scale)
    out = pd.DataFrame({"video_id": ids})
    for task in TASKS:
        out[task] = float(p["missing_value"])
    out["overall"] = rescale_mos(
        np.array(mos), (lo, hi), (float(p["score_min"]), float(p["score_max"]))
    )
    return out


def _carry_columns(
    out: pd.DataFrame, raw: pd.DataFrame, ids: list[str], name_pattern: str | None
) -> None:
    """Add to ``out`` the table's group/generator/split columns (any case), then the
    ``name_pattern`` fields of the ids (a field named like a carried column replaces it)."""
    for col in OPTIONAL_COLUMNS:
        src_col = next((c for c in raw.columns if c.lower() == col), None)
        if src_col is not None:
            out[col] = raw[src_col].str.strip().to_numpy()
    if name_pattern:
        fields = fields_from_names(ids, name_pattern)
        for col in fields.columns:
            out[col] = fields[col].to_numpy()


def _write_labels(
    out: pd.DataFrame, path: str | os.PathLike, mos_scale: Sequence[float], p: dict
) -> None:
    """Write the imported labels atomically (6 significant digits) and log what ``overall`` is."""
    write_csv(path, out, float_format="%.6g")
    log.info(
        "wrote %s (%d videos; overall = MOS rescaled from %s to [%g, %g])",
        path,
        len(out),
        tuple(mos_scale),
        p["score_min"],
        p["score_max"],
    )


def _thqa_files(names: list[str], ids: list[str], video_dir: Path, out_dir: Path) -> list[str]:
    """The ``file`` column: each name's video under ``video_dir`` (as named, else found by
    id), relative to ``out_dir``; names with no file are logged (``tqa validate`` reports them)."""
    files, missing = [], []
    for name, vid in zip(names, ids):
        cand = video_dir / name.strip()
        if not cand.is_file():
            cand = locate_video(video_dir, video_dir, vid, "") or cand
        if not cand.is_file():
            missing.append(name)
        files.append(_relpath(cand.resolve(), out_dir.resolve()))
    if missing:
        log.warning(
            "%d of %d videos not found under %s, e.g. %s",
            len(missing),
            len(names),
            video_dir,
            missing[:3],
        )
    return files


def _relpath(path: Path, start: Path) -> str:
    """``path`` relative to ``start``, or absolute when no relative path exists."""
    try:
        return os.path.relpath(path, start)
    except ValueError:  # another drive on Windows
        return str(path)


# ---------------------------------------------------------------------------------------
# CLI


def main_import_thqa(argv: list[str] | None = None) -> int:
    """``tqa import-thqa CSV --out labels.csv [--name-col C] [--mos-col C] [--mos-range LO HI]
    [--name-pattern P] [--videos DIR]``."""
    args = _import_parser().parse_args(argv)
    try:
        params = params_from_args(args)
        out = cli_path(args.out)
        if args.frames and not args.features_out:
            raise DataError("--frames needs --features-out DIR (where frames.csv goes)")
        tables = _release_tables(args) if args.features_out else {}  # checked before writing
        df = import_thqa(
            cli_path(args.csv),
            out,
            video_dir=cli_path(args.videos),
            name_col=args.name_col,
            mos_col=args.mos_col,
            mos_scale=tuple(args.mos_range),
            params=params,
            name_pattern=args.name_pattern,
        )
        written = write_tables(tables, cli_path(args.features_out)) if tables else []
    except (DataError, ParamsError, ReleaseFeatureError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    _print_import_summary(args, df, params, written)
    return 0


def _import_parser() -> argparse.ArgumentParser:
    """The options of ``tqa import-thqa`` (with the params options)."""
    ap = argparse.ArgumentParser(
        prog="tqa import-thqa",
        description="Convert a public MOS table (video name + one MOS) into labels.csv.",
    )
    ap.add_argument("csv", help="MOS table (CSV; .txt/.tsv: delimiter sniffed)")
    ap.add_argument("--out", required=True, help="labels.csv to write")
    ap.add_argument("--videos", default=None, help="folder of the videos (adds a `file` column)")
    ap.add_argument(
        "--name-col", default=None, help="column of the video names (default: detected)"
    )
    ap.add_argument("--mos-col", default=None, help="column of the MOS (default: detected)")
    ap.add_argument(
        "--mos-range",
        "--mos-scale",
        dest="mos_range",
        nargs=2,
        type=float,
        default=(0.0, 5.0),
        metavar=("LO", "HI"),
        help="the MOS scale of the release, mapped linearly onto [score_min, score_max] "
        "(default 0 5)",
    )
    ap.add_argument(
        "--name-pattern",
        default=None,
        help="derive columns from the names, e.g. '{group}_{audio}_{generator}' "
        "(or a regex with named groups)",
    )
    ap.add_argument(
        "--frames",
        default=None,
        help="the release's per-frame feature table (THQA: lib_c.csv), mapped to "
        "<modality>__* columns in FEATURES_OUT/frames.csv (tqa/data/release_features.py)",
    )
    ap.add_argument("--frames-modality", default="visual", help="modality of the --frames columns")
    ap.add_argument(
        "--features-out",
        default=None,
        help="folder for the release's own features as tqa feature tables: frames.csv "
        "(from --frames) and sync.csv (the MOS table's avset/distance/confi)",
    )
    add_params_arguments(ap)
    return ap


def _print_import_summary(
    args: argparse.Namespace, df: pd.DataFrame, params: dict, written: list[Path]
) -> None:
    """What was written: the MOS mapping, the metadata columns, a split warning, the tables."""
    d = data_params(params)
    lo, hi = args.mos_range
    print(
        f"wrote {args.out}: {len(df)} videos; overall = MOS mapped linearly from [{lo:g}, {hi:g}] "
        f"to [{d['score_min']:g}, {d['score_max']:g}] (range now {df['overall'].min():.3f} .. "
        f"{df['overall'].max():.3f}); the other four tasks are missing ({d['missing_value']:g})"
    )
    meta = [c for c in df.columns if c not in ("video_id", *TASKS, "file")]
    if meta:
        print("columns: " + ", ".join(f"{c} ({df[c].nunique()} values)" for c in meta))
    warn = split_column_warning(df, params)
    if warn:
        print(f"warning: {warn}")
    for t in written:
        print(f"wrote {t} (feature table: `tqa cv --features` / `tqa train --features`)")


def _release_tables(args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """The release's own features as tqa tables (:mod:`tqa.data.release_features`)."""
    src = cli_path(args.csv)
    raw = read_mos_table(src)  # as import_thqa reads it (a .tsv MOS table too)
    ncol = _pick_column(raw.columns, args.name_col, NAME_COLUMNS, "video name", src)
    return release_feature_tables(
        raw, ncol, cli_path(args.frames) if args.frames else None, args.frames_modality,
        str(src), id_fn=video_id_from_name,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return main_import_thqa(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(main())
