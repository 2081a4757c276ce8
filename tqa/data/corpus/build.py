"""Build the embedded synthetic corpus: ``tqa corpus --out data/sample --n N --seed S``.

Plan (ground truth, :func:`tqa.data.corpus.profiles.plan_corpus`) -> render each video in
worker processes (speech, face animation, degradations, H.264 + ALAC/AAC mux) -> labels.csv
and degradations.csv written atomically at the end. Resumable: a video whose mp4 is
valid and whose ``.parts/<id>.json`` matches its planned row is not rebuilt.

Output folder::

    labels.csv            video_id, five scores (-1.0 = missing; the raters' mean), group, generator
    ratings_raw.csv       video_id, task, rater, score: every simulated rater's score
    degradations.csv      every ground-truth generation parameter, one row per video
    videos/<id>.mp4       H.264 (yuv420p) + ALAC (corpus.audio_codec) mono
    corpus.json           params, seed, library versions
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from tqa.core.atomic import atomic_path, write_csv, write_json
from tqa.core.interrupt import ignore_sigint, sigint_deferred
from tqa.core.params import (
    add_params_arguments,
    cli_path,
    params_from_args,
    params_hash,
    resolve,
)
from tqa.data.corpus import animate as A
from tqa.data.corpus import degrade as D
from tqa.data.corpus import face as F
from tqa.data.corpus.card import write_contact_sheet, write_data_card
from tqa.data.corpus.media import is_valid_mp4, write_mp4
from tqa.data.corpus.profiles import plan_corpus
from tqa.data.corpus.ratings import simulate_ratings
from tqa.data.corpus.speech import TEXTS, Voice, synthesize

log = logging.getLogger(__name__)


def _place(speech: np.ndarray, onset_s: float, n_samples: int, sample_rate: int) -> np.ndarray:
    """Speech on a clip timeline of ``n_samples``: silence, utterance at ``onset_s``, trimmed
    with a fade."""
    out = np.zeros(n_samples, np.float32)
    k = int(round(onset_s * sample_rate))
    seg = speech[: max(n_samples - k, 0)].copy()
    if len(seg) < len(speech) and len(seg) > 0:
        fade = min(len(seg), int(0.05 * sample_rate))
        seg[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    out[k : k + len(seg)] = seg
    return out


def render_video(row: dict, cfg: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (T, H, W, 3) and audio float32 (S,) of one planned corpus row."""
    sr = int(cfg["sample_rate"])
    fps, n_frames = int(row["fps"]), int(row["n_frames"])
    h, w = int(row["height"]), int(row["width"])
    rng = np.random.default_rng(int(row["render_seed"]))
    spec = F.identity_specs(int(cfg["n_identities"]), seed)[int(row["identity"])]
    idn, rig = A.cached_rig(spec, max(h, w))
    voice = Voice(str(row["voice"]), int(row["rate_wpm"]), int(row["pitch"]))
    n_samples = int(round(n_frames / fps * sr))
    track = _place(
        synthesize(TEXTS[int(row["text_id"])], voice, sr), float(row["onset_s"]), n_samples, sr
    )
    other = None
    if int(row["swapped_audio"]) or int(row["expr_mismatch"]):
        other = _place(
            synthesize(TEXTS[int(row["swap_text_id"])], voice, sr),
            float(row["onset_s"]),
            n_samples,
            sr,
        )
    # --- video: drive signals from the ORIGINAL speech
    rms = A.frame_rms(track, sr, fps, n_frames)
    mouth = A.mouth_signal(rms, fps, float(row["mouth_lag_s"]), float(row["mouth_gain"]))
    seg = D.segment_frames(
        float(row.get("seg_desync_start_s", 0.0)),
        float(row.get("seg_desync_dur_s", 0.0)),
        fps,
        n_frames,
    )
    mouth = D.desync_segment(mouth, int(row.get("seg_desync_frames", 0)), seg)
    seg = D.segment_frames(
        float(row.get("mouth_freeze_start_s", 0.0)),
        float(row.get("mouth_freeze_dur_s", 0.0)),
        fps,
        n_frames,
    )
    mouth = D.freeze_segment(mouth, seg)
    if int(row["expr_mismatch"]):
        pros = A.prosody_signal(A.frame_rms(other, sr, fps, n_frames)[::-1].copy(), fps)
    else:
        pros = A.prosody_signal(rms, fps)
    gain, jit = float(row["expr_gain"]), float(row["expr_jitter"])
    expr = gain * (0.15 + 0.85 * pros) + jit * rng.standard_normal(n_frames)
    expr = np.clip(expr, 0, 1.2)
    blink = A.blink_signal(n_frames, fps, rng, float(row["blink_rate_hz"]))
    pose = A.head_pose(n_frames, fps, rng) * max(gain, 0.05)
    pose = pose + jit * rng.standard_normal(pose.shape) * np.array([3.0, 3.0, 3.0])
    frames = A.render(idn, rig, mouth, expr, blink, pose.astype(np.float32))
    if (h, w) != frames.shape[1:3]:
        y0, x0 = (frames.shape[1] - h) // 2, (frames.shape[2] - w) // 2
        frames = np.ascontiguousarray(frames[:, y0 : y0 + h, x0 : x0 + w])
    frames = D.blur(frames, float(row["blur_sigma"]))
    frames = D.jpeg(frames, int(row["jpeg_quality"]))
    frames = D.flicker(frames, float(row["flicker_amp"]), rng)
    seg = D.segment_frames(
        float(row.get("flicker_burst_start_s", 0.0)),
        float(row.get("flicker_burst_dur_s", 0.0)),
        fps,
        n_frames,
    )
    frames = D.flicker_burst(frames, float(row.get("flicker_burst_amp", 0.0)), seg, rng)
    glitch = D.glitch_index(n_frames, float(row.get("frame_glitch_rate", 0.0)), rng)
    frames = np.ascontiguousarray(frames[glitch])
    # --- audio: swap, offset (+ = audio delayed), band-limit, clip, noise
    audio = other if int(row["swapped_audio"]) else track
    audio = D.shift_audio(audio, int(row["av_offset_frames"]), fps, sr)
    audio = D.lowpass(audio, float(row["lowpass_hz"]), sr)
    audio = D.hard_clip(audio, float(row["clip_level"]))
    audio = D.add_noise(audio, float(row["snr_db"]), rng)
    return frames, D.normalise_peak(audio)


def build_plan(cfg: dict, seed: int, n: int | None = None) -> pd.DataFrame:
    """The plan the builder renders: :func:`plan_corpus` with undegraded audio at
    ``corpus.audio_kbps``."""
    plan = plan_corpus(int(n if n is not None else cfg["n_videos"]), cfg, seed)
    plan.loc[plan["audio_kbps"] >= 64, "audio_kbps"] = int(cfg.get("audio_kbps", 64))
    return plan


def encode_row(row: dict, cfg: dict, seed: int, path: str | os.PathLike) -> None:
    """Render planned ``row`` and write it to ``path`` (mp4) exactly as the builder does."""
    frames, audio = render_video(row, cfg, seed)
    codec = str(cfg.get("audio_codec", "aac"))
    sr, kbps = int(cfg["sample_rate"]), int(row["audio_kbps"])
    if codec == "alac" and kbps < int(cfg.get("audio_kbps", 64)):  # the codec defect
        audio = D.normalise_peak(D.codec_artefacts(audio, kbps, sr))
    write_mp4(
        path, frames, int(row["fps"]), audio, sr, crf=int(cfg.get("crf", 20)),
        audio_kbps=kbps, audio_codec=codec,
    )  # fmt: skip


def _row_key(row: dict, cfg: dict, seed: int) -> str:
    keep = {
        k: cfg.get(k) for k in ("sample_rate", "n_identities", "crf", "audio_kbps", "audio_codec")
    }
    return params_hash({"row": row, "cfg": keep, "seed": seed, "v": 2})


def _build_one(args: tuple[dict, str, dict, int]) -> tuple[str, float, str]:
    row, out, cfg, seed = args
    out_dir = Path(out)
    vid = str(row["video_id"])
    path = out_dir / "videos" / f"{vid}.mp4"
    part = out_dir / ".parts" / f"{vid}.json"
    key = _row_key(row, cfg, seed)
    if path.is_file() and part.is_file():
        try:
            if json.loads(part.read_text())["key"] == key and is_valid_mp4(
                path, int(row["n_frames"])
            ):
                return vid, 0.0, "skipped"
        except (ValueError, KeyError):
            pass
    t0 = time.process_time()
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one video per process; OpenCV threads only add contention
    try:
        with atomic_path(path) as tmp:
            encode_row(row, cfg, seed, tmp)
    finally:
        cv2.setNumThreads(threads)
    write_json(part, {"key": key, "cpu_s": time.process_time() - t0})
    return vid, time.process_time() - t0, "built"


def _workers(cfg: dict) -> int:
    w = int(cfg.get("workers", 0) or 0)
    return w if w > 0 else (os.cpu_count() or 1)


def build_corpus(
    out: str | os.PathLike,
    cfg: dict,
    seed: int,
    n: int | None = None,
    reports_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Build (or resume) the corpus in ``out``; returns the labels table.

    cfg: params ``corpus`` section; n overrides ``cfg["n_videos"]``. With
    ``reports_dir``, also writes the contact sheet figure and the data card there.
    """
    out = Path(out)
    cfg = dict(cfg)
    n = int(n if n is not None else cfg["n_videos"])
    plan = build_plan(cfg, seed, n)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows = plan.to_dict("records")
    jobs = [(r, str(out), cfg, int(seed)) for r in rows]
    n_workers = min(_workers(cfg), len(jobs)) or 1
    t0 = time.time()
    results = []
    bar = tqdm(total=len(jobs), desc="corpus", unit="video", disable=not progress)
    if n_workers == 1:
        for j in jobs:
            results.append(_build_one(j))
            bar.update()
    else:
        # spawn, not fork: a forked MediaPipe graph (threads) from the parent can hang the child.
        # Ctrl-C: the workers ignore it, the parent terminates them (``with``); built videos stay
        pool = None
        try:
            with sigint_deferred():  # the workers start here: a Ctrl-C is held, then raised
                pool = mp.get_context("spawn").Pool(n_workers, initializer=ignore_sigint)
            for res in pool.imap_unordered(_build_one, jobs, chunksize=1):
                results.append(res)
                bar.update()
        finally:
            if pool is not None:
                pool.terminate()  # what ``with Pool`` does; every job is done or abandoned
    bar.close()
    built = [r for r in results if r[2] == "built"]
    cpu = [r[1] for r in built]
    log.info(
        "corpus: %d built, %d skipped, %.1f s wall, %.3f s CPU per built video (mean)",
        len(built),
        len(results) - len(built),
        time.time() - t0,
        float(np.mean(cpu)) if cpu else 0.0,
    )
    cpu_all = []  # CPU seconds recorded when each video was (last) rendered, resumed ones included
    for vid in plan["video_id"]:
        try:
            cpu_all.append(float(json.loads((out / ".parts" / f"{vid}.json").read_text())["cpu_s"]))
        except (OSError, ValueError, KeyError):
            pass
    labels, raw = simulate_ratings(plan, cfg, seed)
    write_csv(out / "degradations.csv", plan)
    write_csv(out / "ratings_raw.csv", raw)
    write_csv(out / "labels.csv", labels)
    write_json(
        out / "corpus.json",
        {
            "seed": int(seed),
            "n_videos": n,
            "corpus_params": cfg,
            "versions": _versions(),
            "note": "Synthetic corpus (tqa.data.corpus); NOT EmotionTalk. Labels are simulated"
            " from known degradations.",
            "build_wall_s": round(time.time() - t0, 2),
            "cpu_s_per_video_mean": round(float(np.mean(cpu_all)), 4) if cpu_all else None,
            "cpu_s_per_video_max": round(float(np.max(cpu_all)), 4) if cpu_all else None,
            "built_now": len(built),
        },
    )
    if reports_dir is not None:
        write_contact_sheet(out, plan, Path(reports_dir) / "figures" / "corpus_contact_sheet.png")
        write_data_card(out, plan, labels, cfg, seed, Path(reports_dir) / "data_card.md")
    return labels


def _versions() -> dict:
    # heavy packages, imported only to record their versions in corpus.json
    import mediapipe  # noqa: PLC0415
    import scipy  # noqa: PLC0415
    import skimage  # noqa: PLC0415

    return {
        "av": av.__version__,
        "ffmpeg_libavcodec": str(av.library_versions.get("libavcodec")),
        "opencv": cv2.__version__,
        "mediapipe": mediapipe.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-image": skimage.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="tqa corpus", description="Build the synthetic sample corpus (NOT EmotionTalk)."
    )
    add_params_arguments(ap)
    ap.add_argument(
        "--out", default=None, help="output folder (default: params corpus.out, data/sample)"
    )
    ap.add_argument(
        "--n", type=int, default=None, help="number of videos (default: corpus.n_videos)"
    )
    ap.add_argument("--seed", type=int, default=None, help="seed (default: params seed)")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default: corpus.workers, 0 = all cores)",
    )
    ap.add_argument(
        "--reports",
        default=None,
        help="where the contact sheet and data card go (default: the repository's reports/; "
        "'' = none)",
    )
    a = ap.parse_args(argv)
    params = params_from_args(a)
    cfg = dict(params["corpus"])
    if a.workers is not None:
        cfg["workers"] = a.workers
    # --out / --reports: relative to the current folder; the defaults: the repository's
    out = cli_path(a.out) or resolve(cfg.get("out") or "data/sample")
    reports = None if a.reports == "" else cli_path(a.reports) or resolve("reports")
    seed = int(a.seed if a.seed is not None else params["seed"])
    build_corpus(out, cfg, seed, n=a.n, reports_dir=reports)
    log.info("corpus written to %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
