"""``tqa validate``: check a dataset folder (labels.csv + videos) and print a report.

The checks are those of the data contract (:func:`tqa.data.labels.load_dataset`); this module
prints what it found: media checked or not, counts, labels present per task, metadata columns,
a split warning, unlabelled video files, then one line per problem
(:func:`tqa.data.labels.format_problems`). Exit 1 when any problem is found.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tqa.core.params import ParamsError, add_params_arguments, cli_path, params_from_args, resolve
from tqa.core.schema import MISSING, TASKS
from tqa.data.labels import (
    DataError,
    Dataset,
    data_params,
    format_problems,
    load_dataset,
    split_column_warning,
)


def main_validate(argv: list[str] | None = None) -> int:
    """``tqa validate [ROOT|labels.csv]``: print a report; exit 1 when any problem is found."""
    args = _validate_parser().parse_args(argv)
    try:
        params = params_from_args(args)
    except ParamsError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    root = cli_path(args.root) if args.root else resolve(params["data"]["root"])
    try:
        ds = load_dataset(
            root,
            params,
            check_media=False if (args.no_media or args.no_open) else None,
            check_files=False if args.no_media else None,
            require_audio=False if args.allow_no_audio else None,
        )
    except DataError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    _print_report(ds, params, args.no_media)
    if not ds.ok:
        print(format_problems(ds.problems, header="problems:"))
        return 1
    print("OK")
    return 0


def _validate_parser() -> argparse.ArgumentParser:
    """The options of ``tqa validate`` (with the params options)."""
    ap = argparse.ArgumentParser(
        prog="tqa validate", description="Validate a dataset folder (labels.csv + videos/)."
    )
    ap.add_argument(
        "root", nargs="?", help="dataset folder or labels CSV (default: data.root of params)"
    )
    ap.add_argument(
        "--no-media",
        action="store_true",
        help="labels only: no video files needed (a dataset of labels + a feature table)",
    )
    ap.add_argument(
        "--no-open",
        action="store_true",
        help="check that the video files exist, do not open them (fast)",
    )
    ap.add_argument(
        "--allow-no-audio", action="store_true", help="videos without an audio track are fine"
    )
    add_params_arguments(ap)
    return ap


def _print_report(ds: Dataset, params: dict, no_media: bool) -> None:
    """The summary of a loaded dataset: media checked or not, counts, labels present per task,
    metadata columns, a split warning, unlabelled video files."""
    if not ds.media:
        videos = data_params(params)["videos_dir"]
        why = "--no-media" if no_media else f"no {videos}/ folder, no 'file' column"
        print(
            f"labels only ({why}): video files are not checked; train from a feature table "
            "(`tqa cv --features TABLE`, `tqa train --features TABLE`)"
        )
    print(f"{ds.root}: {len(ds)} valid video(s), {len(ds.problems)} problem(s)")
    present = {t: int((ds.labels[t] != MISSING).sum()) for t in TASKS}
    print("labels present: " + ", ".join(f"{t}={n}" for t, n in present.items()))
    extra = [c for c in ds.labels.columns if c not in ("video_id", "path", *TASKS)]
    if extra:
        print("metadata: " + ", ".join(f"{c} ({ds.labels[c].nunique()} values)" for c in extra))
    warn = split_column_warning(ds.labels, params)
    if warn:
        print(f"note: {warn}")
    if ds.unlabelled:
        print(
            f"note: {len(ds.unlabelled)} video file(s) without a labels row, "
            f"e.g. {ds.unlabelled[:3]}"
        )


def main(argv: list[str] | None = None) -> int:
    return main_validate(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(main())
