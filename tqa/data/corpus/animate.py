"""Talking-head renderer: one still identity -> a (T, S, S, 3) frame sequence.

Motion is made of smooth local backward displacement fields (``cv2.remap``), built
ONCE per identity from its MediaPipe landmarks and scaled per frame by drive signals:

* jaw / mouth opening ``mouth[t]`` in [0, 1] (from the speech RMS envelope on the
  video frame grid): everything below the lip line moves down, a dark oral cavity is
  blended into the gap;
* expression ``expr[t]`` in [0, 1]: mouth corners up/outward (smile) and brows up;
* eyelids ``blink[t]`` in [0, 1]: upper-lid skin pulled down over both eyes;
* head pose ``pose[t] = (angle_deg, dx_px, dy_px)``: a small rigid motion (warpAffine).

Drive signals are computed by the functions below in seconds, so any fps works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from tqa.core import scalar_math
from tqa.data.corpus import face as F


@dataclass
class Rig:
    """Per-identity displacement fields (S, S) float32, in px per unit drive."""

    jaw_dy: np.ndarray
    smile_dx: np.ndarray
    smile_dy: np.ndarray
    blink_dy: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    mouth_xy: tuple[float, float]  # lip-line centre (px)
    mouth_w: float  # corner-to-corner width (px)
    jaw_drop: float  # max jaw displacement (px)
    center: tuple[float, float]  # rotation centre (nose, px)


def _sig(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def build_rig(idn: F.Identity) -> Rig:
    """Displacement fields for one identity (landmarks located once, not per frame)."""
    lm = idn.landmarks
    s = idn.size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    g = F._gauss
    face_h = float(lm[F.LM_CHIN, 1] - lm[F.LM_FOREHEAD, 1])
    face_w = float(abs(lm[F.LM_CHEEK_R, 0] - lm[F.LM_CHEEK_L, 0]))
    mx = float((lm[F.LM_MOUTH_LEFT, 0] + lm[F.LM_MOUTH_RIGHT, 0]) / 2)
    my = float((lm[F.LM_UPPER_LIP, 1] + lm[F.LM_LOWER_LIP, 1]) / 2)
    mw = float(abs(lm[F.LM_MOUTH_RIGHT, 0] - lm[F.LM_MOUTH_LEFT, 0]))
    chin_y = float(lm[F.LM_CHIN, 1])
    drop = 0.11 * face_h
    # jaw: below the lip line sample from above (content moves down), fading under the chin
    below = _sig((yy - my) / max(0.012 * face_h, 0.6))
    under_chin = np.exp(-0.5 * (np.maximum(yy - chin_y, 0) / (0.12 * face_h)) ** 2)
    jaw = below * under_chin * g(xx, mx, 0.55 * face_w)
    upper = (1 - below) * g(yy, my, 0.05 * face_h) * g(xx, mx, 0.35 * face_w)
    jaw_dy = (-drop * jaw + 0.15 * drop * upper).astype(np.float32)
    # smile: corners move outward and up
    smile_dx = np.zeros((s, s), np.float32)
    smile_dy = np.zeros((s, s), np.float32)
    for idx in (F.LM_MOUTH_LEFT, F.LM_MOUTH_RIGHT):
        sign = 1.0 if lm[idx, 0] > mx else -1.0  # geometric "outward" (mirrored identities too)
        blob = g(xx, lm[idx, 0], 0.09 * face_w) * g(yy, lm[idx, 1], 0.07 * face_h)
        smile_dx -= sign * 0.035 * face_w * blob
        smile_dy += 0.03 * face_h * blob
    for idx in (F.LM_BROW_L, F.LM_BROW_R):
        blob = g(xx, lm[idx, 0], 0.1 * face_w) * g(yy, lm[idx, 1], 0.05 * face_h)
        smile_dy += 0.035 * face_h * blob
    # blink: inside each eye window sample from above by ~ the eye opening
    blink_dy = np.zeros((s, s), np.float32)
    for top, bot, out, inn in (
        (F.LM_EYE_L_TOP, F.LM_EYE_L_BOT, F.LM_EYE_L_OUT, F.LM_EYE_L_IN),
        (F.LM_EYE_R_TOP, F.LM_EYE_R_BOT, F.LM_EYE_R_OUT, F.LM_EYE_R_IN),
    ):
        ex = float((lm[out, 0] + lm[inn, 0]) / 2)
        ew = float(abs(lm[out, 0] - lm[inn, 0]))
        ty, by = float(lm[top, 1]), float(lm[bot, 1])
        eh = max(by - ty, 1.5)
        lift = 1.3 * eh + 0.5
        soft = max(0.25 * eh, 0.5)
        window = _sig((yy - (ty - lift)) / soft) * _sig((by + 0.2 * eh - yy) / soft)
        blink_dy -= lift * window * g(xx, ex, 0.45 * ew)
    center = (float(lm[F.LM_NOSE, 0]), float(lm[F.LM_NOSE, 1]))
    # fields rounded to 1e-4 px: last-bit differences of exp/tanh between machines vanish
    q = lambda a: np.round(a.astype(np.float64), 4).astype(np.float32)  # noqa: E731
    return Rig(q(jaw_dy), q(smile_dx), q(smile_dy), q(blink_dy), xx, yy, (mx, my), mw, drop, center)


@lru_cache(maxsize=64)
def cached_rig(spec: F.IdentitySpec, size: int) -> tuple[F.Identity, Rig]:
    idn = F.cached_identity(spec, size)
    return idn, build_rig(idn)


def _paint_cavity(frame: np.ndarray, rig: Rig, a: float) -> None:
    """Blend a dark oral cavity (with an upper-teeth band) into the opened mouth, in place."""
    if a <= 0.02:
        return
    mx, my = rig.mouth_xy
    gap = a * rig.jaw_drop
    rx = 0.42 * rig.mouth_w * (1.0 - 0.25 * a)
    ry = 0.5 * gap + 0.3
    cy = my + 0.5 * gap - 0.15 * rig.jaw_drop * 0.15 * a
    x0, x1 = int(max(mx - rx - 2, 0)), int(min(mx + rx + 3, frame.shape[1]))
    y0, y1 = int(max(cy - ry - 2, 0)), int(min(cy + ry + 3, frame.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    r = ((xx - mx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    alpha = np.clip((1.0 - r) * 3.0, 0.0, 1.0)[..., None] * min(1.0, a * 2.5)
    teeth = np.clip(1.0 - (yy - (cy - ry)) / max(0.35 * ry, 0.8), 0.0, 1.0)[..., None]
    colour = teeth * np.array([225, 220, 210], np.float32) + (1 - teeth) * np.array(
        [70, 25, 30], np.float32
    )
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(roi * (1 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)


def render(
    idn: F.Identity,
    rig: Rig,
    mouth: np.ndarray,
    expr: np.ndarray,
    blink: np.ndarray,
    pose: np.ndarray,
) -> np.ndarray:
    """Frames uint8 (T, S, S, 3) RGB from drive signals mouth/expr/blink (T,) and pose (T, 3)."""
    t_len = len(mouth)
    s = idn.size
    out = np.empty((t_len, s, s, 3), np.uint8)
    cx, cy = rig.center
    for t in range(t_len):
        a, e, b = float(mouth[t]), float(expr[t]), float(blink[t])
        map_x = rig.grid_x + e * rig.smile_dx
        map_y = rig.grid_y + a * rig.jaw_dy + e * rig.smile_dy + b * rig.blink_dy
        frame = cv2.remap(idn.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        _paint_cavity(frame, rig, a)
        ang, dx, dy = (float(v) for v in pose[t])
        if ang or dx or dy:
            m = cv2.getRotationMatrix2D((cx, cy), ang, 1.0)
            m[:, 2] += (dx, dy)
            frame = cv2.warpAffine(
                frame, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
        out[t] = frame
    return out


# --- drive signals -------------------------------------------------------------------


def frame_rms(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS of ``audio`` in each video frame's window, float32 (n_frames,)."""
    hop = sample_rate / fps
    out = np.zeros(n_frames, np.float32)
    for t in range(n_frames):
        seg = audio[int(round(t * hop)) : int(round((t + 1) * hop))]
        out[t] = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if len(seg) else 0.0
    return out


def mouth_signal(rms: np.ndarray, fps: float, lag_s: float = 0.0, gain: float = 1.0) -> np.ndarray:
    """Jaw opening in [0, 1] from frame RMS: normalised, compressed (^0.6), optionally sluggish.

    ``lag_s`` > 0 passes it through a first-order low-pass with that time constant
    (seconds): the mouth follows speech late and smeared (a lip-sync defect).
    """
    ref = float(np.percentile(rms, 95)) or 1.0
    # scalar_math, not numpy's SIMD pow: the same aperture bits on every CPU (issue 23)
    m = scalar_math.power(np.clip(rms.astype(np.float64) / ref, 0, 1), 0.6)
    m = np.where(m < 0.08, 0.0, m)
    if lag_s > 0:
        alpha = 1.0 - math.exp(-1.0 / (lag_s * fps))
        y = np.zeros_like(m)
        acc = 0.0
        for t, v in enumerate(m):
            acc += alpha * (v - acc)
            y[t] = acc
        m = y
    return np.clip(gain * m, 0, 1).astype(np.float32)


def prosody_signal(rms: np.ndarray, fps: float, window_s: float = 0.6) -> np.ndarray:
    """Slow speech-energy contour in [0, 1] (moving average of RMS over ``window_s``)."""
    k = max(int(round(window_s * fps)), 1)
    sm = np.convolve(rms, np.ones(k) / k, mode="same")
    ref = float(sm.max()) or 1.0
    return (sm / ref).astype(np.float32)


def blink_signal(
    n_frames: int, fps: float, rng: np.random.Generator, rate_hz: float = 0.3, dur_s: float = 0.2
) -> np.ndarray:
    """Eyelid closure in [0, 1]: Poisson blinks (``rate_hz``), triangular, ``dur_s`` long."""
    out = np.zeros(n_frames, np.float32)
    if rate_hz <= 0:
        return out
    t = rng.exponential(1.0 / rate_hz) * 0.5
    half = max(dur_s * fps / 2, 1.0)
    dur = n_frames / fps
    while t < dur:
        c = t * fps
        idx = np.arange(max(int(c - half) - 1, 0), min(int(c + half) + 2, n_frames))
        out[idx] = np.maximum(out[idx], np.clip(1 - np.abs(idx - c) / half, 0, 1))
        t += max(rng.exponential(1.0 / rate_hz), 2 * dur_s)
    return out


def head_pose(
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    angle_deg: float = 2.0,
    shift_px: float = 2.0,
) -> np.ndarray:
    """Smooth small head motion (T, 3): angle (deg), dx, dy (px); sums of slow sinusoids."""
    t = np.arange(n_frames) / fps
    out = np.zeros((n_frames, 3), np.float32)
    for j, amp in enumerate((angle_deg, shift_px, shift_px)):
        f = rng.uniform(0.1, 0.6, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        w = rng.uniform(0.5, 1.0, 3)
        phase = 2 * np.pi * f[:, None] * t[None] + ph[:, None]
        sig = (w[:, None] * scalar_math.sin(phase)).sum(0) / w.sum()
        out[:, j] = amp * sig
    return out
