"""Defect benchmark (issue 26 "See the defects", part 1): which fixed feature sees which defect.

    nice .venv/bin/python benchmarks/defects.py [--clips ../shared/realclips]
        [--features-cache DIR] [--max-clips N] [--no-corpus]
    nice .venv/bin/python benchmarks/defects.py --from-json reports/defects.json

1. **Real footage**: the 5 in-sync recordings of ``../shared/realclips/recordings`` (never
   copied into the repository), decoded once on the extraction grid (150 frames at 25 fps,
   16 kHz mono, <= 256 px), each defect family of :data:`tqa.study.defects.families.FAMILIES`
   injected in memory at graded levels (MP3 through ffmpeg pipes, no file), features of the
   extraction pipeline (params.yaml, unchanged) pooled as the pooled regressors read them,
   plus a few ``tqa metrics`` columns on the same arrays. Per family and level: detection AUC
   (clean vs that level, oriented by the family's declared direction) and Spearman with the
   level over clean + all levels. For the A/V offset also the estimate vs the injected shift.
2. **Sample corpus** (``data.root``, ``degradations.csv``): the same families and features
   from the extraction cache (``features.cache_dir`` or ``--features-cache``), videos without
   the defect vs videos with it, all of them and by thirds of the level.
3. Targets of the issue, and a "what it means" paragraph written from the numbers.

Writes ``reports/defects.md`` and ``reports/defects.json`` (repository-relative paths only);
``--from-json`` re-renders the Markdown from a saved JSON without measuring anything.
Nothing is tuned on these clips: every feature and direction is declared in
:mod:`tqa.study.defects.families` before the run. The parts live in :mod:`tqa.study.defects`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqa.core.atomic import write_json, write_text
from tqa.core.clip import Clip
from tqa.core.params import ROOT, load_params, resolve
from tqa.features.config import config_hash_from_params
from tqa.features.decode import _decode_audio
from tqa.features.extractors.audio_dnsmos import valid_samples
from tqa.features.pipeline import FeatureExtractor
from tqa.study.defects import corpus as C
from tqa.study.defects import real as R
from tqa.study.defects.cells import clean_json
from tqa.study.defects.detection import real_table
from tqa.study.defects.families import FAMILIES, SR
from tqa.study.defects.inject import ffmpeg_exe, inject
from tqa.study.defects.report import from_saved, markdown
from tqa.study.defects.targets import OFFSET_MIN, meaning, targets
from tqa.study.defects.variant_features import POOLED_MODALITIES, VariantExtractor
from tqa.study.pooled import pooled_features
from tqa.study.protocol import load_study_inputs

log = logging.getLogger("defects")


def rel(p: Path) -> str:
    """Path relative to the repository root, with ../ when outside (no machine paths; links
    are not followed: data/sample stays data/sample)."""
    return os.path.relpath(os.path.abspath(p), os.path.abspath(ROOT))


# ------------------------------------------------------------------------------ real footage
def load_real(
    clips: Path, fx: FeatureExtractor, max_clips: int | None
) -> tuple[list[Path], list[Clip], list[np.ndarray]]:
    """(recording files, their decoded clips, the foreign speech tracks) of ``clips``."""
    files = R.recording_files(clips / "recordings")[:max_clips]
    t0 = time.perf_counter()
    decoded = [fx.load(str(f), f"rec{f.stem}") for f in files]
    log.info("decoded %d recordings in %.1f s", len(decoded), time.perf_counter() - t0)
    length = len(decoded[0].audio)
    speech = [  # the speech alone (its trailing padding cut), tiled by the dub when shorter
        np.trim_zeros(_decode_audio(str(w), 0.0, length, SR), "b")
        for w in sorted((clips / "speech").glob("*.wav"))
    ]
    return files, decoded, speech


def measure_clip(i: int, clip: Clip, nxt: Clip, run: dict) -> list[dict]:
    """Records of one recording: clean, then every variant of the plan (``run``: the shared
    extractor, plan, speech, seed, ffmpeg and progress bar; the checks on the first clip)."""
    vx, f = run["vx"], run["files"][i]
    vx.clear()
    n = int(np.sum(clip.meta["valid_frames"]))
    own_next = nxt.audio[: valid_samples(nxt)]
    base = {"clip": f"recordings/{f.name}", "n_valid_frames": n}
    run["sources"][base["clip"]] = {"source_fps": clip.source_fps, "valid_frames": n}
    wanted = sorted({x for fam in FAMILIES for x, _ in fam.features()})
    row, ctx = vx.pooled(clip)
    row.update(vx.metrics(clip, ctx, wanted))
    records = [{**base, "family": "clean", "level": 0.0, "sign": 0, "severity": 0, **row}]
    run["bar"].update()
    if i == 0:  # the memoised extraction is the pipeline's, and the metrics tqa metrics'
        run["checks"] = R.consistency_checks(run["fx"], vx, clip, f, run["params"], row)
    for fam, lev, sign, rank, src in run["plan"]:
        rng = np.random.default_rng([run["seed"], 26, i, FAMILIES.index(fam), rank, src])
        foreign = run["speech"][src] if fam.name == "foreign_speech" else own_next
        frames, audio = inject(
            fam.name, lev, clip.frames, clip.audio, n, rng, sign, foreign, run["ffmpeg"]
        )
        var = dataclasses.replace(clip, frames=frames, audio=audio)
        row, ctx = vx.pooled(var)
        row.update(vx.metrics(var, ctx, [x for x, _ in fam.features()]))
        records.append(
            {**base, "family": fam.name, "level": lev, "sign": sign, "severity": rank,
             "source": src, **row}
        )  # fmt: skip
        run["bar"].update()
    return records


def real_bench(clips: Path, params: dict, max_clips: int | None) -> dict:
    """Every recording clean and degraded, measured; the table, records and offset summary."""
    fx = FeatureExtractor(params)
    files, decoded, speech = load_real(clips, fx, max_clips)
    plan = R.variants(len(speech))
    log.info(
        "real footage: %d recordings x (1 clean + %d degraded variants), %d families",
        len(decoded),
        len(plan),
        len(FAMILIES),
    )
    run = {
        "fx": fx, "vx": VariantExtractor(fx), "files": files, "plan": plan, "speech": speech,
        "seed": int(params["seed"]), "ffmpeg": ffmpeg_exe(), "params": params, "checks": {},
        "sources": {},
        "bar": tqdm(total=len(decoded) * (len(plan) + 1), desc="real clips", unit="variant"),
    }  # fmt: skip
    records = []
    for i, clip in enumerate(decoded):
        records += measure_clip(i, clip, decoded[(i + 1) % len(decoded)], run)
    run["bar"].close()
    run["vx"].clear()
    df = pd.DataFrame(records)
    return {
        "clips": [rel(f) for f in files],
        "n_variants_per_clip": len(plan),
        "sources": run["sources"],
        "table": real_table(df),
        "records": R.slim_records(df),
        "offset": R.offset_summary(df),
        "checks": run["checks"],
    }


# ------------------------------------------------------------------------------ sample corpus
def corpus_bench(params: dict, cache: str | None) -> dict:
    """The families on the sample corpus, from its extraction cache (an error when none)."""
    p = {**params, "features": {**params["features"]}}
    if cache:
        p["features"]["cache_dir"] = cache
    root = resolve(p["data"]["root"])
    try:
        fs, _, meta = load_study_inputs(p)
    except (RuntimeError, OSError) as exc:
        log.warning("sample corpus: no extracted features (%s)", exc)
        return {"error": str(exc)}
    log.info(
        "sample corpus: %d videos with features in %s",
        len(fs.video_ids),
        rel(resolve(p["features"]["cache_dir"])),
    )
    # the au stream too: the avsync / avlocal columns the real side measures as candidates
    mods = [m for m in (*POOLED_MODALITIES, "au") if m in fs.modalities]
    x, names = pooled_features(fs, mods)
    feats = pd.DataFrame(x, columns=names, index=pd.Index(fs.video_ids, name="video_id"))
    deg = pd.read_csv(root / "degradations.csv").set_index("video_id")
    df = deg.join(feats, how="inner")
    return {
        "root": rel(root),
        "features": rel(resolve(p["features"]["cache_dir"])),
        "config_hash": config_hash_from_params(p),
        "n_videos": len(df),
        "n_labelled": len(meta),
        "table": C.corpus_table(df),
        "offset": C.corpus_offset(df, OFFSET_MIN),
    }


# ------------------------------------------------------------------------------ main
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default=str(ROOT.parent / "shared" / "realclips"))
    ap.add_argument(
        "--features-cache",
        default=None,
        help="extraction cache of the sample corpus (default: params features.cache_dir)",
    )
    ap.add_argument("--max-clips", type=int, default=None, help="first N recordings only")
    ap.add_argument("--no-corpus", action="store_true", help="skip the sample corpus")
    ap.add_argument(
        "--from-json",
        default=None,
        metavar="PATH",
        help="re-render reports/defects.md from a saved defects.json (nothing is measured)",
    )
    return ap.parse_args()


def run_all(args: argparse.Namespace, clips: Path) -> dict:
    """Real footage, then the sample corpus, the targets and what they mean."""
    params = load_params()
    t0 = time.perf_counter()
    real = real_bench(clips, params, args.max_clips)
    t1 = time.perf_counter()
    corpus = (
        {"error": "--no-corpus"} if args.no_corpus else corpus_bench(params, args.features_cache)
    )
    t2 = time.perf_counter()
    res = {
        "clips": rel(clips),
        "when": time.strftime("%Y-%m-%d", time.gmtime()),
        "seconds": t2 - t0,
        "seconds_real": t1 - t0,
        "seconds_corpus": t2 - t1,
        "config_hash": config_hash_from_params(params),
        "families": [dataclasses.asdict(f) for f in FAMILIES],
        "real": real,
        "corpus": corpus,
    }
    res["targets"] = targets(real, corpus)
    res["meaning"] = meaning(res)
    return clean_json(res)


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.from_json:
        res = from_saved(json.loads(Path(args.from_json).read_text(encoding="utf-8")))
        write_text(ROOT / "reports" / "defects.md", markdown(res))
        log.info("wrote reports/defects.md from %s", args.from_json)
        return 0
    clips = Path(args.clips)
    if not (clips / "recordings").is_dir():
        print(f"real clips not found at {clips}: nothing to benchmark", file=sys.stderr)
        return 2
    res = run_all(args, clips)
    write_json(ROOT / "reports" / "defects.json", res)
    write_text(ROOT / "reports" / "defects.md", markdown(res))
    log.info("wrote reports/defects.md and reports/defects.json (%.0f s)", res["seconds"])
    print(res["meaning"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
