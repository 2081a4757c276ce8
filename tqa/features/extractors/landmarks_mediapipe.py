"""MediaPipe Face Mesh landmarks: 468 x 3 = 1404-d per frame (chapter 3.1.1 (3)).

Face Mesh (Kartynnik et al. 2019, ``mediapipe==0.10.14``, models inside the wheel, fully
offline) runs in *tracking* mode (``static_image_mode=False``) across the frames of one
clip; the graph is :meth:`reset` between clips so that tracking never leaks from one
video into the next. One FaceMesh instance per process (built lazily, reused).

Output columns ``landmarks__mp{i}_{x|y|z}``; NaN rows for frames without a detected face.
With ``features.normalize_landmarks: true`` each frame's shape is similarity-normalised
(Procrustes-style, without a template): translation removed (centroid of the 468 points at
0), in-plane rotation removed (the line between the outer eye corners 33 and 263 made
horizontal), scale removed (RMS distance to the centroid in the image plane = 1). ``z`` is
rotated with nothing and scaled by the same factor. Otherwise raw pixel coordinates
(x, y in pixels of the decoded frame; z in MediaPipe's units times the frame width).

Context keys written for later extractors (``RUN_ORDER``: landmarks run first):

* ``landmarks_px``: float32 (T, 468, 3) raw pixel coordinates, NaN where no face.
* ``face_box``: float32 (T, 4) x0, y0, x1, y1 in pixels (landmark bounding box), NaN where no face.
* ``face_detected``: bool (T,).
* ``mouth_open``: float32 (T,) outer-lip height (points 0-17: upper-lip top to lower-lip
  bottom, i.e. lip thickness + opening) divided by face height (points 10-152), NaN where
  no face. The outer contour is tracked more reliably than the inner lip points (13-14),
  which Face Mesh often keeps closed on rendered or low-resolution mouths; the lip
  thickness is nearly constant, so the variation is the opening.
* ``n_faces``: how many faces the picture holds (:func:`tqa.features.face_count.count_faces`
  on the clip's decoded frames; None without any): tracking follows one face, so a
  side-by-side comparison's scores would be of one face, unnamed. The pipeline keeps it in
  the cache file's meta and ``tqa score``'s partial rule reads it.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from tqa.core.facemesh import face_mesh, quiet_native_stderr
from tqa.features.extractors.base import Clip, Extractor, register, valid_frames
from tqa.features.face_count import count_faces

log = logging.getLogger(__name__)

N_POINTS = 468
#: Face Mesh indices used across tqa (image-left/right as seen in the frame).
EYE_OUTER_L, EYE_OUTER_R = 33, 263
LIP_INNER_UP, LIP_INNER_LOW = 13, 14
LIP_OUTER_UP, LIP_OUTER_LOW = 0, 17
FOREHEAD, CHIN = 10, 152

_FACE_MESH = None  # one per process


def _face_mesh():
    global _FACE_MESH
    if _FACE_MESH is None:
        _FACE_MESH = face_mesh(
            static_image_mode=False,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )
    return _FACE_MESH


def detect_landmarks(frames: np.ndarray) -> np.ndarray:
    """Raw pixel landmarks float32 (T, 468, 3) of uint8 RGB frames (T, H, W, 3); NaN rows: no
    face."""
    fm = _face_mesh()
    fm.reset()  # tracking state must not leak across clips
    t, h, w = frames.shape[:3]
    out = np.full((t, N_POINTS, 3), np.nan, np.float32)
    scale = np.array([w, h, w], np.float32)
    with quiet_native_stderr():  # MediaPipe logs a line each time tracking restarts
        for i in range(t):
            res = fm.process(np.ascontiguousarray(frames[i]))
            if res.multi_face_landmarks:
                lm = res.multi_face_landmarks[0].landmark
                out[i] = (
                    np.fromiter(
                        (c for p in lm for c in (p.x, p.y, p.z)), np.float32, N_POINTS * 3
                    ).reshape(N_POINTS, 3)
                    * scale
                )
        fm.reset()
    return out


def normalize_shape(pts: np.ndarray) -> np.ndarray:
    """Similarity-normalise (T, 468, 3) landmarks: centroid 0, eye line horizontal, RMS radius 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (no face) stay NaN
        c = np.nanmean(pts, axis=1, keepdims=True)
    x = pts - c
    d = x[:, EYE_OUTER_R, :2] - x[:, EYE_OUTER_L, :2]
    ang = np.arctan2(d[:, 1], d[:, 0])
    cos, sin = np.cos(-ang)[:, None], np.sin(-ang)[:, None]
    xr = cos * x[..., 0] - sin * x[..., 1]
    yr = sin * x[..., 0] + cos * x[..., 1]
    s = np.sqrt(np.mean(xr**2 + yr**2, axis=1))[:, None]
    s = np.where(s > 0, s, np.nan)
    return np.stack([xr / s, yr / s, x[..., 2] / s], axis=-1).astype(np.float32)


def landmark_context(lm_px: np.ndarray) -> dict[str, Any]:
    """The context entries derived from raw pixel landmarks (see the module docstring)."""
    detected = ~np.isnan(lm_px[:, 0, 0])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        box = (
            np.concatenate(
                [np.nanmin(lm_px[..., :2], axis=1), np.nanmax(lm_px[..., :2], axis=1)], axis=1
            )
            if detected.any()
            else np.full((len(lm_px), 4), np.nan)
        )
        gap = np.linalg.norm(lm_px[:, LIP_OUTER_UP, :2] - lm_px[:, LIP_OUTER_LOW, :2], axis=1)
        height = np.linalg.norm(lm_px[:, FOREHEAD, :2] - lm_px[:, CHIN, :2], axis=1)
        mouth = gap / np.where(height > 0, height, np.nan)
    box = np.where(detected[:, None], box, np.nan)
    return {
        "landmarks_px": lm_px,
        "face_box": box.astype(np.float32),
        "face_detected": detected,
        "mouth_open": mouth.astype(np.float32),
    }


@register
class MediaPipeLandmarks(Extractor):
    """468 Face Mesh points x (x, y, z) per frame; fills the landmark context."""

    name = "mediapipe"
    modality = "landmarks"
    dim = N_POINTS * 3

    def feature_names(self) -> list[str]:
        return [f"landmarks__mp{i}_{a}" for i in range(N_POINTS) for a in "xyz"]

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        lm_px = detect_landmarks(clip.frames)
        context.update(landmark_context(lm_px))
        context["n_faces"] = count_faces(clip.frames[valid_frames(clip)])
        pts = normalize_shape(lm_px) if self.params.get("normalize_landmarks", True) else lm_px
        return pts.reshape(len(pts), -1).astype(np.float32)

    def options(self) -> dict[str, Any]:
        return {"normalized": bool(self.params.get("normalize_landmarks", True))}
