"""Corpus reports: the contact sheet figure and the data card, from the BUILT files.

Every statistic in the data card is measured on the written corpus (labels.csv,
degradations.csv, decoded mp4 frames), never copied from the thesis chapter.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from tqa.core.atomic import atomic_path, write_text
from tqa.core.params import ROOT
from tqa.data.corpus.face import detect_landmarks
from tqa.data.corpus.media import read_mp4
from tqa.data.corpus.profiles import GENERATORS, NEUTRAL
from tqa.data.corpus.ratings import label_stats, rater_reliability
from tqa.data.corpus.speech import TEXTS

log = logging.getLogger(__name__)


def face_detection_rate(
    out: str | Path, video_ids: list[str], every: int = 10
) -> tuple[float, int]:
    """Share of decoded frames (every ``every``-th) where MediaPipe Face Mesh finds a face.

    Static-image mode (no tracking), so each sampled frame is a fresh detection.
    Returns (rate, number of frames checked).
    """
    hits = total = 0
    for vid in tqdm(video_ids, desc="face check", unit="video", leave=False):
        frames, _, _, _ = read_mp4(Path(out) / "videos" / f"{vid}.mp4")
        for f in frames[::every]:
            hits += detect_landmarks(f) is not None
            total += 1
    return (hits / total if total else float("nan")), total


def write_contact_sheet(
    out: str | Path, plan: pd.DataFrame, path: str | Path, n_cols: int = 5, tile: int = 128
) -> None:
    """One row per simulated generator (its first video): ``n_cols`` frames evenly spaced."""
    import matplotlib  # noqa: PLC0415 - heavy, only for this figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    profiles = [p for p in GENERATORS if p in set(plan["generator"])]
    fig, axes = plt.subplots(
        len(profiles), 1, figsize=(n_cols * 1.6, len(profiles) * 1.75), squeeze=False
    )
    for ax, prof in zip(axes[:, 0], profiles):
        row = plan[plan["generator"] == prof].iloc[0]
        frames, fps, _, _ = read_mp4(Path(out) / "videos" / f"{row['video_id']}.mp4")
        idx = np.linspace(0, len(frames) - 1, n_cols + 2)[1:-1].astype(int)
        tiles = [
            cv2.resize(frames[i], (tile, int(round(tile * frames.shape[1] / frames.shape[2]))))
            for i in idx
        ]
        ax.imshow(np.hstack(tiles))
        ax.set_axis_off()
        ax.set_title(
            f"{prof}  ({row['video_id']}, identity {row['identity']}, "
            f"{frames.shape[2]}x{frames.shape[1]} "
            f"@ {fps:g} fps)",
            fontsize=7,
            loc="left",
        )
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    write_text(
        path.with_suffix(".txt"),
        "Synthetic sample corpus (tqa.data.corpus, NOT EmotionTalk): evenly spaced decoded frames"
        " of the first video of each simulated generator; identities are morphs of skimage's"
        " astronaut and cameraman photos.\n",
    )


def _lip_sync_line(cfg: dict) -> str:
    if cfg.get("informative_lip_sync", True):
        return "informative (tracks offset, mouth lag, segment desync and frozen mouth)"
    return (
        "near-constant as the chapter describes EmotionTalk (N(4.763, 0.02)); set"
        " `corpus.informative_lip_sync: true` to make it track the injected defects"
    )


def _raters_line(cfg: dict) -> str:
    r = cfg.get("raters") or {}
    return (
        "true score `base - sum(weight x impairment)`; "
        f"{r.get('n', 1)} simulated raters each add a "
        f"bias N(0, {r.get('bias_std', 0)}) per task and noise N(0, {r.get('noise_std', 0)}) per "
        f"rating, answer on [1, 5] rounded to {r.get('decimals')} decimals"
    )


def _reliability_md(out: Path) -> str:
    path = Path(out) / "ratings_raw.csv"
    if not path.is_file():
        return "(no ratings_raw.csv)"
    rel = rater_reliability(pd.read_csv(path))
    return (
        _md(rel)
        + "\n\nICC(2,k): two-way random, absolute agreement, mean of k raters"
        + " (Shrout & Fleiss 1979);"
        + " split-half: Spearman-Brown corrected correlation of random rater halves;"
        + " pearson_ceiling = sqrt(ICC(2,k)), the expected correlation of the true score"
        + " with the label."
    )


def _md(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The data card's text; :func:`write_data_card` fills it with facts measured on the corpus.
_CARD = """# Data card: embedded synthetic sample corpus

**This is not EmotionTalk.** It is a deterministic, synthetic corpus of talking-face videos built
by `tqa corpus` (package `tqa/data/corpus/`) so that the whole study runs from a fresh clone with no
download. Its labels are **simulated** from the degradations injected into each video; they are
not human ratings. Every number below was measured on the built corpus in `{where}/`
(seed {seed}, {n_videos} videos); none is copied from the thesis chapter.

## How it was made
- **Faces**: two real frontal photographs shipped in installed packages,
  `skimage.data.astronaut()` (public-domain NASA portrait) and matplotlib's sample
  `grace_hopper.jpg` (public-domain US Navy portrait), turned into {n_identities}
  identities by smooth geometric warps (face width, eye spacing, jaw length), CIELAB skin-tone and
  hair hue shifts, a background colour blend, mirroring and crop scale (`tqa/data/corpus/face.py`).
  They are **morphs of two people**; `group` = identity keeps a morph, its voice and its sentences
  out of two splits, not the underlying person.
- **Speech**: eSpeak NG formant synthesis (`espeakng-loader`, offline); each identity has one voice
  (6 variants, own pitch) and its own {texts_per_identity} sentences, disjoint between
  identities while the {n_texts} shipped sentences suffice; resampled to {sample_rate} Hz. Robotic.
- **Animation**: jaw/mouth opening from the speech RMS envelope on the video frame grid, smile/brow
  expression from the slow speech-energy contour, Poisson blinks, small smooth head motion; local
  displacement fields (`cv2.remap`) around landmarks MediaPipe locates once per identity.
- **Defects** (`degradations.csv`): every video draws several defect families at continuous levels
  (`tqa/data/corpus/profiles.py`): whole-clip A/V offset, sluggish mouth, a desynchronised segment,
  a frozen-mouth segment, frozen or jittery expression, expression from other prosody, audio of
  another sentence, noise / band-limit / clipping / low-bitrate codec, blur / JPEG / flicker, a
  flicker burst, dropped + duplicated frames. The **simulated generators** (`generator` column:
  {generators}) differ only in their (overlapping) propensities and severities, so the
  label varies mostly within a generator.
- **Labels**: {raters} (`tqa/data/corpus/ratings.py`, weights in params.yaml
  `corpus.labels`); the label is the raters' mean, rounded to {decimals} decimals;
  every rater's score is in `ratings_raw.csv`. lip_sync is {lip_sync}.
  Missing labels (-1.0) drawn at random with exact presence rates from `corpus.presence`.
- **Files**: H.264 (yuv420p, crf {crf}) + {codec} mono mp4 via PyAV.

## Measured label statistics (present labels only)
{stats_md}

## Raters' own consistency (the ceiling for any model)
{reliability_md}

## Mean label per simulated generator
{by_generator_md}

## Counts
- videos per generator: {per_generator}
- videos per identity (group): {per_identity}
- off-format videos: {off_format} of {n_videos};
  duration {dur_min:.2f}-{dur_max:.2f} s

{formats_md}

## Injected degradations (ground truth in `degradations.csv`)
{degradations_md}

(`blur_sigma` and `snr_db` carry a mild background level in every clip: min/max over all videos.)

## Face detection
MediaPipe Face Mesh (static-image mode) found a face in **{face_pct:.1f} %**
of {n_checked} decoded
frames (every {per_video}th frame of {n_sampled} videos spread over the corpus).

## Build
{n_videos} videos. Build times are machine-dependent and therefore not in this card (which is
tracked in git and must be identical on every machine): see `corpus.json` in the corpus folder
(`build_wall_s`, `cpu_s_per_video_mean`). Versions: {versions}.

## What it is not / caveats
- Not EmotionTalk and not the output of Wav2Lip, SadTalker or GeneFace++: the simulated generators
  imitate kinds of defects, not those methods. Results on it say whether the pipeline recovers
  injected degradations.
- Two source faces; formant speech; a 2-D warp animation (no 3-D head, no teeth/tongue model).
- Labels are a known function of the degradation parameters plus simulated rater bias and noise,
  so a model can in principle reach the raters' ceiling above; real MOS data are harder.
- Labels and degradations are exactly reproducible from the seed. The mp4 bytes are reproducible
  across machines with the same library versions (requirements.lock): landmarks come from a
  committed table, the RGB->YUV conversion is integer numpy, x264 runs single-threaded and
  `cpu-independent` (docs/corpus.md); `tests/test_corpus.py` rebuilds videos against committed
  checksums. Across library versions the pixels/samples may differ slightly.
"""


def write_data_card(
    out: str | Path,
    plan: pd.DataFrame,
    labels: pd.DataFrame,
    cfg: dict,
    seed: int,
    path: str | Path,
) -> None:
    """reports/data_card.md: how the corpus was made, what it is not, measured statistics."""
    out = Path(out)
    face = _face_check(out, plan, cfg)
    facts = {**_corpus_facts(out, plan, labels, cfg, seed), **face}
    write_text(Path(path), _CARD.format(**facts))
    log.info(
        "data card written to %s (face detection %.1f %% of %d frames)",
        path,
        face["face_pct"],
        face["n_checked"],
    )


def _face_check(out: Path, plan: pd.DataFrame, cfg: dict) -> dict:
    """Face detection rate on every ``face_check_frames``-th frame of up to
    ``face_check_videos`` videos spread evenly over the corpus."""
    per_video = int(cfg.get("face_check_frames", 10))
    max_v = int(cfg.get("face_check_videos", 60))
    ids = list(plan["video_id"])
    sample = [
        ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, min(max_v, len(ids))).astype(int))
    ]
    rate, n_checked = face_detection_rate(out, sample, every=per_video)
    return {
        "face_pct": 100 * rate,
        "n_checked": n_checked,
        "per_video": per_video,
        "n_sampled": len(sample),
    }


def _corpus_facts(
    out: Path, plan: pd.DataFrame, labels: pd.DataFrame, cfg: dict, seed: int
) -> dict:
    """Every other fact of the card: where, how made (from ``cfg``), label statistics and
    counts, formats, injected degradations, versions; tables as Markdown."""
    prof = (
        plan.groupby("generator")
        .size()
        .reindex([p for p in GENERATORS if p in set(plan["generator"])])
    )
    by_prof = (
        labels.replace(-1.0, np.nan)
        .groupby("generator")[["lip_sync", "expression", "audio_quality", "cross_modal", "overall"]]
        .mean()
        .reindex(prof.index)
    )
    ident = labels.groupby("group").size()
    dur = plan["n_frames"] / plan["fps"]
    try:
        where = out.resolve().relative_to(ROOT)
    except ValueError:
        where = out
    meta = json.loads((out / "corpus.json").read_text()) if (out / "corpus.json").is_file() else {}
    return {
        "where": where,
        "seed": seed,
        "n_videos": len(plan),
        "n_identities": cfg["n_identities"],
        "texts_per_identity": cfg.get("texts_per_identity", 2),
        "n_texts": len(TEXTS),
        "sample_rate": cfg["sample_rate"],
        "generators": ", ".join(prof.index),
        "raters": _raters_line(cfg),
        "decimals": cfg["labels"].get("decimals", 2),
        "lip_sync": _lip_sync_line(cfg),
        "crf": cfg.get("crf", 20),
        "codec": str(cfg.get("audio_codec", "aac")).upper(),
        "stats_md": _md(label_stats(labels)),
        "reliability_md": _reliability_md(out),
        "by_generator_md": _md(by_prof.reset_index().rename(columns={"index": "generator"})),
        "per_generator": ", ".join(f"{k} {v}" for k, v in prof.items()),
        "per_identity": ", ".join(f"{k} {v}" for k, v in ident.items()),
        "off_format": int(plan["off_format"].sum()),
        "dur_min": dur.min(),
        "dur_max": dur.max(),
        "formats_md": _md(
            plan.groupby(["fps", "height", "width"]).size().reset_index(name="videos")
        ),
        "degradations_md": _md(_degradation_table(plan)),
        "versions": ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items()),
    }


def _degradation_table(plan: pd.DataFrame) -> pd.DataFrame:
    """Per degradation column: its neutral value, videos not at it, min / max of the level."""
    deg_rows = []
    for col, neutral in NEUTRAL.items():
        v = plan[col].astype(float)
        hit = v[v != float(neutral)]
        if col in ("blur_sigma", "snr_db"):  # every clip gets a mild background level
            hit = v
        deg_rows.append(
            {
                "column": col,
                "neutral": neutral,
                "videos_not_neutral": int((v != float(neutral)).sum()),
                "min": float(hit.min()) if len(hit) else np.nan,
                "max": float(hit.max()) if len(hit) else np.nan,
            }
        )
    return pd.DataFrame(deg_rows)
