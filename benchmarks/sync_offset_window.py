"""Where the correlation sync reads its offset: where its 2 s windows sit, or the whole clip.

    python benchmarks/sync_offset_window.py [--clips ../shared/realclips] [--skip-corpus]

Readings (``tqa/study/defects/offset_reading.py``): ``inside`` (the extractor's), ``span``,
``whole`` and ``inside_mean`` (the extractor's windows, its two mouth signals averaged
equally: its rule before 2026-12-07). Sample corpus (``data/sample``, decoded and landmarked
again, ~3 min on 2 cores): the share of videos whose offset is within 1 frame of the
injected one, per reading, on all videos and on the identities of even and odd index (two
disjoint halves: a reading that wins on one half and loses on the other is not a choice).
Real footage (the 5 recordings of ``../shared/realclips``, ~1 min), on the extraction grid
(6 s): the originals' offsets and, per |shift| in frames, the detection AUC of |offset|, the
paired share and the shifts read exactly relative to each recording's own original; and on
each whole recording (up to 250 frames, as ``tests/test_real_clips.py`` reads them): the
originals' offsets and the share of shifts by +-5, +-10, +-15 frames read within 1 frame of
the shift. Writes ``reports/sync_offset_window.{md,json}``; changes no extractor.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from defects import load_real

from tqa.core.atomic import write_json, write_text
from tqa.core.params import load_params, resolve
from tqa.features.decode import load_clip
from tqa.features.extract import list_videos
from tqa.features.extractors.audio_dnsmos import valid_samples
from tqa.features.extractors.base import landmarks_from, run_extractor
from tqa.features.extractors.landmarks_mediapipe import detect_landmarks
from tqa.features.pipeline import FeatureExtractor
from tqa.study.defects import offset_reading as O
from tqa.study.defects.inject import shift_audio
from tqa.study.defects.real import recording_files

log = logging.getLogger("sync_offset_window")
SHIFTS = (1, 2, 3, 5, 10)
#: Shifts (frames) and frame cap of the whole-recording check (tests/test_real_clips.py's).
WHOLE_SHIFTS, WHOLE_FRAMES = (5, 10, 15), 250


def _signals(fx: FeatureExtractor, clip, audio: np.ndarray | None = None, lm=None):
    """(3, T) signals of ``clip`` (its own audio unless ``audio``) and its landmarks."""
    if lm is None:
        ctx: dict = {}
        run_extractor(fx.extractors["landmarks"], clip, ctx)
        lm = landmarks_from(clip, ctx, "sync_offset_window needs")
    a = clip.audio if audio is None else audio
    sig = O.mouth_and_envelope(
        clip.frames, lm, a, clip.sample_rate, clip.fps, clip.meta.get("valid_frames")
    )
    return sig, lm


def corpus_rows(fx: FeatureExtractor, params: dict) -> pd.DataFrame:
    """Offsets of every sample-corpus video by each reading, with its injected defects."""
    root = resolve(params["data"]["root"])
    deg = pd.read_csv(root / "degradations.csv", dtype={"video_id": str}).set_index("video_id")
    rows = []
    for vid, path in tqdm(list_videos(root, params), desc="corpus", unit="video"):
        sig, _ = _signals(fx, fx.load(str(path), vid))
        rows.append({"video_id": vid, **{f"offset_{r}": O.read_offset(sig, r) for r in O.READINGS}})
    cols = ["av_offset_frames", "identity", "seg_desync_frames", "swapped_audio"]
    return pd.DataFrame(rows).join(deg[cols], on="video_id")


def real_rows(fx: FeatureExtractor, clips: Path) -> pd.DataFrame:
    """Offsets of each real recording and of its audio shifted by +-SHIFTS frames."""
    files, decoded, _ = load_real(clips, fx, None)  # the defect benchmark's recordings
    rows = []
    for f, clip in tqdm(list(zip(files, decoded)), desc="real", unit="recording"):
        n = valid_samples(clip)
        lm = None
        for k in (0, *[sign * m for m in SHIFTS for sign in (-1, 1)]):
            audio = clip.audio if k == 0 else shift_audio(clip.audio, k, n)
            sig, lm = _signals(fx, clip, audio, lm)
            offs = {f"offset_{r}": O.read_offset(sig, r) for r in O.READINGS}
            rows.append({"clip": f"recordings/{f.name}", "shift": k, **offs})
    return pd.DataFrame(rows)


def whole_recording_rows(clips: Path) -> list[dict]:
    """Per reading and framing: the whole recordings' offsets (up to WHOLE_FRAMES frames) and
    the share of their audio shifted by +-WHOLE_SHIFTS frames (`inject.shift_audio`) read
    within 1 frame of the shift. ``padded``: the signals as the extractor and the real-clips
    test see them, NaN after the recording's end up to WHOLE_FRAMES (windows that reach into
    the padding count when 60 % of their pairs are finite); ``trimmed``: the recording's own
    frames only."""
    files = recording_files(clips / "recordings")
    keys = [(r, framing) for framing in ("padded", "trimmed") for r in O.READINGS]
    found: dict[tuple, list[bool]] = {k: [] for k in keys}
    own: dict[tuple, list[int | None]] = {k: [] for k in keys}
    for f in tqdm(files, desc="whole recordings", unit="recording"):
        clip = load_clip(f, n_frames=WHOLE_FRAMES)
        lm = detect_landmarks(clip.frames)
        n = valid_samples(clip)
        valid = np.asarray(clip.meta["valid_frames"], bool)
        for k in (0, *[sign * m for m in WHOLE_SHIFTS for sign in (-1, 1)]):
            audio = clip.audio if k == 0 else shift_audio(clip.audio, k, n)
            sig = O.mouth_and_envelope(clip.frames, lm, audio, clip.sample_rate, clip.fps, valid)
            for r, framing in keys:
                off = O.read_offset(sig if framing == "padded" else sig[:, valid], r)
                if k == 0:
                    own[r, framing].append(int(off) if np.isfinite(off) else None)
                else:
                    found[r, framing].append(bool(abs(off - k) <= 1))
    return [
        {
            "reading": r,
            "frames": framing,
            "originals": own[r, framing],
            "originals abs(offset) <= 1": sum(
                v is not None and abs(v) <= 1 for v in own[r, framing]
            ),
            "shifts within 1": float(np.mean(found[r, framing])),
            "n shifts": len(found[r, framing]),
        }
        for r, framing in keys
    ]


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if not np.isfinite(v) else f"{v:.3f}"
    return str(v)


def markdown(
    corpus: list[dict] | None,
    real: list[dict] | None,
    whole: list[dict] | None,
    seconds: float,
) -> str:
    """The report: one table per data set, a row per reading."""
    out = [
        "# Where the correlation sync reads its offset",
        "",
        f"Generated by `benchmarks/sync_offset_window.py` ({seconds:.0f} s). `inside`: the "
        "extractor's reading (mean distance curve of 2 s windows placed so that every lag "
        "fits: on a 6 s clip all in its middle); `span`: the same windows across the whole "
        "clip (at lag d a window pairs its frames whose partner lies inside the clip); "
        "`whole`: one window over the whole overlap at each lag. These three combine the two "
        "mouth signals' distance curves weighted by each curve's own confidence (median minus "
        "min), as the extractor does since 2026-12-07; `inside_mean`: the extractor's windows "
        "with the two curves averaged equally, its rule before. Nothing fitted "
        "([docs/features.md](../docs/features.md) says which reading the extractor keeps and "
        "why).",
        "",
    ]
    tables = (
        ("Sample corpus (`data/sample`)", corpus),
        ("Real recordings on the extraction grid (6 s)", real),
        (f"Whole real recordings (up to {WHOLE_FRAMES} frames; shifts +-"
         f"{', +-'.join(map(str, WHOLE_SHIFTS))} frames, as tests/test_real_clips.py; padded: "
         "NaN after the recording's end, as the extractor and that test read it; trimmed: the "
         "recording's own frames only)", whole),
    )  # fmt: skip
    for title, rows in tables:
        if not rows:
            continue
        keys = [k for k in rows[0] if not k.startswith("n")] + [
            k for k in rows[0] if k.startswith("n")
        ]
        out += [f"## {title}", "", "| " + " | ".join(keys) + " |"]
        out += ["|" + "---|" * len(keys)]
        out += ["| " + " | ".join(_fmt(r[k]) for k in keys) + " |" for r in rows]
        out += [""]
    out += [
        "AUC k / paired k / tracked k: |offset| of clean vs audio shifted by k frames both ways "
        "(ROC AUC), the share of shifted variants reading a larger |offset| than their own "
        "original, the share read exactly k away from that original.",
        "",
    ]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=Path("../shared/realclips"))
    ap.add_argument("--skip-corpus", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    params = load_params()
    fx = FeatureExtractor(params)
    t0 = time.perf_counter()
    corpus = real = whole = None
    with threadpool_limits(1):
        if not args.skip_corpus:
            corpus = O.corpus_summary(corpus_rows(fx, params))
        if (args.clips / "recordings").is_dir():
            real = O.real_summary(real_rows(fx, args.clips), SHIFTS)
            whole = whole_recording_rows(args.clips)
        else:
            log.warning("%s/recordings not found: real footage skipped", args.clips)
    seconds = time.perf_counter() - t0
    out = resolve("reports")
    payload = {"corpus": corpus, "real": real, "whole_recordings": whole}
    write_json(out / "sync_offset_window.json", payload)
    write_text(out / "sync_offset_window.md", markdown(corpus, real, whole, seconds))
    log.info("wrote %s (%.0f s)", out / "sync_offset_window.md", seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
