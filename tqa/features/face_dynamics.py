"""Clip-level head-pose and expression-dynamics metrics (``tqa metrics`` columns).

Computed from the per-frame output of the ``pose`` extractor
(:func:`tqa.features.extractors.au_pose.pose_dynamics`, float32 (T, 10), NaN rows where no
face), so the model's features and the metric columns read the same numbers:

* :func:`head_pose_std` (deg, higher = livelier head): mean of the yaw and pitch standard
  deviations after a :data:`HEAD_WINDOW` moving mean (0.4 s: turns and nods are slow, Face
  Mesh's frame-to-frame tracking noise is not); 0 for a head that never turns or nods.
* :func:`head_speech_coupling` (Pearson r, higher = head moves with the speech): head
  angular speed against the speech-band envelope (:func:`speech_envelope`), both averaged
  over :data:`HEAD_WINDOW` frames (0.4 s, a word). Speakers move their heads with the
  prosody of their own speech (Yehia et al. 2002; Munhall et al. 2004); a head animated
  from another recording, or frozen, does not. The window was set after looking at the
  5 real recordings and the 3 generated clips of ``../shared/realclips``.
* :func:`expression_speech_coupling` (Pearson r per channel, higher = the expression moves
  with the voice): the pose-free brow height and mouth-corner distance (their *levels*, not
  speeds) against the speech-band envelope, each averaged over :data:`HEAD_WINDOW` frames as
  above. Brows rise and mouth corners widen with prosodic emphasis (Cave et al. 1996, brows
  and F0; Granstrom & House 2005); a face whose expression is animated from other speech
  (the sample corpus's ``expr_mismatch``), or a dub, loses that coupling. The window is
  the head coupling's, reused unchanged (no new choice).
* :func:`expression_motion` (IOD/s, higher = more expressive): mean speed of the mouth
  aperture, mouth width, lid gap and brow height, head pose removed.
* :func:`frozen_expression` (share, lower = better): frames whose four expression speeds
  are all below :data:`FROZEN_SPEED`. A frozen video segment reads ~0.002-0.005 IOD/s once
  Face Mesh's tracking has settled (about 8 frames); the real recordings' fewest-moving
  frames read 0.01-0.07.

How each declared direction was checked on data: ``benchmarks/directions.py``,
``reports/directions.md``.
"""

from __future__ import annotations

import math

import numpy as np

from tqa.features.extractors.au_pose import (
    ANGLE_SPEEDS,
    ANGLES,
    COLUMNS,
    EXPRESSION_SPEEDS,
    expression_signals,
    head_pose,
)
from tqa.features.extractors.sync_correlation import speech_envelope

#: Frames of the moving mean applied to head pose, head speed and speech envelope (0.4 s).
HEAD_WINDOW = 10
#: Columns of :func:`tqa.features.extractors.au_pose.expression_signals` that
#: :func:`expression_speech_coupling` reads: (label, column) of brow height, mouth width.
COUPLED_EXPRESSION: tuple[tuple[str, int], ...] = (("brow", 3), ("smile", 1))
#: IOD/s under which an expression signal counts as not moving (a frozen face).
FROZEN_SPEED = 0.01

_YAW_PITCH = [COLUMNS.index(c) for c in ANGLES[:2]]
_HEAD = [COLUMNS.index(c) for c in ANGLE_SPEEDS]
_EXPR = [COLUMNS.index(c) for c in EXPRESSION_SPEEDS]


def _face_rows(pose: np.ndarray) -> np.ndarray:
    """(N, 10) float64 rows of ``pose`` with a face."""
    p = np.asarray(pose, np.float64)
    return p[np.isfinite(p[:, 0])]


def head_speed(pose: np.ndarray) -> np.ndarray:
    """(T,) head angular speed (deg/s): root sum of squares of the yaw/pitch/roll speeds."""
    return np.sqrt(np.sum(np.asarray(pose, np.float64)[:, _HEAD] ** 2, axis=1))


def head_pose_std(pose: np.ndarray, fps: float, window: int = HEAD_WINDOW) -> float:
    """Mean of the yaw and pitch standard deviations (deg) of their ``window``-frame moving
    means (face frames); NaN under 1 s of face."""
    p = np.asarray(pose, np.float64)
    if np.isfinite(p[:, 0]).sum() < fps:
        return math.nan
    return float(np.mean([np.nanstd(moving_mean(p[:, i], window)) for i in _YAW_PITCH]))


def moving_mean(x: np.ndarray, window: int) -> np.ndarray:
    """(T,) centred moving mean over ``window`` frames of the finite values (NaN: none); a
    clip shorter than the window is averaged over its own length (np.convolve's "same" would
    return the window's length instead)."""
    x = np.asarray(x, np.float64)
    ok = np.isfinite(x)
    k = np.ones(max(1, min(int(window), len(x))))
    num = np.convolve(np.where(ok, x, 0.0), k, mode="same")
    den = np.convolve(ok.astype(float), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok & (den > 0), num / den, np.nan)


def head_speech_coupling(
    pose: np.ndarray, envelope: np.ndarray, fps: float, window: int = HEAD_WINDOW
) -> float:
    """Pearson r of the moving means of head speed and speech envelope (frames with both);
    NaN under 1 s of pairs or when either is constant."""
    return _smoothed_r(head_speed(pose), envelope, fps, window)


def _smoothed_r(x: np.ndarray, envelope: np.ndarray, fps: float, window: int) -> float:
    """Pearson r of the ``window``-frame moving means of ``x`` and ``envelope`` (T,), over
    frames with both; NaN under 1 s of pairs or when either is constant."""
    a, b = moving_mean(x, window), moving_mean(envelope, window)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < fps or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return math.nan
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def expression_speech_coupling(
    lm_px: np.ndarray, envelope: np.ndarray, fps: float, window: int = HEAD_WINDOW
) -> dict[str, float]:
    """Label -> Pearson r of the moving means of a pose-free expression level
    (:data:`COUPLED_EXPRESSION`: brow height, mouth width) and of the speech envelope (T,),
    over frames with both; NaN under 1 s of pairs or when either is constant.

    ``lm_px``: (T, 468, 3) pixel landmarks (NaN rows: no face); head rotation, position and
    size are removed first (:func:`~tqa.features.extractors.au_pose.head_pose`), so a nod
    does not read as a brow raise."""
    _, front = head_pose(lm_px)
    levels = expression_signals(front)
    return {
        label: _smoothed_r(levels[:, col], envelope, fps, window)
        for label, col in COUPLED_EXPRESSION
    }


def expression_motion(pose: np.ndarray) -> float:
    """Mean over face frames of the mean mouth/eye/brow speed (IOD/s); NaN without a face."""
    p = _face_rows(pose)[:, _EXPR]
    p = p[np.isfinite(p).all(axis=1)]
    return float(p.mean()) if len(p) else math.nan


def frozen_expression(pose: np.ndarray, threshold: float = FROZEN_SPEED) -> float:
    """Share of face frames whose mouth, eye and brow speeds are all < ``threshold``."""
    p = _face_rows(pose)[:, _EXPR]
    p = p[np.isfinite(p).all(axis=1)]
    return float(np.mean(p.max(axis=1) < threshold)) if len(p) else math.nan


def face_dynamics_metrics(pose: np.ndarray, fps: float) -> dict[str, float]:
    """``head_pose_std``, ``expression_motion``, ``frozen_expression`` of one clip's pose."""
    return {
        "head_pose_std": head_pose_std(pose, fps),
        "expression_motion": expression_motion(pose),
        "frozen_expression": frozen_expression(pose),
    }


def speech_coupling(pose: np.ndarray, audio: np.ndarray, sample_rate: int, fps: float) -> float:
    """:func:`head_speech_coupling` against the clip's own speech envelope (audio: the
    clip's valid samples; NaN for silent audio)."""
    env = speech_envelope(audio, sample_rate, fps, len(pose))
    return head_speech_coupling(pose, env, fps)
