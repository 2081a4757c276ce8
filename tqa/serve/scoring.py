"""`tqa score`: the five quality scores for your own videos, with a trained bundle.

``score(paths)`` expands files and folders to video files, extracts their features with
EXACTLY the extractor settings the bundle was trained with (``FeatureExtractor`` built from
the bundle's params snapshot; refused by
:class:`tqa.serve.bundle_format.BundleMismatchError` when the installed extractors differ),
predicts the five scores and returns one row per file: ``video_id, path, lip_sync,
expression, audio_quality, cross_modal, overall, sync_offset, sync_confidence,
sync_distance, status, error, warning, segments``. A file that cannot be decoded or
processed gets ``status='failed'``, NaN scores and the reason; the batch goes on. **Partial
rule** (garbage is never ranked first): when a file has no audio track (or a silent one), a
face in fewer than :data:`tqa.serve.partial_rule.FACE_RATE_WARN` of its frames, more than
one face in the picture, less than :data:`tqa.serve.partial_rule.MIN_REAL_SECONDS` of real
(decoded, not padded) frames, or no measurable audio-visual sync (a clip too short or silent
for the sync estimate), the scores that depend on the missing input are NaN
(:func:`tqa.serve.partial_rule.partial_rule`, :func:`~tqa.serve.partial_rule.silent_rule`,
:func:`~tqa.serve.partial_rule.sync_rule`), ``status='partial'`` and ``warning`` gives the
reason. A file longer than the model's grid (6 s) is scored whole, as 6 s segments spread
over it, their scores pooled (:mod:`tqa.serve.score_segments`; ``whole=False`` /
``--first-only``: its first 6 s), and the run says so once (``result.attrs["notes"]``).
``impute=True`` (``--impute``) keeps the old behaviour: the missing inputs are imputed by
the bundle's preprocessor, ``status='ok'`` with the same ``warning``. A truncated file is
scored from what decodes, with the warning "<file>: truncated after X s". Ctrl-C stops a
multi-worker run within seconds (:class:`ScoringInterrupted`): finished files stay in the
cache, the rows done so far are written with the rest marked ``status='interrupted'``, and
the CLI exits 130. Features go to a persistent cache directory (``--cache`` /
``score.cache_dir``, default ``data/score_cache``; ``null`` = a temporary folder removed
afterwards), keyed by file path, size and modification time, so a re-run — also after an
interrupted run — skips finished files.

The steps live in their own modules: the files (:mod:`tqa.serve.score_inputs`), their
features (:mod:`tqa.serve.score_features`), the scores (:mod:`tqa.serve.score_predict`) and
the table written and printed (:mod:`tqa.serve.score_output`); the segments of a long file
(:mod:`tqa.serve.score_segments`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tqa.core.interrupt import EXIT_INTERRUPTED
from tqa.core.params import (
    ParamsError,
    add_params_arguments,
    cli_path,
    load_params,
    params_from_args,
    resolve,
)
from tqa.core.schema import TASKS
from tqa.features.tables import load_feature_table
from tqa.serve.bundle_format import BundleError, BundleMismatchError
from tqa.serve.bundle_load import Bundle, load_bundle
from tqa.serve.score_features import (
    DEFAULT_CACHE_DIR,
    extract_features,
    extractor_for,
    feature_cache,
)
from tqa.serve.score_inputs import (
    VIDEO_EXTENSIONS,
    find_videos,
    grid_note,
    input_rows,
    longer_than_grid,
)
from tqa.serve.score_output import COLUMNS, format_table, out_path, write_scores
from tqa.serve.score_predict import note_untrained, predict_rows, sync_columns
from tqa.serve.score_segments import (
    pool_segments,
    segment_rows,
    segments_table,
    starts_by_key,
)

log = logging.getLogger(__name__)


def score(
    paths: str | Path | Sequence[str | Path],
    model: str | Path | Bundle | None = None,
    out: str | Path | None = None,
    workers: int | None = None,
    params: dict | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    impute: bool = False,
    whole: bool | None = None,
) -> pd.DataFrame:
    """Score video files/folders with a trained bundle; one row per file (see module docstring).

    impute: score files with missing inputs from imputed features (``status='ok'`` + warning)
    instead of the partial rule's NaN. Ctrl-C raises :class:`ScoringInterrupted`.
    whole: score a file longer than the grid as 6 s segments over all of it, pooled
    (:mod:`tqa.serve.score_segments`; default ``score.whole_file``, true); False: its first
    6 s. The per-segment scores are in ``result.attrs["segments"]`` and, when a file has
    more than one, written beside ``out`` as ``<stem>.segments<suffix>``.

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
    out = out_path(out)
    bundle = _video_bundle(model, sp)
    files = _video_files(paths, sp)
    extractor = extractor_for(bundle, params)
    rows = input_rows(files)
    grid_s, fps = _grid(bundle)
    whole = bool(sp.get("whole_file", True)) if whole is None else bool(whole)
    segs = segment_rows(rows, grid_s, fps, whole)
    starts = starts_by_key(segs)
    if starts:  # the extractor (and each worker's, built from its params) decodes from there
        extractor.params = {**extractor.params, "segment_starts": starts}
    if workers is None:
        workers = (params.get("features") or {}).get("workers")
    if cache_dir is None:
        cache_dir = sp.get("cache_dir", DEFAULT_CACHE_DIR)
    with feature_cache(cache_dir) as (cache, kept):
        interrupted = extract_features(segs, extractor, cache, workers, progress, kept)
        segs = predict_rows(segs, bundle, cache, impute)
    pooled = pool_segments(segs, len(rows), grid_s)
    result = pooled[list(COLUMNS)]
    result.attrs["segments"] = segments_table(segs, grid_s)
    if out is not None:
        write_scores(result, out)
        if (result["segments"] > 1).any():
            write_scores(result.attrs["segments"], segments_path(out))
    if interrupted is not None:
        raise ScoringInterrupted(result)
    _log_summary(result, bundle)
    _note_long_files(pooled, result, bundle, whole)
    return result


def segments_path(out: Path) -> Path:
    """Where the per-segment scores go beside ``out``: ``<stem>.segments<suffix>``."""
    return out.with_name(f"{out.stem}.segments{out.suffix}")


def _grid(bundle: Bundle) -> tuple[float, float]:
    """(seconds, fps) of the grid the bundle's model reads (6 s at 25 fps by default)."""
    feats = bundle.params.get("features") or {}
    fps = float(feats.get("grid_fps", 25))
    return int(feats.get("n_frames", 150)) / fps, fps


def _note_long_files(
    pooled: pd.DataFrame, result: pd.DataFrame, bundle: Bundle, whole: bool
) -> None:
    """Log, and keep in ``result.attrs["notes"]`` for the printed table, which files are
    longer than the grid the bundle's model reads (``pooled``: the rows with each file's
    header length): scored as segments over all of it (``whole``), or on its first seconds."""
    grid_s, fps = _grid(bundle)
    counts = dict(zip(pooled["video_id"], pooled["segments"])) if whole else None
    note = grid_note(longer_than_grid(pooled, grid_s, fps), len(pooled), grid_s, counts)
    if note:
        log.info("%s", note)
        result.attrs["notes"] = [note]


class ScoringInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``score``: ``result`` has the rows done so far, the rest ``interrupted``
    (already written to ``out`` when one was given)."""

    def __init__(self, result: pd.DataFrame) -> None:
        self.result = result
        n = int((result["status"] == "interrupted").sum())
        super().__init__(f"interrupted: {len(result) - n} of {len(result)} files done")


def _bundle(model: str | Path | Bundle | None, sp: dict) -> Bundle:
    """``model`` when it is a loaded Bundle, else the bundle in the directory it names
    (default ``score.bundle_dir``)."""
    if isinstance(model, Bundle):
        return model
    return load_bundle(resolve(model or sp.get("bundle_dir", "models/bundle")))


def _video_bundle(model: str | Path | Bundle | None, sp: dict) -> Bundle:
    """The bundle, refused when it was trained on a feature table (it has no extractors)."""
    bundle = _bundle(model, sp)
    if bundle.from_table:
        raise BundleMismatchError(
            f"model bundle {bundle.path} was trained on a bring-your-own feature table, not on "
            "extracted "
            "video features: score a feature table with the same columns instead "
            "(`tqa score --features TABLE` or tqa.serve.scoring.score_table)"
        )
    return bundle


def _video_files(paths: str | Path | Sequence[str | Path], sp: dict) -> list[Path]:
    """The files to score (``score.extensions`` / ``score.recursive``); none is an error."""
    files = find_videos(
        paths, sp.get("extensions") or VIDEO_EXTENSIONS, bool(sp.get("recursive", True))
    )
    if not files:
        raise FileNotFoundError(f"no video files found in {paths}")
    return files


def _log_summary(result: pd.DataFrame, bundle: Bundle) -> None:
    """One INFO line: how many files were scored, failed, or scored with warnings."""
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


def score_table(
    table: str | Path | Sequence[str | Path],
    model: str | Path | Bundle | None = None,
    out: str | Path | None = None,
    params: dict | None = None,
) -> pd.DataFrame:
    """Scores for a bring-your-own feature table (tqa.features.tables format), with a bundle
    trained on one."""
    params = params if params is not None else load_params()
    bundle = _bundle(model, params.get("score") or {})
    feats = bundle.params.get("features", {})
    fs = load_feature_table(
        table, n_frames=int(feats.get("n_frames", 150)), fps=float(feats.get("grid_fps", 25))
    )
    pred = bundle.predict(fs)
    source = str(table) if isinstance(table, (str, Path)) else ", ".join(map(str, table))
    result = pd.DataFrame({"video_id": fs.video_ids, "path": [source] * len(fs.video_ids)})
    for k, t in enumerate(TASKS):
        result[t] = pred[:, k]
    for col, values in sync_columns(fs).items():
        result[col] = values
    result["status"], result["error"], result["warning"] = "ok", "", ""
    result["segments"] = 1
    note_untrained(result, list(result.index), bundle)
    if out is not None:
        write_scores(result, Path(out))
    return result


def main(argv: list[str] | None = None) -> int:
    """``tqa score PATH... [--model DIR] [--out scores.csv|json] [--workers N] [--cache DIR]
    [--impute]``.

    Exit status: 0 all scored (ok or partial), 1 some files failed (their rows say why),
    2 bundle refused, 130 interrupted by Ctrl-C (rows done so far printed and written).
    """
    ap = _parser()
    args = ap.parse_args(argv)
    if not args.paths and not args.features:
        ap.error("give video files/folders or --features TABLE")
    try:
        df = _score_from_args(args)
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


def _parser() -> argparse.ArgumentParser:
    """The ``tqa score`` command line."""
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
    ap.add_argument(
        "--first-only",
        action="store_true",
        help="score only the first 6 s (the model's grid) of a longer file, not 6 s segments "
        "spread over all of it (score.whole_file)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    add_params_arguments(ap)
    return ap


def _score_from_args(args: argparse.Namespace) -> pd.DataFrame:
    """The scores of the videos or feature tables the command line names."""
    params = params_from_args(args)
    model, out = cli_path(args.model), cli_path(args.out)
    if args.features:
        tables = [cli_path(f) for f in args.features]
        return score_table(tables, model=model, out=out, params=params)
    return score(
        args.paths,
        model=model,
        out=out,
        workers=args.workers,
        params=params,
        progress=not args.quiet,
        cache_dir=cli_path(args.cache),
        impute=args.impute,
        whole=False if args.first_only else None,
    )


if __name__ == "__main__":
    raise SystemExit(main())
