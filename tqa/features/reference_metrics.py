"""Full-reference metrics of a generated clip against its ground-truth recording.

When a generator re-renders a recording that exists (self-reenactment: the test split of
HDTF or VoxCeleb, the speaker's own audio driving the speaker's own portrait), talking-head
papers compare each generated frame with the real one: PSNR, SSIM (Wang et al. 2004) and the
mouth landmark distance LMD (Chen et al. 2018, "Lip movements generation at a glance").
``tqa metrics GEN_DIR --ground-truth GT_DIR`` adds these columns
(:data:`REFERENCE_METRICS`), pairing each video with the ground-truth video of the same name
(:func:`tqa.serve.metrics_paired.pair_key`). Both clips are decoded on the same grid (25 fps,
longest side <= ``features.max_side``, 256 px), from the same start, frame by frame: the
figures are those of the grid, not of the files' full resolution (PSNR at 256 px is not
PSNR at 1080 px), and a generated clip shifted in time by a frame reads as a worse one.

* ``psnr``: per frame 10 log10(255^2 / MSE) over the RGB pixels, capped at
  :data:`PSNR_CAP` dB (an identical frame has no finite PSNR), averaged over the frames;
* ``ssim``: per frame SSIM of the BT.601 luma (0-255) with Wang et al.'s Gaussian window
  (sigma 1.5, K1 0.01, K2 0.03; ``skimage.metrics.structural_similarity``), averaged;
* ``lmd``: per frame the mean distance between the 40 lip points of Face Mesh
  (:data:`LIP_POINTS`, mediapipe's ``FACEMESH_LIPS``) of the two faces, each face's lip
  centroid removed (the mouth's shape, not where the head is), over the ground truth's
  inter-ocular distance, in % of it; averaged over the frames where both faces are found.
  tqa's variant: Chen et al. use dlib's 20 mouth points in pixels, so the numbers are not
  those of papers that report LMD.

When the frames' sizes differ, the generated frames are resized to the ground truth's (the
aspect ratio must agree to 1 %, else the pixel columns are NaN and the note says why); the
clips are compared over the frames both hold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from tqa.features.extractors.landmarks_mediapipe import EYE_OUTER_L, EYE_OUTER_R
from tqa.features.extractors.visual_cadence import luma
from tqa.features.video_metrics import METRICS, Metric

#: Per-frame PSNR cap (dB): identical frames.
PSNR_CAP = 100.0
#: mediapipe ``FACEMESH_LIPS``: the 40 outer and inner lip points of Face Mesh.
LIP_POINTS: tuple[int, ...] = (
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
    267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
)  # fmt: skip
#: Largest relative difference of the two clips' aspect ratios that is still compared.
ASPECT_TOLERANCE = 0.01

#: Column -> definition (``tqa metrics --ground-truth``), in table order.
REFERENCE_METRICS: dict[str, Metric] = {
    "psnr": Metric("dB", "higher", "PSNR of the RGB frames against the ground truth (grid)"),
    "ssim": Metric("1", "higher", "SSIM of the luma against the ground truth (Wang 2004)"),
    "lmd": Metric("% IOD", "lower", "lip landmark distance to the ground truth, centroids removed"),
}


def frame_psnr(a: np.ndarray, b: np.ndarray, cap: float = PSNR_CAP) -> np.ndarray:
    """(T,) PSNR (dB) of uint8 frames ``a`` against ``b`` (T, H, W, 3), capped at ``cap``."""
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = (d * d).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        p = 10.0 * np.log10(255.0**2 / mse)
    return np.minimum(p, cap)


def frame_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) SSIM of the luma of uint8 RGB frames ``a`` against ``b`` (T, H, W, 3), Wang et
    al.'s Gaussian-window variant (module docstring)."""
    ya, yb = luma(a).astype(np.float64), luma(b).astype(np.float64)
    return np.array(
        [
            structural_similarity(
                x,
                y,
                data_range=255.0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for x, y in zip(ya, yb)
        ]
    )


def lip_distance(lm: np.ndarray, lm_ref: np.ndarray) -> np.ndarray:
    """(T,) mean distance (% of the reference's inter-ocular distance) between the lip points
    of landmarks ``lm`` and ``lm_ref`` (T, 468, >=2; NaN rows: no face), each set's lip
    centroid removed; NaN where either face is missing."""
    ref = np.asarray(lm_ref, np.float64)
    a = np.asarray(lm, np.float64)[:, list(LIP_POINTS), :2]
    b = ref[:, list(LIP_POINTS), :2]
    iod = np.linalg.norm(ref[:, EYE_OUTER_R, :2] - ref[:, EYE_OUTER_L, :2], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
        d = np.linalg.norm(a - b, axis=2).mean(axis=1)
        return np.where(iod > 0, 100.0 * d / iod, np.nan)


def _mean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    return float(x[np.isfinite(x)].mean()) if np.isfinite(x).any() else math.nan


def reference_metrics(
    frames: np.ndarray, lm: np.ndarray, ref_frames: np.ndarray, ref_lm: np.ndarray
) -> tuple[dict[str, float], list[str]]:
    """(:data:`REFERENCE_METRICS` values, notes) of a clip's valid frames (T, H, W, 3) and
    pixel landmarks (T, 468, 3) against the ground truth's (T', H', W', 3), (T', 468, 3),
    over the first min(T, T') frames."""
    n = min(len(frames), len(ref_frames))
    out = dict.fromkeys(REFERENCE_METRICS, math.nan)
    notes: list[str] = []
    if n == 0:
        return out, ["no frame to compare with the ground truth"]
    if len(frames) != len(ref_frames):
        notes.append(
            f"{len(frames)} frames against the ground truth's {len(ref_frames)}: compared "
            f"over the first {n}"
        )
    out["lmd"] = _mean(lip_distance(lm[:n], ref_lm[:n]))
    gen, ref = frames[:n], ref_frames[:n]
    (h, w), (rh, rw) = gen.shape[1:3], ref.shape[1:3]
    if (h, w) != (rh, rw):
        if abs((w / h) / (rw / rh) - 1.0) > ASPECT_TOLERANCE:
            notes.append(f"frames {w}x{h} against the ground truth's {rw}x{rh}: no PSNR / SSIM")
            return out, notes
        gen = np.stack([cv2.resize(f, (rw, rh), interpolation=cv2.INTER_AREA) for f in gen])
        notes.append(f"frames {w}x{h} resized to the ground truth's {rw}x{rh}")
    out["psnr"] = _mean(frame_psnr(gen, ref))
    out["ssim"] = _mean(frame_ssim(gen, ref))
    return out, notes


def metric_columns(columns: Iterable[str]) -> dict[str, Metric]:
    """The metric definitions of a ``tqa metrics`` table with ``columns``: every
    :data:`~tqa.features.video_metrics.METRICS` column, then the :data:`REFERENCE_METRICS`
    columns it holds (a run with ``--ground-truth``)."""
    present = set(columns)
    return METRICS | {m: d for m, d in REFERENCE_METRICS.items() if m in present}
