"""Weight-free visual quality features: natural-scene statistics per frame (part of
the weight-free extractor set: no network weights needed).

Per frame, on the **face crop** (``face__*``) and the **full frame** (``full__*``), 27 each:

* MSCN coefficients (Mittal, Moorthy & Bovik 2012, BRISQUE, eq. 1-2): luminance
  I (0-255) normalised by a 7x7 Gaussian (sigma 7/6) local mean and local deviation,
  C = 1. Statistics: mean, variance, skewness, excess kurtosis, and the generalised
  Gaussian (GGD) fit by moment matching (Sharifi & Leon-Garcia 1995): shape ``alpha`` and
  variance ``sigma2``.
* Pairwise products of neighbouring MSCN coefficients, horizontal H, vertical V and the
  two diagonals D1, D2 (BRISQUE eq. 3-6), each fitted by an asymmetric GGD (Lasmar,
  Stitou & Berthoumieu 2009): ``alpha``, ``eta`` (mean), ``sl2``/``sr2`` (left/right variance).
* ``sharpness``: variance of the 3x3 Laplacian (Pech-Pacheco et al. 2000), lower = blurrier.
* ``blockiness``: mean |horizontal + vertical gradient| across 8x8 block boundaries over
  the mean inside blocks (cf. Wang, Sheikh & Bovik 2002); ~1 for natural images, > 1 with
  DCT-codec blocking. The crop is aligned to the frame's 8-pixel grid so codec blocks stay
  aligned.
* ``colourfulness``: Hasler & Suesstrunk (2003), on a 2x-subsampled pixel grid,
  M = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2),
  rg = R - G, yb = (R + G) / 2 - B; 0 for any grey image.
* ``luma_mean`` and ``contrast`` (RMS contrast, std of luminance).

Plus ``full__tdiff`` and ``face__tdiff``: mean absolute luminance difference to the previous
frame (frame 0 takes frame 1's value, the forward difference), a temporal-flicker cue.

The face crop is one square size per clip (the median landmark-box side times
``1.2``), centred on each frame's face box, so crops stack and are measured at the
decoded resolution without resampling. Frames without a face get NaN face features;
with ``features.face_crop: false`` the face columns are NaN throughout.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
from scipy.special import gamma as G

from tqa.features.extractors.base import Clip, Extractor, register

log = logging.getLogger(__name__)

REGION_FEATURES: tuple[str, ...] = (
    "mscn_mean",
    "mscn_var",
    "mscn_skew",
    "mscn_kurt",
    "ggd_alpha",
    "ggd_sigma2",
    *[f"{o}_{s}" for o in ("H", "V", "D1", "D2") for s in ("alpha", "eta", "sl2", "sr2")],
    "sharpness",
    "blockiness",
    "colourfulness",
    "luma_mean",
    "contrast",
)
FACE_MARGIN = 1.2
BLOCK = 8
_CV_MAX_CHANNELS = 500  # cv2 filters accept at most 512 channels
CHUNK_FRAMES = 8

_ALPHAS = np.arange(0.2, 10.0, 0.001)
#: GGD: rho(alpha) = Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2 = E[x^2] / E[|x|]^2 (decreasing in alpha)
_RHO = G(1 / _ALPHAS) * G(3 / _ALPHAS) / G(2 / _ALPHAS) ** 2


def _alpha_from_rho(rho: np.ndarray) -> np.ndarray:
    """Invert the (monotone) GGD moment ratio by interpolation in a fine alpha table."""
    return np.interp(rho, _RHO[::-1], _ALPHAS[::-1])


def _blur_stack(x: np.ndarray, op) -> np.ndarray:
    """Apply a 2-D cv2 filter to every image of (T, H, W) float32, channels-batched."""
    t = x.shape[0]
    out = np.empty_like(x)
    for s in range(0, t, _CV_MAX_CHANNELS):
        chunk = np.ascontiguousarray(np.moveaxis(x[s : s + _CV_MAX_CHANNELS], 0, -1))
        res = op(chunk)
        if res.ndim == 2:
            res = res[..., None]
        out[s : s + _CV_MAX_CHANNELS] = np.moveaxis(res, -1, 0)
    return out


def mscn(gray: np.ndarray) -> np.ndarray:
    """MSCN coefficients of (T, H, W) float32 luminance in [0, 255] (BRISQUE eq. 1-2)."""
    op = lambda a: cv2.GaussianBlur(a, (7, 7), 7 / 6, borderType=cv2.BORDER_REPLICATE)  # noqa: E731
    mu = _blur_stack(gray, op)
    var = _blur_stack(gray * gray, op) - mu * mu
    return (gray - mu) / (np.sqrt(np.abs(var)) + 1.0)


def ggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row GGD (alpha, sigma^2) of (T, N) samples by moment matching."""
    m2 = np.einsum("ij,ij->i", x, x, dtype=np.float64) / x.shape[1]
    m1 = np.abs(x).mean(1, dtype=np.float64)
    rho = m2 / np.maximum(m1 * m1, 1e-12)
    return _alpha_from_rho(rho), m2


def aggd_fit(x: np.ndarray) -> np.ndarray:
    """Per-row AGGD (alpha, eta, sigma_l^2, sigma_r^2) of (T, N) samples (Lasmar et al. 2009)."""
    n = x.shape[1]
    xn = np.minimum(x, 0)
    xp = np.maximum(x, 0)
    sn = np.einsum("ij,ij->i", xn, xn, dtype=np.float64)
    sp = np.einsum("ij,ij->i", xp, xp, dtype=np.float64)
    sl2 = sn / np.maximum((x < 0).sum(1), 1)
    sr2 = sp / np.maximum((x > 0).sum(1), 1)
    sl, sr = np.sqrt(sl2), np.sqrt(sr2)
    gam = sl / np.maximum(sr, 1e-12)
    mean_abs = (xp.sum(1, dtype=np.float64) - xn.sum(1, dtype=np.float64)) / n
    r_hat = mean_abs**2 / np.maximum((sn + sp) / n, 1e-12)
    big_r = r_hat * (gam**3 + 1) * (gam + 1) / np.maximum((gam**2 + 1) ** 2, 1e-12)
    alpha = _alpha_from_rho(1.0 / np.maximum(big_r, 1e-12))
    eta = (sr - sl) * G(2 / alpha) / G(1 / alpha) * np.sqrt(G(1 / alpha) / G(3 / alpha))
    return np.stack([alpha, eta, sl2, sr2], axis=1)


def _moments(x: np.ndarray) -> np.ndarray:
    """(T, 4): mean, variance, skewness, excess kurtosis of (T, N) rows."""
    mu = x.mean(1, dtype=np.float64)
    d = x - mu.astype(x.dtype)[:, None]
    d2 = d * d
    var = d2.mean(1, dtype=np.float64)
    m3 = np.einsum("ij,ij->i", d2, d, dtype=np.float64) / x.shape[1]
    m4 = np.einsum("ij,ij->i", d2, d2, dtype=np.float64) / x.shape[1]
    sd = np.sqrt(np.maximum(var, 1e-12))
    return np.stack([mu, var, m3 / sd**3, m4 / sd**4 - 3.0], axis=1)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of uint8 (..., 3) RGB as float32 in [0, 255]."""
    return (
        rgb[..., 0] * np.float32(0.299)
        + rgb[..., 1] * np.float32(0.587)
        + rgb[..., 2] * np.float32(0.114)
    )


def sharpness(gray: np.ndarray) -> np.ndarray:
    """(T,) variance of the 3x3 Laplacian of (T, H, W) luminance."""
    lap = _blur_stack(gray, lambda a: cv2.Laplacian(a, cv2.CV_32F, ksize=1))
    return lap.reshape(len(gray), -1).var(1)


def blockiness(gray: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """(T,) mean |gradient| on block boundaries / mean |gradient| elsewhere (NaN if < 2 blocks)."""
    t, h, w = gray.shape
    if h < 2 * block or w < 2 * block:
        return np.full(t, np.nan, np.float32)
    dh = np.abs(np.diff(gray, axis=2))  # (T, H, W-1): difference between column j and j+1
    dv = np.abs(np.diff(gray, axis=1))
    bh = (np.arange(w - 1) % block) == block - 1
    bv = (np.arange(h - 1) % block) == block - 1
    on = dh[:, :, bh].mean((1, 2)) + dv[:, bv, :].mean((1, 2))
    off = dh[:, :, ~bh].mean((1, 2)) + dv[:, ~bv, :].mean((1, 2))
    return on / np.maximum(off, 1e-6)


def colourfulness(rgb: np.ndarray) -> np.ndarray:
    """(T,) Hasler-Suesstrunk colourfulness of uint8 (T, H, W, 3) RGB.

    Image statistics on every second pixel and row (a global statistic; 4x cheaper).
    """
    x = rgb[:, ::2, ::2].reshape(len(rgb), -1, 3)
    r, g, b = (x[..., i].astype(np.float32) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return np.sqrt(rg.var(1, dtype=np.float64) + yb.var(1, dtype=np.float64)) + 0.3 * np.sqrt(
        rg.mean(1, dtype=np.float64) ** 2 + yb.mean(1, dtype=np.float64) ** 2
    )


def region_features(rgb: np.ndarray, chunk: int = CHUNK_FRAMES) -> np.ndarray:
    """(T, 27) :data:`REGION_FEATURES` of uint8 (T, H, W, 3) RGB images of one size.

    Frames are processed ``chunk`` at a time: vectorised, yet small enough to stay in the
    CPU caches (about 2x faster than one pass over all 150 frames).
    """
    if len(rgb) == 0:
        return np.zeros((0, len(REGION_FEATURES)), np.float32)
    return np.concatenate([_region_chunk(rgb[i : i + chunk]) for i in range(0, len(rgb), chunk)])


def _region_chunk(rgb: np.ndarray) -> np.ndarray:
    t = len(rgb)
    gray = luminance(rgb)
    m = mscn(gray)
    flat = m.reshape(t, -1)
    alpha, sig2 = ggd_fit(flat)
    pairs = (
        m[:, :, :-1] * m[:, :, 1:],
        m[:, :-1, :] * m[:, 1:, :],
        m[:, :-1, :-1] * m[:, 1:, 1:],
        m[:, 1:, :-1] * m[:, :-1, 1:],
    )
    prods = [aggd_fit(p.reshape(t, -1)) for p in pairs]
    g = gray.reshape(t, -1)
    cols = [
        _moments(flat),
        alpha[:, None],
        sig2[:, None],
        *prods,
        sharpness(gray)[:, None],
        blockiness(gray)[:, None],
        colourfulness(rgb)[:, None],
        g.mean(1, dtype=np.float64)[:, None],
        g.std(1, dtype=np.float64)[:, None],
    ]
    return np.concatenate(cols, axis=1).astype(np.float32)


def temporal_difference(rgb: np.ndarray) -> np.ndarray:
    """(T,) mean |luma(t) - luma(t-1)|; frame 0 takes frame 1's value (forward difference)."""
    gray = luminance(rgb.astype(np.float32))
    if len(gray) < 2:
        return np.zeros(len(gray), np.float32)
    d = np.abs(np.diff(gray, axis=0)).reshape(len(gray) - 1, -1).mean(1)
    return np.concatenate([d[:1], d]).astype(np.float32)


def face_crops(frames: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Fixed-size square crops (T', S, S, 3) around face boxes (T, 4) and the frame indices T'.

    Side S = FACE_MARGIN x median box side, a multiple of 8 (>= 16), capped by the frame;
    top-left corners snapped to the 8-px grid. None when no frame has a face.
    """
    ok = np.where(~np.isnan(boxes).any(1))[0]
    if ok.size == 0:
        return None
    _, h, w = frames.shape[:3]
    if min(h, w) < 2 * BLOCK:
        return None
    side = (
        np.nanmedian(np.maximum(boxes[ok, 2] - boxes[ok, 0], boxes[ok, 3] - boxes[ok, 1]))
        * FACE_MARGIN
    )
    s = int(min(max(16, BLOCK * round(side / BLOCK)), (min(h, w) // BLOCK) * BLOCK or min(h, w)))
    cx = (boxes[ok, 0] + boxes[ok, 2]) / 2
    cy = (boxes[ok, 1] + boxes[ok, 3]) / 2
    x0 = np.clip(((cx - s / 2) // BLOCK) * BLOCK, 0, w - s).astype(int)
    y0 = np.clip(((cy - s / 2) // BLOCK) * BLOCK, 0, h - s).astype(int)
    crops = np.stack([frames[i, y : y + s, x : x + s] for i, x, y in zip(ok, x0, y0)])
    return crops, ok


@register
class NSSVisual(Extractor):
    """BRISQUE-style natural-scene statistics + sharpness/blockiness/colour/temporal cues."""

    name = "nss"
    modality = "visual"
    dim = 2 * len(REGION_FEATURES) + 2

    def feature_names(self) -> list[str]:
        return (
            [f"visual__full__{f}" for f in REGION_FEATURES]
            + [f"visual__face__{f}" for f in REGION_FEATURES]
            + ["visual__full__tdiff", "visual__face__tdiff"]
        )

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        frames = clip.frames
        t, k = len(frames), len(REGION_FEATURES)
        out = np.full((t, self.dim), np.nan, np.float32)
        out[:, :k] = region_features(frames)
        out[:, 2 * k] = temporal_difference(frames)
        boxes = context.get("face_box")
        if self.params.get("face_crop", True) and boxes is not None:
            crops = face_crops(frames, np.asarray(boxes, np.float32))
            if crops is not None:
                imgs, idx = crops
                out[idx, k : 2 * k] = region_features(imgs)
                td = temporal_difference(imgs)
                # consecutive only where the face was found in consecutive frames
                out[idx, 2 * k + 1] = td
        return out

    def options(self) -> dict[str, Any]:
        return {"face_crop": bool(self.params.get("face_crop", True))}
