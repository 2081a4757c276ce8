"""BRISQUE from the ``brisque`` wheel: an image quality SVR trained on LIVE human ratings.

``brisque==0.2.0`` (Apache-2.0, R. Guha, doi:10.5281/zenodo.11104461) implements BRISQUE
(Mittal, Moorthy & Bovik, "No-Reference Image Quality Assessment in the Spatial Domain",
IEEE TIP 21(12), 2012) and ships an epsilon-SVR (libsvm) whose header matches the original
UT Austin LIVE release (``allmodel``), trained on the LIVE IQA database's human (D)MOS.
Score about 0-100, **higher = worse**; not clamped.

The library's own methods compute the 36-d MSCN feature vector (18 per scale, full and half
resolution: GGD [alpha, sigma2] of the MSCN coefficients and AGGD [alpha, mean, sl2, sr2] of
the H, V, D1, D2 pairwise products) and the SVR prediction; :func:`brisque_score` calls them
and equals ``brisque.BRISQUE(url=False).score`` exactly (tested), minus one unused MSCN pass.
``url=True`` (a download) is never used. Scores depend on the image size scored: callers
score at fixed sizes (:mod:`tqa.features.extractors.visual_brisque`).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import skimage.color


@functools.lru_cache(maxsize=1)
def _brisque():
    """The library's BRISQUE object (loads the LIVE-trained SVR from the wheel once)."""
    # local: brisque imports requests, libsvm and skimage.io (~1 s); only loaded when scoring
    from brisque import BRISQUE  # noqa: PLC0415

    return BRISQUE(url=False)


def _gray(image_rgb: np.ndarray) -> np.ndarray:
    """skimage ``rgb2gray`` of RGB(A) uint8 -> float64 in [0, 1], as ``BRISQUE.score`` does."""
    img = np.asarray(image_rgb)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {img.shape}")
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if img.dtype != np.uint8:
        raise ValueError(
            f"expected uint8 RGB, got {img.dtype} (float input would be read as [0, 1])"
        )
    return skimage.color.rgb2gray(img)


def brisque_features(image_rgb: np.ndarray) -> np.ndarray:
    """The 36-d BRISQUE feature vector (float64) of an (H, W, 3) uint8 RGB image, via the library.

    Layout (per scale, full then half resolution by ``cv2.resize(..., INTER_CUBIC)``): MSCN
    [alpha, variance] of a generalised Gaussian fit, then for the horizontal, vertical, main-
    and secondary-diagonal pairwise products of MSCN coefficients [alpha, mean, left variance,
    right variance] of an asymmetric GG fit: 2 + 4 x 4 = 18 per scale.  MSCN: 7x7 Gaussian
    window, sigma 7/6, C = 1/255 on the [0, 1] grey image.
    """
    b = _brisque()
    gray = _gray(image_rgb)
    f1 = b.calculate_brisque_features(gray, kernel_size=7, sigma=7 / 6)
    half = cv2.resize(gray, None, fx=1 / 2, fy=1 / 2, interpolation=cv2.INTER_CUBIC)
    f2 = b.calculate_brisque_features(half, kernel_size=7, sigma=7 / 6)
    return np.array([float(np.asarray(v).reshape(-1)[0]) for v in (*f1, *f2)], dtype=np.float64)


def brisque_from_features(features: np.ndarray) -> float:
    """SVR quality score of a 36-d feature vector (library's ``calculate_image_quality_score``)."""
    return float(_brisque().calculate_image_quality_score(np.asarray(features, dtype=np.float64)))


def brisque_score(image_rgb: np.ndarray) -> float:
    """BRISQUE score of an (H, W, 3) uint8 RGB image; about 0-100, **higher = worse**.

    Equal to ``brisque.BRISQUE(url=False).score(image_rgb)`` (same library code, minus one
    unused MSCN pass).  The image is scored at the size given: resize before calling.
    """
    return brisque_from_features(brisque_features(image_rgb))


def _resize_long(img: np.ndarray, long_side: int) -> np.ndarray:
    """Downscale (area) so max(H, W) == long_side; smaller images are left as they are."""
    h, w = img.shape[:2]
    if max(h, w) <= long_side:
        return img
    s = long_side / max(h, w)
    return cv2.resize(
        img, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA
    )


def face_crop(
    frame: np.ndarray, box: np.ndarray, size: int = 112, margin: float = 0.0
) -> np.ndarray | None:
    """Square crop around ``box`` = (x0, y0, x1, y1) px, side max(w, h) * (1 + margin), clipped
    to the frame, resized (area; cubic if enlarging) to ``size`` x ``size``; None if degenerate."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not np.isfinite([x0, y0, x1, y1]).all():
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * (1 + margin) / 2
    H, W = frame.shape[:2]
    a0, b0 = int(max(0, round(cx - half))), int(max(0, round(cy - half)))
    a1, b1 = int(min(W, round(cx + half))), int(min(H, round(cy + half)))
    if a1 - a0 < 16 or b1 - b0 < 16:
        return None
    crop = frame[b0:b1, a0:a1]
    interp = cv2.INTER_AREA if max(crop.shape[:2]) >= size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def brisque_frames(
    frames: np.ndarray,
    boxes: np.ndarray | None = None,
    every: int = 25,
    face_size: int = 96,
    full_size: int = 160,
    margin: float = 0.0,
) -> np.ndarray:
    """Per-frame BRISQUE, (T, 2) float64 columns [face, full]; higher = worse.

    ``frames`` (T, H, W, 3) uint8 RGB; ``boxes`` (T, 4) face boxes (x0, y0, x1, y1) in pixels of
    those frames, NaN rows where no face (or None: no face column).  Frames are sampled every
    ``every`` frames (0, every, 2 every, ...); each sample's value is held for the following
    frames up to the next sample (zero-order hold).  *full*: the frame downscaled (area) so its
    long side is ``full_size`` (not enlarged).  *face*: within each hold span, the first frame
    that has a box is cropped (:func:`face_crop`, square, resized to ``face_size``) and scored;
    the value is held on the span's frames that have a box and is NaN on frames without one
    (and on the whole span when no frame in it has a box).
    Defaults (every 25, 96 px face, 160 px full) cost ~2 x 6 BRISQUE calls per 150-frame clip.
    """
    frames = np.asarray(frames)
    T = frames.shape[0]
    out = np.full((T, 2), np.nan)
    has_box = np.zeros(T, bool)
    if boxes is not None:
        boxes = np.asarray(boxes, dtype=np.float64)
        has_box = np.isfinite(boxes).all(axis=1)
    for k in range(0, T, every):
        span = slice(k, min(T, k + every))
        out[span, 1] = brisque_score(_resize_long(frames[k], full_size))
        if boxes is None:
            continue
        idx = np.flatnonzero(has_box[span]) + k
        for j in idx:  # first frame in the span whose crop is usable
            crop = face_crop(frames[j], boxes[j], face_size, margin)
            if crop is not None:
                v = brisque_score(crop)
                out[span, 0] = np.where(has_box[span], v, np.nan)
                break
    return out
