"""How many faces the picture holds: a side-by-side comparison is not one talking face.

Researchers compare generators in one file (ground truth | method A | method B, or a 2 x 2
grid). Face Mesh in tracking mode (:mod:`tqa.features.extractors.landmarks_mediapipe`,
``max_num_faces=1``) then follows one of the faces, whichever it found first, and every face
and sync reading is of that face: on such a file ``tqa score`` printed confident scores
(a 2-face file: sync offset +13 frames, status ok). :func:`count_faces` runs Face Mesh in
still-image mode (its own face detector on every image, Kartynnik et al. 2019) on
:data:`SAMPLES` frames spread evenly over the clip, with room for :data:`MAX_FACES` faces,
and returns the median count: a face found on one frame only (a poster, a detector's slip)
does not count, a face in every sampled frame does.

What it cannot see: a small face (Face Mesh's short-range detector: an inset a fifth of
the frame wide, 53 px at the 256 px decoding size, reads 1) and a second face present on
under half of the sampled frames. :data:`SAMPLES` and :data:`MAX_FACES` were set before
any measurement (5 frames: 0.02-0.05 s per clip at 256 px; 4 faces: a 2 x 2 grid), not
tuned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tqa.core.facemesh import face_mesh, quiet_native_stderr

#: Frames sampled (evenly over the clip) and the most faces counted on one of them.
SAMPLES = 5
MAX_FACES = 4

_STILL_MESH: Any = None  # one per process, built on first use


def _still_mesh() -> Any:
    """This process's still-image Face Mesh (a second graph beside the tracking one)."""
    global _STILL_MESH
    if _STILL_MESH is None:
        _STILL_MESH = face_mesh(
            static_image_mode=True,
            max_num_faces=MAX_FACES,
            refine_landmarks=False,
            min_detection_confidence=0.5,
        )
    return _STILL_MESH


def sample_indices(n_frames: int, samples: int = SAMPLES) -> np.ndarray:
    """(k,) int indices of up to ``samples`` frames spread evenly over ``n_frames`` (first and
    last included; fewer when the clip has fewer frames)."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, n_frames - 1, min(samples, n_frames)).round().astype(np.int64))


def faces_per_frame(frames: np.ndarray, samples: int = SAMPLES) -> list[int]:
    """Faces Face Mesh finds on each sampled frame of uint8 RGB ``frames`` (T, H, W, 3)."""
    mesh = _still_mesh()
    counts = []
    with quiet_native_stderr():
        for i in sample_indices(len(frames), samples):
            res = mesh.process(np.ascontiguousarray(frames[i]))
            counts.append(len(res.multi_face_landmarks or []))
    return counts


def count_faces(frames: np.ndarray, samples: int = SAMPLES) -> int | None:
    """Median number of faces over the sampled frames of ``frames`` (T, H, W, 3) uint8 RGB
    (rounded down); None for a clip without frames."""
    counts = faces_per_frame(frames, samples)
    return int(np.floor(np.median(counts))) if counts else None
