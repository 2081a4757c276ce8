"""Head pose (yaw / pitch / roll) and pose-free expression dynamics from Face Mesh landmarks.

Weight-free ``au`` extractor ``pose`` (stack it: ``features.au: geometry+pose``). Reads
``context["landmarks_px"]`` (float32 (T, 468, 3) pixel landmarks, NaN rows where no face;
MediaPipe's z is in x's pixel scale) and returns float32 (T, 10), NaN rows where no face:

* ``au__pose_yaw``, ``_pitch``, ``_roll`` (deg): head rotation from the frontal reference;
* ``au__pose_yaw_speed``, ``_pitch_speed``, ``_roll_speed`` (deg/s): |d angle / dt|;
* ``au__pose_mouth_open_speed`` (IOD/s): |d/dt| of the inner-lip aperture (7 lip pairs);
* ``au__pose_mouth_width_speed`` (IOD/s): |d/dt| of the mouth-corner distance (61-291);
* ``au__pose_eye_speed`` (IOD/s): |d/dt| of the lid gap (the 4 vertical lid distances of
  the eye aspect ratio, Soukupova & Cech 2016);
* ``au__pose_brow_speed`` (IOD/s): |d/dt| of the brow height above the eye line.

**Pose.** Per frame, the least-squares similarity transform (scale s, rotation R,
translation t; Umeyama 1991, the scaled form of Kabsch 1976) maps the frontal reference's
:data:`STABLE` points (eye corners, nose bridge and tip, nose wings, forehead, temples and
face edge at eye level) onto the frame's 3-D landmarks. Chin and jaw are left out: they move
with speech, and a pitch that follows the jaw would fake speech-coupled head motion.
``R = Rz(roll) Ry(yaw) Rx(pitch)`` in camera axes (x right, y down, z away from the camera;
scipy's intrinsic ``"ZYX"``): yaw > 0 turns the nose towards the image's left, pitch > 0
tilts it down, roll > 0 turns the face clockwise on screen.

**Frontal reference.** mediapipe 0.10.14's wheel ships neither ``canonical_face_model.obj``
nor the metric landmark table, and nothing is downloaded, so the reference is derived at
first use from the two real frontal portraits of the committed corpus table
(``tqa/data/corpus/landmarks.json``, ``sources``): each scaled to inter-ocular distance 1,
the second aligned onto the first, averaged, then made mirror-symmetric (averaged with its
aligned mirror image, left/right pairs swapped). Its axes: x = the left -> right direction
of the mirror pairs (so yaw = roll = 0 is exactly symmetric), y = the image's vertical
made orthogonal to x, so pitch 0 is the portraits' own pitch (a camera at eye level). The
reference's digest is in :meth:`PoseAU.options` (it keys the cache).

**Expression with the pose removed.** Every landmark is mapped back into the reference
frame, ``(p - t) R / s``: units of the reference's inter-ocular distance (IOD, ~ the face's
own), head rotation, position and size gone. Speeds are the mean of the backward and the
forward |difference| times fps (one side at the clip's or a face gap's edge), so a frozen
face reads exactly 0. Cost: a few ms per 150-frame clip (3 x 3 SVDs).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tqa.features.extractors.base import Clip, ColumnExtractor, landmarks_from, register
from tqa.features.extractors.sync_correlation import INNER_LIP_PAIRS

#: The committed Face Mesh table of the corpus's source portraits (tqa.data.corpus.face).
REFERENCE_TABLE = Path(__file__).resolve().parents[2] / "data" / "corpus" / "landmarks.json"
#: Mirror pairs (image-left, image-right) and midline points of the rigid upper face.
STABLE_PAIRS: tuple[tuple[int, int], ...] = (
    (33, 263), (133, 362), (129, 358), (98, 327), (109, 338), (67, 297), (103, 332),
    (54, 284), (234, 454), (127, 356), (162, 389), (21, 251),
)  # fmt: skip
STABLE_MIDLINE: tuple[int, ...] = (168, 6, 197, 195, 5, 4, 1, 10, 151, 9)
STABLE: tuple[int, ...] = (*(a for a, _ in STABLE_PAIRS), *(b for _, b in STABLE_PAIRS),
                           *STABLE_MIDLINE)  # fmt: skip
#: Eye contours of the eye aspect ratio (corner, upper, upper, corner, lower, lower).
EYE_LEFT = (33, 160, 158, 133, 153, 144)
EYE_RIGHT = (362, 385, 387, 263, 373, 380)
#: Mouth corners, brows (outer, middle, inner on each side) and the eye-line points.
MOUTH_CORNERS = (61, 291)
BROWS = (70, 105, 107, 300, 334, 336)
EYE_LINE = (33, 133, 362, 263)
#: Output column labels, in order (``au__pose_<label>``).
COLUMNS: tuple[str, ...] = (
    "yaw", "pitch", "roll", "yaw_speed", "pitch_speed", "roll_speed",
    "mouth_open_speed", "mouth_width_speed", "eye_speed", "brow_speed",
)  # fmt: skip
ANGLES, ANGLE_SPEEDS, EXPRESSION_SPEEDS = COLUMNS[:3], COLUMNS[3:6], COLUMNS[6:]


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s R src + t`` (Umeyama 1991) for every frame.

    src: (K, 3) shape; dst: (T, K, 3) finite. Returns s (T,), R (T, 3, 3) proper rotations,
    t (T, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(1)
    xs, xd = src - mu_s, dst - mu_d[:, None]
    cov = np.einsum("tki,kj->tij", xd, xs) / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    fix = np.stack([np.ones_like(d), np.ones_like(d), d], axis=1)
    rot = np.einsum("tij,tj,tjk->tik", u, fix, vt)
    scale = (sig * fix).sum(1) / (xs**2).sum(1).mean()
    return scale, rot, mu_d - scale[:, None] * np.einsum("tij,j->ti", rot, mu_s)


def euler_zyx(rot: np.ndarray) -> np.ndarray:
    """(T, 3) yaw, pitch, roll in degrees of ``R = Rz(roll) Ry(yaw) Rx(pitch)`` (T, 3, 3)."""
    yaw = np.arcsin(np.clip(-rot[:, 2, 0], -1.0, 1.0))
    pitch = np.arctan2(rot[:, 2, 1], rot[:, 2, 2])
    roll = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], axis=1))


def _mirror(shape: np.ndarray) -> np.ndarray:
    """(K, 3) STABLE-ordered shape reflected in x with left/right pairs swapped."""
    n = len(STABLE_PAIRS)
    order = [*range(n, 2 * n), *range(n), *range(2 * n, len(STABLE))]
    out = shape[order].copy()
    out[:, 0] *= -1
    return out


def _aligned(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    s, r, t = umeyama(src, dst[None])
    return s[0] * src @ r[0].T + t[0]


@lru_cache(maxsize=1)
def reference_shape() -> np.ndarray:
    """float64 (len(STABLE), 3) frontal, mirror-symmetric reference, IOD 1, centroid 0,
    derived from the corpus's two source portraits (see the module docstring)."""
    sources = json.loads(REFERENCE_TABLE.read_text(encoding="utf-8"))["sources"]
    shapes = []
    for name in sorted(sources):
        p = np.asarray(sources[name], np.float64)
        shapes.append(p[list(STABLE)] / np.linalg.norm(p[263] - p[33]))
    mean = np.mean([_aligned(s, shapes[0]) for s in shapes], axis=0)
    sym = (mean + _aligned(_mirror(mean), mean)) / 2
    n = len(STABLE_PAIRS)
    x = (sym[n : 2 * n] - sym[:n]).mean(0)
    x /= np.linalg.norm(x)
    y = np.array([0.0, 1.0, 0.0]) - x[1] * x
    y /= np.linalg.norm(y)
    axes = np.stack([x, y, np.cross(x, y)], axis=1)
    out = (sym - sym.mean(0)) @ axes
    return out / np.linalg.norm(out[STABLE.index(263)] - out[STABLE.index(33)])


def reference_digest() -> str:
    """Short digest of the reference shape (rounded), for the cache key."""
    ref = np.round(reference_shape(), 6).astype("<f8")
    return hashlib.blake2b(ref.tobytes(), digest_size=8).hexdigest()


def head_pose(lm_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose of (T, 468, 3) pixel landmarks: (angles (T, 3) deg yaw/pitch/roll, frontalised
    landmarks (T, 468, 3) in reference IOD units); NaN rows where no face."""
    lm = np.asarray(lm_px, np.float64)
    angles = np.full((len(lm), 3), np.nan)
    front = np.full(lm.shape, np.nan)
    ok = np.isfinite(lm[:, list(STABLE)]).all(axis=(1, 2))
    if ok.any():
        s, rot, t = umeyama(reference_shape(), lm[ok][:, list(STABLE)])
        angles[ok] = euler_zyx(rot)
        front[ok] = np.einsum("tki,tij->tkj", lm[ok] - t[:, None], rot) / s[:, None, None]
    return angles, front


def speed(x: np.ndarray, fps: float) -> np.ndarray:
    """|dx/dt| per frame of (T, ...) values: mean of the backward and forward |differences|
    times fps (one side at an edge or beside a NaN frame; NaN with no finite neighbour)."""
    d = np.abs(np.diff(np.asarray(x, np.float64), axis=0)) * fps
    pad = np.full((1, *d.shape[1:]), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # both sides NaN -> NaN
        return np.nanmean(np.stack([np.concatenate([pad, d]), np.concatenate([d, pad])]), 0)


def _gap(f: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """(T,) mean in-plane distance of landmark pairs of frontalised landmarks."""
    return np.mean([np.linalg.norm(f[:, a, :2] - f[:, b, :2], axis=1) for a, b in pairs], 0)


def expression_signals(front: np.ndarray) -> np.ndarray:
    """(T, 4) mouth aperture, mouth width, lid gap, brow height (reference IOD units) of
    frontalised landmarks (y grows downwards)."""
    lids = [(e[1], e[5]) for e in (EYE_LEFT, EYE_RIGHT)] + [
        (e[2], e[4]) for e in (EYE_LEFT, EYE_RIGHT)
    ]
    brow = front[:, list(EYE_LINE), 1].mean(1) - front[:, list(BROWS), 1].mean(1)
    return np.stack(
        [_gap(front, list(INNER_LIP_PAIRS)), _gap(front, [MOUTH_CORNERS]), _gap(front, lids), brow],
        axis=1,
    )


def pose_dynamics(lm_px: np.ndarray, fps: float) -> np.ndarray:
    """float32 (T, 10) :data:`COLUMNS` of (T, 468, 3) pixel landmarks; NaN rows where no face."""
    angles, front = head_pose(lm_px)
    out = np.concatenate(
        [angles, speed(angles, fps), speed(expression_signals(front), fps)], axis=1
    )
    out[~np.isfinite(angles[:, 0])] = np.nan
    return out.astype(np.float32)


@register
class PoseAU(ColumnExtractor):
    """Head yaw/pitch/roll, their speeds and pose-free mouth/eye/brow speeds (landmarks); its
    options name the reference shape's digest, so a new reference is a new cache key."""

    name, modality, version = "pose", "au", "1"
    columns, column_name = COLUMNS, "au__pose_{}"

    def options(self) -> dict[str, Any]:
        return {"reference": reference_digest()}

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm = landmarks_from(clip, context, "pose needs", " (features.landmarks: mediapipe first)")
        return pose_dynamics(np.asarray(lm), clip.fps)
