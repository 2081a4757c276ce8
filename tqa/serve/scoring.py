"""`tqa score`: the five quality scores for your own videos, with a trained bundle.

``score(paths)`` expands files and folders to video files, extracts their features with
EXACTLY the extractor settings the bundle was trained with (``FeatureExtractor`` built
from the bundle's params snapshot; refused by :class:`tqa.serve.bundle.BundleMismatchError`
when the installed extractors differ), predicts the five scores and returns one row per
file: ``video_id, path, lip_sync, expression, audio_quality, cross_modal, overall,
sync_offset, sync_confidence, sync_distance, status, error, warning``. A file that cannot be
decoded or processed gets ``status='failed'``, NaN scores and the reason; the batch goes
on. **Partial rule** (garbage is never ranked first): when a file has no audio track, a face
in fewer than :data:`FACE_RATE_WARN` of its frames, or less than :data:`MIN_REAL_SECONDS`
of real (decoded, not padded) frames, the scores that depend on the missing input are NaN
(:func:`partial_rule`), ``status='partial'`` and ``warning`` gives the reason. ``impute=True``
(``--impute``) keeps the old behaviour: the missing inputs are imputed by the bundle's
preprocessor, ``status='ok'`` with the same ``warning``. A truncated file is scored from what
decodes, with the warning "<file>: truncated after X s". Ctrl-C stops a multi-worker run
within seconds (:class:`ScoringInterrupted`): finished files stay in the cache, the rows done
so far are written with the rest marked ``status='interrupted'``, and the CLI exits 130.
Features go to a persistent cache directory (``--cache`` /
``score.cache_dir``, default ``data/score_cache``; ``null`` = a temporary folder removed
afterwards), keyed by file path, size and modification time, so a re-run — also after an
interrupted run — skips finished files.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv, write_json
from tqa.core.params import (
    ParamsError,
    add_params_arguments,
    cli_path,
    load_params,
    params_from_args,
    resolve,
)
from tqa.core.schema import SYNC_FIELDS, TASKS, FeatureSet
from tqa.features.cache import cache_file, load_feature_set, read_meta
from tqa.features.pipeline import ExtractionInterrupted, FeatureExtractor
from tqa.features.tables import load_feature_table
from tqa.serve.bundle import Bundle, BundleError, BundleMismatchError, load_bundle

log = logging.getLogger(__name__)

#: Video file extensions found when a folder is given (``score.extensions`` overrides).
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".flv",
    ".wmv",
    ".3gp",
)
#: Output columns, in order.
SYNC_COLUMNS: tuple[str, ...] = ("sync_offset", "sync_confidence", "sync_distance")
COLUMNS: tuple[str, ...] = ("video_id", "path", *TASKS, *SYNC_COLUMNS, "status", "error", "warning")
#: Default feature cache of scored files (relative to the repository root) when params have no
#: ``score.cache_dir``.
DEFAULT_CACHE_DIR = "data/score_cache"
#: A scored file whose face was detected in fewer than this share of its frames is partial.
FACE_RATE_WARN = 0.5
#: A scored file with fewer seconds of real (decoded) frames than this is partial (all NaN).
MIN_REAL_SECONDS = 1.0
#: Scores that need each input (the partial rule sets them NaN when it is missing).
NEEDS_AUDIO: tuple[str, ...] = ("lip_sync", "audio_quality", "cross_modal", "overall")
NEEDS_FACE: tuple[str, ...] = ("lip_sync", "expression", "cross_modal", "overall")
#: Exit status of the CLI after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
NO_AUDIO_WARNING = (
    "no audio track: audio features imputed, audio_quality/cross_modal/lip_sync unreliable"
)
OUT_FORMATS: tuple[str, ...] = (".csv", ".json")
#: Start of the ``warning`` note on scores of heads that never saw a training label.
UNTRAINED_PREFIX = "no training labels for "


def find_videos(
    paths: str | Path | Sequence[str | Path],
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    recursive: bool = True,
) -> list[Path]:
    """Files as given (any extension) and the video files inside folders, sorted, no duplicates.

    A path that does not exist is kept (it becomes a 'failed' row naming it).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            it = p.rglob("*") if recursive else p.glob("*")
            found += sorted(
                f
                for f in it
                if f.is_file() and f.suffix.lower() in exts and not f.name.startswith(".")
            )
        else:
            found.append(p)
    seen, out = set(), []
    for f in found:
        key = str(f.resolve()) if f.exists() else str(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def display_ids(files: Sequence[Path]) -> list[str]:
    """Readable video ids (file stems); repeated stems get the parent folder, then a counter."""
    stems = [f.stem for f in files]
    ids = []
    for f, s in zip(files, stems):
        ids.append(s if stems.count(s) == 1 else f"{f.parent.name}/{s}")
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        out.append(i if seen[i] == 1 else f"{i}#{seen[i]}")
    return out


def cache_key(path: Path) -> str:
    """Cache id of a file: stem + hash of its absolute path, size, mtime (stale: re-extract)."""
    st = path.stat()
    blob = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:40]
    return f"{stem}-{hashlib.sha256(blob).hexdigest()[:12]}"


def score(
    paths: str | Path | Sequence[str | Path],
    model: str | Path | Bundle | None = None,
    out: str | Path | None = None,
    workers: int | None = None,
    params: dict | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    impute: bool = False,
) -> pd.DataFrame:
    """Score video files/folders with a trained bundle; one row per file (see module docstring).

    impute: score files with missing inputs from imputed features (``status='ok'`` + warning)
    instead of the partial rule's NaN. Ctrl-C raises :class:`ScoringInterrupted`.

    model: bundle directory (default ``score.bundle_dir``) or a loaded Bundle.
    out: ``.csv`` or ``.json`` file written atomically (optional).
    workers: extraction processes (default ``features.workers``).
    params: the whole params dict (default: the repository's params.yaml); only the
    machine-specific ``features`` keys (weight paths, device, workers) and ``score.*``
    are read from it — the extractor settings come from the bundle.
    cache_dir: feature cache (default ``score.cache_dir``, itself ``data/score_cache`` by default;
    ``score.cache_dir: null`` = a temporary folder removed afterwards). Features of finished
    files stay in a persistent cache when the run is interrupted; a re-run reuses them.
    """
    params = params if params is not None else load_params()
    sp = params.get("score") or {}
    out = Path(out) if out is not None else None
    if out is not None and out.suffix.lower() not in OUT_FORMATS:
        raise ValueError(f"--out {out}: unknown format {out.suffix!r}; use one of {OUT_FORMATS}")
    bundle = (
        model
        if isinstance(model, Bundle)
        else load_bundle(resolve(model or sp.get("bundle_dir", "models/bundle")))
    )
    if bundle.from_table:
        raise BundleMismatchError(
            f"model bundle {bundle.path} was trained on a bring-your-own feature table, not on "
            "extracted "
            "video features: score a feature table with the same columns instead "
            "(`tqa score --features TABLE` or tqa.serve.scoring.score_table)"
        )

    files = find_videos(
        paths, sp.get("extensions") or VIDEO_EXTENSIONS, bool(sp.get("recursive", True))
    )
    if not files:
        raise FileNotFoundError(f"no video files found in {paths}")
    extractor = _extractor_for(bundle, params)
    rows = pd.DataFrame({"video_id": display_ids(files), "path": [str(f) for f in files]})
    rows["status"], rows["error"], rows["warning"] = "pending", "", ""
    keys: list[str | None] = []
    for i, f in enumerate(files):
        if not f.is_file():
            rows.loc[i, ["status", "error"]] = ["failed", f"{f}: file not found"]
            keys.append(None)
        else:
            keys.append(cache_key(f))
    rows["_key"] = keys
    interrupted = None

    cache_param = cache_dir if cache_dir is not None else sp.get("cache_dir", DEFAULT_CACHE_DIR)
    tmp = None if cache_param else tempfile.mkdtemp(prefix="tqa-score-")
    cache = resolve(cache_param) if cache_param else Path(tmp)
    try:
        todo = rows[rows["_key"].notna()]
        if len(todo):
            n_workers = (
                workers if workers is not None else (params.get("features") or {}).get("workers")
            )
            try:
                status = extractor.run(
                    list(zip(todo["_key"], todo["path"])),
                    cache,
                    workers=n_workers,
                    progress=progress,
                )
            except ExtractionInterrupted as exc:
                interrupted = exc
                status = exc.table
                if not tmp:
                    log.warning(
                        "scoring interrupted: features of the files finished so far are kept in "
                        "%s; run the same command again to resume",
                        cache,
                    )
            _apply_status(rows, status)
        rows = _predict_rows(rows, bundle, cache, impute)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    result = rows[list(COLUMNS)].reset_index(drop=True)
    if out is not None:
        write_scores(result, out)
    if interrupted is not None:
        raise ScoringInterrupted(result)
    n_bad = int((result["status"] != "ok").sum())
    n_warn = int(((result["status"] == "ok") & (result["warning"] != "")).sum())
    log.info(
        "scored %d of %d files with bundle %s%s%s",
        len(result) - n_bad,
        len(result),
        bundle.path,
        f" ({n_bad} failed)" if n_bad else "",
        f" ({n_warn} with warnings)" if n_warn else "",
    )
    return result


class ScoringInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``score``: ``result`` has the rows done so far, the rest ``interrupted``
    (already written to ``out`` when one was given)."""

    def __init__(self, result: pd.DataFrame) -> None:
        self.result = result
        n = int((result["status"] == "interrupted").sum())
        super().__init__(f"interrupted: {len(result) - n} of {len(result)} files done")


def partial_rule(meta: dict) -> tuple[set[str], list[str]]:
    """Scores to set NaN for one file (from its cache meta) and the reasons.

    No audio track -> :data:`NEEDS_AUDIO`; face in < :data:`FACE_RATE_WARN` of the frames ->
    :data:`NEEDS_FACE`; < :data:`MIN_REAL_SECONDS` of real frames -> every score.
    """
    tasks: set[str] = set()
    reasons: list[str] = []
    fps = float(meta.get("grid_fps") or 25.0)
    n_valid = meta.get("n_valid_frames")
    if n_valid is not None and int(n_valid) / fps < MIN_REAL_SECONDS:
        tasks |= set(TASKS)
        reasons.append(
            f"only {int(n_valid) / fps:.2f} s of real frames (< {MIN_REAL_SECONDS:g} s): "
            "all scores NaN"
        )
    if meta.get("has_audio") is False:
        tasks |= set(NEEDS_AUDIO)
        reasons.append(f"no audio track: {'/'.join(NEEDS_AUDIO)} NaN")
    rate = meta.get("face_rate")
    if rate is None or float(rate) < FACE_RATE_WARN:
        tasks |= set(NEEDS_FACE)
        shown = "no" if rate is None else f"{float(rate):.0%}"
        reasons.append(
            f"face detected in {shown} of frames (< {FACE_RATE_WARN:.0%}): "
            f"{'/'.join(NEEDS_FACE)} NaN"
        )
    return tasks, reasons


def _extractor_for(bundle: Bundle, params: dict):
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


def _apply_status(rows: pd.DataFrame, status: pd.DataFrame | None) -> None:
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


def _predict_rows(
    rows: pd.DataFrame, bundle: Bundle, cache: Path, impute: bool = False
) -> pd.DataFrame:
    """Load cached features of the pending rows, predict, fill scores + sync columns, and
    apply the partial rule (:func:`partial_rule`) unless ``impute``."""
    rows = rows.copy()
    for c in (*TASKS, *SYNC_COLUMNS):
        rows[c] = np.nan
    pending = rows.index[rows["status"] == "pending"].tolist()
    loaded: list[FeatureSet] = []
    ok_idx: list[int] = []
    nan_tasks: dict[int, set[str]] = {}
    for i in pending:  # one by one: a damaged cache file fails its row only
        try:
            fs = load_feature_set(cache, [rows.at[i, "_key"]], bundle.modalities)
        except Exception as exc:  # noqa: BLE001 - reported per file
            rows.loc[i, ["status", "error"]] = ["failed", f"features not available: {exc}"]
            continue
        loaded.append(fs)
        ok_idx.append(i)
        try:
            meta = read_meta(cache_file(cache, rows.at[i, "_key"]))
            tasks, warnings = partial_rule(meta)
            if meta.get("decode_warning"):
                warnings.append(str(meta["decode_warning"]))
            if not impute:
                nan_tasks[i] = tasks
        except Exception as exc:  # noqa: BLE001 - the features loaded; only the meta is unreadable
            warnings = [f"cache meta unreadable ({exc}): input checks skipped"]
        if warnings:
            rows.at[i, "warning"] = "; ".join(warnings)
            log.warning("%s: %s", rows.at[i, "path"], "; ".join(warnings))
    if not ok_idx:
        return rows
    fs = _concat(loaded)
    pred = bundle.predict(fs)
    rows.loc[ok_idx, list(TASKS)] = pred
    _note_untrained(rows, ok_idx, bundle)
    sync = np.asarray(fs.sync, dtype=np.float64)
    for col, field in zip(SYNC_COLUMNS, ("offset", "confidence", "distance")):
        rows.loc[ok_idx, col] = sync[:, SYNC_FIELDS.index(field)]
    rows.loc[ok_idx, "status"] = "ok"
    for i, tasks in nan_tasks.items():
        if tasks:
            rows.loc[i, sorted(tasks)] = np.nan
            rows.at[i, "status"] = "partial"
    return rows


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


def score_table(
    table: str | Path | Sequence[str | Path],
    model: str | Path | Bundle | None = None,
    out: str | Path | None = None,
    params: dict | None = None,
) -> pd.DataFrame:
    """Scores for a bring-your-own feature table (tqa.features.tables format), with a bundle
    trained on one."""
    params = params if params is not None else load_params()
    sp = params.get("score") or {}
    bundle = (
        model
        if isinstance(model, Bundle)
        else load_bundle(resolve(model or sp.get("bundle_dir", "models/bundle")))
    )
    feats = bundle.params.get("features", {})
    fs = load_feature_table(
        table, n_frames=int(feats.get("n_frames", 150)), fps=float(feats.get("grid_fps", 25))
    )
    pred = bundle.predict(fs)
    source = str(table) if isinstance(table, (str, Path)) else ", ".join(map(str, table))
    result = pd.DataFrame({"video_id": fs.video_ids, "path": [source] * len(fs.video_ids)})
    for k, t in enumerate(TASKS):
        result[t] = pred[:, k]
    for col, field in zip(SYNC_COLUMNS, ("offset", "confidence", "distance")):
        result[col] = fs.sync[:, SYNC_FIELDS.index(field)].astype(np.float64)
    result["status"], result["error"], result["warning"] = "ok", "", ""
    _note_untrained(result, list(result.index), bundle)
    if out is not None:
        write_scores(result, Path(out))
    return result


def untrained_note(bundle: Bundle) -> str:
    """The warning for scores of heads without training labels ("" when every head is trained)."""
    missing = [t for t in TASKS if t not in set(bundle.trained_heads)]
    if not missing:
        return ""
    return f"{UNTRAINED_PREFIX}{', '.join(missing)} (NaN: the model never saw a label for them)"


def _note_untrained(rows: pd.DataFrame, idx: list, bundle: Bundle) -> None:
    note = untrained_note(bundle)
    if not note or not len(idx):
        return
    for i in idx:
        old = str(rows.at[i, "warning"] or "")
        rows.at[i, "warning"] = f"{old}; {note}" if old else note


def write_scores(df: pd.DataFrame, out: str | Path) -> Path:
    """Write the score table as CSV or JSON (records; NaN -> null), atomically, by suffix."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        write_csv(out, df, float_format="%.6g")
    elif suffix == ".json":
        records = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")
        ]
        write_json(out, records)
    else:
        raise ValueError(f"{out}: unknown format {out.suffix!r}; use one of {OUT_FORMATS}")
    return out


def format_table(df: pd.DataFrame, max_rows: int = 50) -> str:
    """Short fixed-width table of the scores for the terminal."""
    show = df[["video_id", *TASKS, "sync_offset", "status"]].head(max_rows).copy()
    for c in (*TASKS, "sync_offset"):
        fmt = "{:+.0f}" if c == "sync_offset" else "{:.2f}"
        vals = pd.to_numeric(show[c], errors="coerce").astype(float)
        show[c] = ["" if np.isnan(v) else fmt.format(v) for v in vals]
    warn = (
        df["warning"].fillna("").astype(str)
        if "warning" in df.columns
        else pd.Series("", index=df.index)
    )
    shared = sorted(
        {p for w in warn for p in w.split("; ") if p.startswith(UNTRAINED_PREFIX)}
    )  # the same for every row of one bundle: printed once below, not per row
    warn = warn.map(lambda w: "; ".join(p for p in w.split("; ") if p not in shared))
    flagged = (df["status"] == "ok") & (warn != "")
    show.loc[flagged.head(max_rows), "status"] = "ok (warning)"
    text = show.to_string(index=False)
    bad = df[~df["status"].isin(["ok", "partial"])]
    if len(bad):
        text += "\n\nfailed:\n" + "\n".join(f"  {r.video_id}: {r.error}" for r in bad.itertuples())
    part = df[df["status"] == "partial"]
    if len(part):
        text += "\n\npartial (scores that need a missing input are NaN; --impute to impute):\n"
        text += "\n".join(f"  {r.video_id}: {r.warning}" for r in part.itertuples())
    if flagged.any():
        text += (
            "\n\nwarnings (scored from imputed inputs, see the `warning` column):\n"
            + "\n".join(f"  {v}: {w}" for v, w in zip(df.loc[flagged, "video_id"], warn[flagged]))
        )
    if len(df) > max_rows:
        text += f"\n... {len(df) - max_rows} more rows (see --out)"
    for note in shared:
        text += f"\n\nnote: {note}"
    return text


def main(argv: list[str] | None = None) -> int:
    """``tqa score PATH... [--model DIR] [--out scores.csv|json] [--workers N] [--cache DIR]
    [--impute]``.

    Exit status: 0 all scored (ok or partial), 1 some files failed (their rows say why),
    2 bundle refused, 130 interrupted by Ctrl-C (rows done so far printed and written).
    """
    ap = argparse.ArgumentParser(
        prog="tqa score", description="Score talking-face videos with a trained bundle."
    )
    ap.add_argument("paths", nargs="*", help="video files or folders")
    ap.add_argument("--model", default=None, help="bundle directory (default: score.bundle_dir)")
    ap.add_argument("--out", default=None, help="write the scores to a .csv or .json file")
    ap.add_argument(
        "--workers", type=int, default=None, help="extraction processes (default: features.workers)"
    )
    ap.add_argument(
        "--cache",
        default=None,
        help="feature cache folder, reused across runs "
        "(default: score.cache_dir = data/score_cache)",
    )
    ap.add_argument(
        "--features",
        default=None,
        nargs="+",
        metavar="TABLE",
        help="score a bring-your-own feature table instead of videos",
    )
    ap.add_argument(
        "--impute",
        action="store_true",
        help="score files without audio / face / 1 s of frames from imputed inputs (status ok "
        "+ warning) instead of NaN with status partial",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    add_params_arguments(ap)
    args = ap.parse_args(argv)
    if not args.paths and not args.features:
        ap.error("give video files/folders or --features TABLE")
    try:
        params = params_from_args(args)
        model, out = cli_path(args.model), cli_path(args.out)
        if args.features:
            tables = [cli_path(f) for f in args.features]
            df = score_table(tables, model=model, out=out, params=params)
        else:
            df = score(
                args.paths,
                model=model,
                out=out,
                workers=args.workers,
                params=params,
                progress=not args.quiet,
                cache_dir=cli_path(args.cache),
                impute=args.impute,
            )
    except ScoringInterrupted as exc:
        print(format_table(exc.result))
        print(f"\ntqa score: {exc}" + (f"; wrote {args.out}" if args.out else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\ntqa score: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ParamsError, BundleError, FileNotFoundError, ValueError) as exc:
        print(f"tqa score: {exc}", file=sys.stderr)
        return 2
    print(format_table(df))
    if args.out:
        print(f"\nwrote {args.out}")
    return 0 if df["status"].isin(["ok", "partial"]).all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
