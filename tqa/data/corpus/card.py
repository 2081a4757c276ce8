"""Corpus reports: the contact sheet figure and the data card, from the BUILT files.

Every statistic in the data card is measured on the written corpus (labels.csv,
degradations.csv, decoded mp4 frames), never copied from the thesis chapter.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm import tqdm

from tqa.core.atomic import atomic_path, write_text
from tqa.core.params import ROOT
from tqa.data.corpus.face import detect_landmarks
from tqa.data.corpus.media import read_mp4
from tqa.data.corpus.profiles import NEUTRAL, PROFILES
from tqa.data.corpus.ratings import label_stats

log = logging.getLogger(__name__)


def face_detection_rate(out: str | Path, video_ids: list[str], every: int = 10) -> tuple[float, int]:
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


def write_contact_sheet(out: str | Path, plan: pd.DataFrame, path: str | Path, n_cols: int = 5,
                        tile: int = 128) -> None:
    """One row per profile (its first video): ``n_cols`` frames evenly spaced in time."""
    matplotlib.use("Agg")
    profiles = [p for p in PROFILES if p in set(plan["profile"])]
    fig, axes = plt.subplots(len(profiles), 1, figsize=(n_cols * 1.6, len(profiles) * 1.75), squeeze=False)
    for ax, prof in zip(axes[:, 0], profiles):
        row = plan[plan["profile"] == prof].iloc[0]
        frames, fps, _, _ = read_mp4(Path(out) / "videos" / f"{row['video_id']}.mp4")
        idx = np.linspace(0, len(frames) - 1, n_cols + 2)[1:-1].astype(int)
        tiles = [cv2.resize(frames[i], (tile, int(round(tile * frames.shape[1] / frames.shape[2])))) for i in idx]
        ax.imshow(np.hstack(tiles))
        ax.set_axis_off()
        ax.set_title(f"{prof}  ({row['video_id']}, identity {row['identity']}, {frames.shape[2]}x{frames.shape[1]} "
                     f"@ {fps:g} fps)", fontsize=7, loc="left")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    write_text(path.with_suffix(".txt"),
               "Synthetic sample corpus (tqa.data.corpus, NOT EmotionTalk): evenly spaced decoded frames of the first "
               "video of each generator profile; identities are morphs of skimage's astronaut photo.\n")


def _md(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_data_card(out: str | Path, plan: pd.DataFrame, labels: pd.DataFrame, cfg: dict, seed: int,
                    path: str | Path) -> None:
    """reports/data_card.md: how the corpus was made, what it is not, measured statistics."""
    out = Path(out)
    per_video = int(cfg.get("face_check_frames", 10))
    max_v = int(cfg.get("face_check_videos", 60))
    ids = list(plan["video_id"])
    sample = [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, min(max_v, len(ids))).astype(int))]
    rate, n_checked = face_detection_rate(out, sample, every=per_video)
    prof = plan.groupby("profile").size().reindex([p for p in PROFILES if p in set(plan["profile"])])
    try:
        where = out.resolve().relative_to(ROOT)
    except ValueError:
        where = out
    meta = json.loads((out / "corpus.json").read_text()) if (out / "corpus.json").is_file() else {}
    text = (_card_method(plan, cfg, seed, prof, where) + _card_statistics(plan, labels, prof)
            + _card_checks(plan, rate, n_checked, per_video, len(sample), meta) + _CARD_CAVEATS)
    write_text(Path(path), text)
    log.info("data card written to %s (face detection %.1f %% of %d frames)", path, 100 * rate, n_checked)


def _degradation_table(plan: pd.DataFrame) -> pd.DataFrame:
    """Per degradation column: its neutral value, videos away from it, min/max of the levels."""
    deg_rows = []
    for col, neutral in NEUTRAL.items():
        v = plan[col].astype(float)
        hit = v[v != float(neutral)]
        if col in ("blur_sigma", "snr_db"):  # every clip gets a mild background level
            hit = v
        deg_rows.append({"column": col, "neutral": neutral, "videos_not_neutral": int((v != float(neutral)).sum()),
                         "min": float(hit.min()) if len(hit) else np.nan,
                         "max": float(hit.max()) if len(hit) else np.nan})
    return pd.DataFrame(deg_rows)


def _card_method(plan: pd.DataFrame, cfg: dict, seed: int, prof: pd.Series, where: Path) -> str:
    """Title, what the corpus is, and how it was made."""
    return f"""# Data card: embedded synthetic sample corpus

**This is not EmotionTalk.** It is a deterministic, synthetic corpus of talking-face videos built
by `tqa corpus` (package `tqa/data/corpus/`) so that the whole study runs from a fresh clone with no
download. Its labels are **simulated** from the degradations injected into each video; they are
not human ratings. Every number below was measured on the built corpus in `{where}/`
(seed {seed}, {len(plan)} videos); none is copied from the thesis chapter.

## How it was made
- **Faces**: one real photograph, `skimage.data.astronaut()` (public-domain NASA portrait), turned into
  {cfg['n_identities']} identities by smooth geometric warps (face width, eye spacing, jaw length),
  CIELAB skin-tone and hue shifts, mirroring and crop scale (`tqa/data/corpus/face.py`). The identities are
  **morphs of one person**; `group` = identity keeps morphs out of two splits, not the person.
- **Speech**: eSpeak NG formant synthesis (`espeakng-loader`, offline), 12 English sentences, 6 voice
  variants, random rate/pitch; resampled to {cfg['sample_rate']} Hz. It sounds robotic, not natural.
- **Animation**: jaw/mouth opening from the speech RMS envelope on the video frame grid, smile/brow
  expression from the slow speech-energy contour, Poisson blinks, small smooth head motion; local
  displacement fields (`cv2.remap`) around landmarks MediaPipe locates once per identity.
- **Generator profiles** (`generator` column): {', '.join(prof.index)}; each draws continuous levels
  of degradations tied to one dimension (see `tqa/data/corpus/profiles.py` and `degradations.csv`):
  audio-video offset (`av_offset_frames`, + = audio delayed) and sluggish mouth (lip_sync); frozen or
  jittery expression (expression); noise / band-limit / clipping / low-bitrate AAC (audio_quality);
  audio of another sentence or expression driven by other prosody (cross_modal); blur / JPEG
  compression / flicker (overall).
- **Labels**: `score = base - sum(weight x impairment) + N(0, {cfg['rater_noise']})`, clipped to [1, 5],
  rounded to {cfg['labels'].get('decimals', 2)} decimals (`tqa/data/corpus/ratings.py`, weights in
  params.yaml `corpus.labels`). lip_sync is {'informative (tracks offset and mouth lag)' if cfg.get('informative_lip_sync') else 'NOT informative by default: drawn around the chapter-reported mean with near-zero spread, as the chapter describes EmotionTalk; set `corpus.informative_lip_sync: true` to make it track the injected offset'}.
  Missing labels (-1.0) drawn at random with exact presence rates from `corpus.presence`.
- **Files**: H.264 (yuv420p, crf {cfg.get('crf', 20)}) + AAC mono mp4 via PyAV.

"""


def _card_statistics(plan: pd.DataFrame, labels: pd.DataFrame, prof: pd.Series) -> str:
    """Label statistics, mean label per profile, counts, formats and injected degradations."""
    stats = label_stats(labels)
    fmt = plan.groupby(["fps", "height", "width"]).size().reset_index(name="videos")
    by_prof = labels.replace(-1.0, np.nan).groupby("generator")[
        ["lip_sync", "expression", "audio_quality", "cross_modal", "overall"]].mean().reindex(prof.index)
    ident = labels.groupby("group").size()
    dur = plan["n_frames"] / plan["fps"]
    deg_tab = _degradation_table(plan)
    return f"""## Measured label statistics (present labels only)
{_md(stats)}

## Mean label per generator profile
{_md(by_prof.reset_index().rename(columns={'index': 'generator'}))}

## Counts
- videos per profile: {', '.join(f'{k} {v}' for k, v in prof.items())}
- videos per identity (group): {', '.join(f'{k} {v}' for k, v in ident.items())}
- off-format videos: {int(plan['off_format'].sum())} of {len(plan)}; duration {dur.min():.2f}-{dur.max():.2f} s

{_md(fmt)}

## Injected degradations (ground truth in `degradations.csv`)
{_md(deg_tab)}

(`blur_sigma` and `snr_db` carry a mild background level in every clip: min/max over all videos.)

"""


def _card_checks(plan: pd.DataFrame, rate: float, n_checked: int, per_video: int, n_sampled: int,
                 meta: dict) -> str:
    """The measured face-detection rate and the build's timings and versions."""
    return f"""## Face detection
MediaPipe Face Mesh (static-image mode) found a face in **{100 * rate:.1f} %** of {n_checked} decoded
frames (every {per_video}th frame of {n_sampled} videos spread over the corpus).

## Build
{len(plan)} videos; CPU per video when rendered (speech + animation + degradations + encoding, one
process): mean {meta.get('cpu_s_per_video_mean', 'n/a')} s, max {meta.get('cpu_s_per_video_max', 'n/a')} s
(the first video of each worker includes identity preparation). Last run: {meta.get('built_now', 'n/a')} videos
rendered, {meta.get('build_wall_s', 'n/a')} s wall (machine load and resumed videos included).
Versions: {', '.join(f'{k} {v}' for k, v in (meta.get('versions') or {}).items())}.

"""


_CARD_CAVEATS = """## What it is not / caveats
- Not EmotionTalk and not the output of Wav2Lip, SadTalker or GeneFace++: profiles imitate kinds of
  defects, not those methods. Results on it say whether the pipeline recovers injected degradations.
- One source face; formant speech; a 2-D warp animation (no 3-D head, no teeth/tongue model).
- Labels are a known function of the degradation parameters plus Gaussian rater noise, so a
  model can in principle reach the noise ceiling; real MOS data are harder.
- Labels and degradations are exactly reproducible from the seed. The mp4 bytes are reproducible
  with the same library versions (PyAV/FFmpeg/x264, OpenCV, eSpeak NG, MediaPipe); across versions
  the pixels/samples may differ slightly, so downstream stages must not rely on bit-identity.
"""
