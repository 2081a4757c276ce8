"""`tqa metrics PATHS`: the no-reference metrics table of talking-head papers, per video and
per folder (a folder = one generator / method), in one command.

Each argument is a file or a folder; a folder's videos (recursively) form one group named
after the folder; files given directly are grouped by their parent folder. Per video the
columns of :data:`tqa.features.video_metrics.METRICS` (weight-free sync, SyncNet LSE-C/LSE-D
when its weights are configured, DNSMOS, BRISQUE, face sharpness, landmark jitter, blink rate,
head motion, face rate, duration / fps / resolution). Outputs in ``--out`` (default
``reports/metrics``):

* ``metrics.csv``: one row per video (``group``, ``video``, ``path``, ``status``, ``error``,
  metrics);
* ``summary.md`` + ``summary.csv``: per group, mean +- 95 % CI (Student t, n - 1 dof) of each
  metric (and of |x| for the sync offsets), with the direction of "better" per column;
  ``summary.tex``: the same as a booktabs table for a paper, the best mean per row in bold
  (:mod:`tqa.serve.metrics_summary`);
* ``metrics.png``: one panel per metric, groups side by side (points + mean +- 95 % CI);
* ``segments.csv``: the segments of the videos measured in several;
* ``paired.md`` + ``paired.csv``, when two or more folders hold videos of the same name (the
  same portraits and audios rendered by each generator): every folder against a reference
  folder (the first, or ``--reference``) over those pairs: mean paired difference with its
  95 % CI, share of pairs won, Wilcoxon signed-rank p and Holm-adjusted verdicts
  (:mod:`tqa.serve.metrics_paired`);
* ``ranks.md`` + ``ranks.csv``, when three or more folders share video names: each folder's
  mean rank per metric over the videos all of them hold, and Friedman's test
  (:mod:`tqa.serve.metrics_ranks`).

Each video is measured whole: a long one in segments of ``--segment-seconds`` (10 s), pooled
per column (:mod:`tqa.serve.metrics_segments`; ``segments.csv`` holds each segment), or its
first ``--max-seconds`` only; with ``--ground-truth DIR`` against the real recording of the
same name too (PSNR, SSIM, lip landmark distance: :mod:`tqa.serve.metrics_reference`). Each
video's row is cached in ``<out>/.cache`` (keyed by path, size, mtime, metric version, the
lengths read, the ``features`` params and the ground-truth file's identity; atomic
writes), so an interrupted run resumes. ``--workers N`` runs N processes; Ctrl-C cancels
the rest within seconds, writes the rows done so far (the others ``interrupted``) and exits
130.
These metrics are each model's *own* human
calibration (DNSMOS: P.835 / P.808 listening tests; BRISQUE: LIVE IQA) or closed-form
signal measures, not tqa's learned scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tqa.core.atomic import write_csv, write_json, write_text
from tqa.core.interrupt import EXIT_INTERRUPTED, abort_pool, ignore_sigint, sigint_deferred
from tqa.core.params import cli_path, display_path, load_params, params_hash, resolve
from tqa.features.config import LOCATION_KEYS
from tqa.features.decode import MediaError
from tqa.features.reference_metrics import REFERENCE_METRICS, metric_columns
from tqa.features.video_metrics import METRICS, VERSION, video_metrics
from tqa.serve.metrics_paired import paired_comparison, paired_markdown
from tqa.serve.metrics_ranks import rank_table, ranks_markdown
from tqa.serve.metrics_reference import ground_truth_map, measure_against, twin
from tqa.serve.metrics_segments import cached_measure, clear_segments, file_metrics
from tqa.serve.metrics_summary import summarize, summary_latex, summary_markdown
from tqa.serve.partial_rule import edge_note
from tqa.serve.score_inputs import VIDEO_EXTENSIONS, cache_key, find_videos
from tqa.serve.score_segments import span_label

log = logging.getLogger(__name__)

DEFAULT_OUT = "reports/metrics"
#: Seconds of each video measured (from the start); papers use whole clips of a few seconds.
#: Seconds per measured segment (``--segment-seconds``); a longer file is read whole in
#: several (:mod:`tqa.serve.metrics_segments`).
DEFAULT_SEGMENT_SECONDS = 10.0
ID_COLUMNS = ("group", "video", "path", "status", "error", "segments")
#: Columns of ``segments.csv`` before the metrics.
SEGMENT_ID_COLUMNS = ("group", "video", "path", "segment", "start_s", "end_s")


def collect(paths: list[str | Path]) -> list[tuple[str, Path]]:
    """(group, file) for every video: a folder argument's videos get the folder's name."""
    out: list[tuple[str, Path]] = []
    for p in map(Path, paths):
        files = find_videos([p], VIDEO_EXTENSIONS)
        group = p.name if p.is_dir() else p.parent.name or "."
        out += [(group, f) for f in files]
    return out


def settings_key(fparams: dict) -> str:
    """8 hex digits of the ``features`` params a row was measured with (file locations left
    out): a row cached under other settings (``audio_level_dbfs``, ``sync_max_offset``, the
    grid) is measured again, not handed back. Before, only the metrics version keyed it."""
    return params_hash({k: v for k, v in fparams.items() if k not in LOCATION_KEYS})[:8]


def one_video(
    path: str,
    fparams: dict,
    max_seconds: float | None,
    cache_dir: str | None,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    reference: str | None = None,
) -> dict:
    """Metrics row of one file, the whole file in segments of ``segment_seconds`` (up to
    ``max_seconds`` when given; :mod:`tqa.serve.metrics_segments`), against the ground-truth
    file ``reference`` when given (:mod:`tqa.serve.metrics_reference`), its segments' rows
    under ``_segments``; from the cache when fresh; a failed row instead of raising."""
    f = Path(path)
    cached = None
    if cache_dir and f.is_file():
        read = "whole" if max_seconds is None else f"{max_seconds:g}s"
        key = f"{cache_key(f)}-v{VERSION}-{read}-{segment_seconds:g}s-{settings_key(fparams)}"
        if reference is not None:  # the ground truth's own identity: path, size, mtime
            key += "-gt" + params_hash({"ref": cache_key(Path(reference))})[:8]
        cached = Path(cache_dir) / f"{key}.json"
        if cached.is_file():
            try:
                return json.loads(cached.read_text())
            except ValueError:
                pass
    try:
        fn = _measure if reference is None else partial(measure_against, reference=reference)
        if cached is not None:  # each segment kept until the file's row is written
            fn = cached_measure(fn, cache_dir, cached.stem)
        measured, segs = file_metrics(path, fparams, fn, max_seconds, segment_seconds)
    except MediaError as exc:
        return {"status": "failed", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one file's problem never stops the table
        return {"status": "failed", "error": f"{path}: {type(exc).__name__}: {exc}"}
    row = {"status": "ok", "error": "", **measured}
    notes = []
    if row.get("truncated_after_s"):
        notes.append(f"{path}: truncated after {row['truncated_after_s']:.2f} s")
    if (row.get("faces") or 0) > 1:
        notes.append(f"{path}: {row['faces']:g} faces in the picture; the face columns read one")
    max_offset = int(fparams.get("sync_max_offset", 15))
    if len(segs) == 1:
        notes += [f"{path}: {n}" for n in edge_note(row.get("sync_offset", math.nan), max_offset)]
    else:  # each segment's own bound, after its time span
        notes += [
            f"{path}: {span_label(s['start_s'], s['end_s'] - s['start_s'])} {n}"
            for s in segs
            for n in edge_note(s.get("sync_offset", math.nan), max_offset)
        ]
    notes += [f"{path}: {n}" for n in row.pop("notes", [])]
    row["error"] = "; ".join(notes)
    row["_segments"] = segs if len(segs) > 1 else []
    if cached is not None:
        write_json(cached, row)
        clear_segments(cache_dir, cached.stem)
    return row


def _measure(path: str, fparams: dict, seconds: float, start_s: float) -> dict:
    """One segment's metrics (:func:`tqa.features.video_metrics.video_metrics`)."""
    return video_metrics(path, fparams, seconds, start_s=start_s)


def _init_worker() -> None:
    import cv2  # noqa: PLC0415 - per worker process: one OpenCV thread (the pool uses the cores)

    ignore_sigint()
    cv2.setNumThreads(1)


def measure(
    items: list[tuple[str, Path]],
    fparams: dict,
    max_seconds: float | None = None,
    workers: int = 1,
    cache_dir: Path | None = None,
    progress: bool = True,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    references: list[Path | None] | None = None,
) -> tuple[pd.DataFrame, bool]:
    """The per-video table and whether Ctrl-C interrupted it (rows not done: ``interrupted``);
    the segments of the files measured in several in ``table.attrs["segments"]``
    (:data:`SEGMENT_ID_COLUMNS`, then the metrics; empty when every file was one segment).
    ``references`` (one per item, None: no twin): each video's ground truth; given, the
    table holds the :data:`~tqa.features.reference_metrics.REFERENCE_METRICS` columns too."""
    args = (fparams, max_seconds, str(cache_dir) if cache_dir else None, segment_seconds)
    refs = [None if r is None else str(r) for r in (references or [None] * len(items))]
    rows: dict[int, dict] = {}
    interrupted, bar = False, None
    try:  # the bar is drawn inside: a Ctrl-C from its first line on gets the table written
        bar = tqdm(total=len(items), desc="metrics", unit="video", disable=not progress)
        if workers <= 1:
            for i, (_, f) in enumerate(items):
                rows[i] = one_video(str(f), *args, reference=refs[i])
                bar.update(1)
        else:
            pool = ProcessPoolExecutor(workers, mp.get_context("spawn"), initializer=_init_worker)
            try:
                with sigint_deferred():  # workers start here: a Ctrl-C is held, not lost
                    futs = {
                        pool.submit(one_video, str(f), *args, reference=refs[i]): i
                        for i, (_, f) in enumerate(items)
                    }
                for fut in as_completed(futs):
                    rows[futs[fut]] = fut.result()
                    bar.update(1)
            except BaseException:
                abort_pool(pool)
                raise
            pool.shutdown(wait=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    table, segments = [], []
    for i, (group, f) in enumerate(items):
        r = dict(rows.get(i) or {"status": "interrupted", "error": "interrupted (Ctrl-C)"})
        ids = {"group": group, "video": f.stem, "path": str(f)}
        segments += [{**ids, **s} for s in r.pop("_segments", None) or []]
        table.append({**ids, **r})
    extra = list(REFERENCE_METRICS) if references is not None else []
    df = _columns(pd.DataFrame(table), ID_COLUMNS, extra)
    df.attrs["segments"] = _columns(pd.DataFrame(segments), SEGMENT_ID_COLUMNS, extra)
    return df, interrupted


def _columns(df: pd.DataFrame, ids: tuple[str, ...], extra: list[str]) -> pd.DataFrame:
    """``df`` with the columns ``ids``, :data:`METRICS`, then ``extra``, NaN where missing."""
    for c in (*ids, *METRICS, *extra):
        if c not in df.columns:
            df[c] = math.nan
    return df[[*ids, *METRICS, *extra]]


def figure(df: pd.DataFrame, summary: pd.DataFrame):
    """One panel per metric with data, groups side by side: points + mean ± 95 % CI."""
    import matplotlib  # noqa: PLC0415 - plotting only when a figure is written

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    groups = list(dict.fromkeys(df["group"]))
    ok = df[df["status"] == "ok"]
    defs = metric_columns(df.columns)
    shown = [m for m in defs if pd.to_numeric(ok[m], errors="coerce").notna().any()]
    ncols = 4
    nrows = max(1, math.ceil(len(shown) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    s = summary.set_index(["metric", "group"])
    rng = np.random.default_rng(0)
    for ax, m in zip(axes.flat, shown):
        for k, g in enumerate(groups):
            v = pd.to_numeric(ok.loc[ok["group"] == g, m], errors="coerce").dropna().to_numpy()
            ax.scatter(k + rng.uniform(-0.12, 0.12, len(v)), v, s=10, alpha=0.5)
            mean, half = s.loc[(m, g), "mean"], s.loc[(m, g), "ci95"]
            if np.isfinite(mean):
                ax.errorbar(
                    k + 0.25,
                    mean,
                    yerr=half if np.isfinite(half) else None,
                    fmt="o",
                    color="black",
                    capsize=3,
                    ms=4,
                )
        d = defs[m]
        ax.set_title(f"{m} ({d.better})", fontsize=9)
        ax.set_xticks(range(len(groups)), groups, rotation=30, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def run_metrics(
    paths: list[str | Path],
    out: str | Path = DEFAULT_OUT,
    workers: int = 1,
    max_seconds: float | None = None,
    params: dict | None = None,
    progress: bool = True,
    plot: bool = True,
    reference: str | None = None,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    ground_truth: str | Path | None = None,
) -> tuple[pd.DataFrame, bool]:
    """Measure (each file whole, in segments of ``segment_seconds``, or its first
    ``max_seconds``; against its twin in ``ground_truth`` when given: PSNR, SSIM, LMD), then
    write metrics.csv, summary.csv, summary.md, summary.tex (and metrics.png; segments.csv
    when a file was measured in several segments; paired.md and paired.csv when folders
    share video names, against ``reference``, default the first folder; ranks.md and
    ranks.csv when three or more do); returns the per-video table and whether it was
    interrupted. Before anything is measured: ValueError when ``reference`` names no folder,
    a length is not positive or two ground-truth files share a name; FileNotFoundError when
    ``ground_truth`` is no folder or holds no video."""
    for name, v in (("--max-seconds", max_seconds), ("--segment-seconds", segment_seconds)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {v:g}")
    params = params if params is not None else load_params()
    items = collect(list(paths))
    if not items:
        raise FileNotFoundError(f"no video files found in {[str(p) for p in paths]}")
    groups = list(dict.fromkeys(g for g, _ in items))
    if reference is not None and reference not in groups:
        raise ValueError(f"--reference {reference!r} is not one of the folders {groups}")
    truth = None if ground_truth is None else ground_truth_map(ground_truth)
    refs = None if truth is None else [twin(f, g, truth) for g, f in items]
    out = Path(out)
    df, interrupted = measure(
        items,
        params.get("features") or {},
        max_seconds,
        workers,
        out / ".cache",
        progress,
        segment_seconds,
        refs,
    )
    for i, r in enumerate(refs or []):
        if r is None and df.at[i, "status"] == "ok":
            said = f"no video of this name in --ground-truth {ground_truth}"
            df.at[i, "error"] = "; ".join(x for x in (df.at[i, "error"], said) if x)
    summary = summarize(df)
    write_csv(out / "metrics.csv", df, float_format="%.6g", index=False)
    (out / "segments.csv").unlink(missing_ok=True)  # an earlier run's, other files
    if len(df.attrs["segments"]):
        write_csv(out / "segments.csv", df.attrs["segments"], float_format="%.6g", index=False)
    write_csv(out / "summary.csv", summary, float_format="%.6g", index=False)
    write_text(out / "summary.md", summary_markdown(df, summary))
    write_text(out / "summary.tex", summary_latex(df, summary))
    alpha = float((params.get("cv") or {}).get("alpha", 0.05))
    paired = paired_comparison(df, reference, alpha)
    for stale in (out / "paired.csv", out / "paired.md"):  # an earlier run's, other folders
        stale.unlink(missing_ok=True)
    if len(paired):
        write_csv(out / "paired.csv", paired, float_format="%.6g", index=False)
        write_text(out / "paired.md", paired_markdown(paired, alpha))
    ranks = rank_table(df)
    for stale in (out / "ranks.csv", out / "ranks.md"):
        stale.unlink(missing_ok=True)
    if len(ranks):
        write_csv(out / "ranks.csv", ranks, float_format="%.6g", index=False)
        write_text(out / "ranks.md", ranks_markdown(ranks, alpha))
    if plot:
        fig = figure(df, summary)
        png = out / "metrics.png"
        tmp = png.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=120)
        tmp.replace(png)
    return df, interrupted


def main(argv: list[str] | None = None) -> int:
    """``tqa metrics PATH... [--out DIR] [--workers N] [--max-seconds S] [--segment-seconds S]``;
    exit 0 all measured, 1 some failed, 130 interrupted."""
    ap = argparse.ArgumentParser(
        prog="tqa metrics",
        description="No-reference metrics (sync, DNSMOS, BRISQUE, sharpness, jitter, blinks, "
        "head motion, face rate, format) per video and per folder (= generator); with "
        "--ground-truth, PSNR / SSIM / lip landmark distance against the real recordings.",
    )
    ap.add_argument("paths", nargs="+", help="video files or folders (a folder = one group)")
    ap.add_argument(
        "--out",
        default=None,
        help=f"output folder, relative to the current folder (default: the repository's "
        f"{DEFAULT_OUT})",
    )
    ap.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="measure only this many seconds from each video's start (default: the whole video)",
    )
    ap.add_argument(
        "--segment-seconds",
        type=float,
        default=DEFAULT_SEGMENT_SECONDS,
        help="a longer video is measured in segments of this length spread over it, then "
        f"pooled (default {DEFAULT_SEGMENT_SECONDS:g}; segments.csv holds each segment)",
    )
    ap.add_argument(
        "--ground-truth",
        default=None,
        help="folder of the real recordings the videos re-render, paired by name: adds PSNR, "
        "SSIM and the lip landmark distance against each video's twin",
    )
    ap.add_argument("--params", default=None, help="params.yaml (features.* grid, SyncNet weights)")
    ap.add_argument("--no-plot", action="store_true", help="skip metrics.png")
    ap.add_argument(
        "--reference",
        default=None,
        help="folder the others are compared with, video by video, where they hold videos of "
        "the same name (paired.md; default: the first folder)",
    )
    ap.add_argument(
        "--quiet", action="store_true", help="no progress bar, no table: one summary line"
    )
    args = ap.parse_args(argv)
    # --out given: relative to the current folder; the default: the repository's reports/
    out_dir = cli_path(args.out) or resolve(DEFAULT_OUT)
    try:
        df, interrupted = run_metrics(
            args.paths,
            out_dir,
            args.workers,
            args.max_seconds,
            load_params(cli_path(args.params)),
            progress=not args.quiet,
            plot=not args.no_plot,
            reference=args.reference,
            segment_seconds=args.segment_seconds,
            ground_truth=cli_path(args.ground_truth),
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"tqa metrics: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntqa metrics: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    out = display_path(out_dir)
    paired = (out_dir / "paired.md").is_file()
    ranked = (out_dir / "ranks.md").is_file()
    segmented = (out_dir / "segments.csv").is_file()
    if not args.quiet:
        print((out_dir / "summary.md").read_text())
        if paired:
            print((out_dir / "paired.md").read_text())
        if ranked:
            print((out_dir / "ranks.md").read_text())
    n_ok = int((df["status"] == "ok").sum())
    print(
        f"tqa metrics: {n_ok} of {len(df)} videos measured; wrote {out}/metrics.csv, "
        "summary.csv, summary.md, summary.tex"
        + ("" if args.no_plot else ", metrics.png")
        + (", segments.csv" if segmented else "")
        + (", paired.csv, paired.md" if paired else "")
        + (", ranks.csv, ranks.md" if ranked else "")
    )
    if interrupted:
        n = int((df["status"] == "interrupted").sum())
        print(f"tqa metrics: interrupted ({n} of {len(df)} videos not measured)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if (df["status"] == "ok").all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
