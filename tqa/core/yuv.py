"""Integer BT.601 (limited range) conversions between RGB and planar yuv420p.

Why integers and not FFmpeg's libswscale: its SIMD paths round differently from its C path,
so the same frames gave other bytes (corpus encoding) and other RGB pixels (feature
decoding) on machines with other CPU features. These are the 8-bit fixed-point formulas of
ITU-R BT.601, identical on every machine. Used by the corpus writer/reader
(tqa.data.corpus.media) and by feature decoding (tqa.features.decode).
"""

from __future__ import annotations

import numpy as np


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> (H * 3 // 2, W) planar yuv420p, BT.601 limited range, integers
    only (the formulas of ITU-R BT.601 in 8-bit fixed point, as FFmpeg's C path).

    Why not let FFmpeg (libswscale) convert: its x86 SIMD paths round differently from its C
    path, so the same RGB frames gave other H.264 bytes on a machine with other CPU features
    (measured here by forcing FFmpeg's CPU flags off). Even sizes only (the corpus's are)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"rgb_to_yuv420p needs even sizes, got {w}x{h}")
    x = frame.astype(np.int32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    # chroma from the 2x2 mean of RGB (sum of 4, kept exact), rounded once
    r4 = r[0::2, 0::2] + r[1::2, 0::2] + r[0::2, 1::2] + r[1::2, 1::2]
    g4 = g[0::2, 0::2] + g[1::2, 0::2] + g[0::2, 1::2] + g[1::2, 1::2]
    b4 = b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2]
    u = ((-38 * r4 - 74 * g4 + 112 * b4 + 512) >> 10) + 128
    v = ((112 * r4 - 94 * g4 - 18 * b4 + 512) >> 10) + 128
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = np.clip(y, 0, 255)
    out[h : h + h // 4] = np.clip(u, 0, 255).reshape(h // 4, w)
    out[h + h // 4 :] = np.clip(v, 0, 255).reshape(h // 4, w)
    return out


def yuv420p_to_rgb(planes: np.ndarray) -> np.ndarray:
    """(H * 3 // 2, W) planar yuv420p (BT.601 limited range) -> uint8 (H, W, 3) RGB, integer
    arithmetic only; chroma repeated over each 2 x 2 block.

    The inverse of :func:`rgb_to_yuv420p` up to rounding. Why not libswscale
    (``to_ndarray(format="rgb24")``): with FFmpeg's SIMD switched off it returned other RGB
    frames from the same (bit-exact) decoded YUV planes, so anything computed from decoded
    frames differed between machines."""
    h = planes.shape[0] * 2 // 3
    w = planes.shape[1]
    y = planes[:h].astype(np.int32) - 16
    u = planes[h : h + h // 4].reshape(h // 2, w // 2).astype(np.int32) - 128
    v = planes[h + h // 4 :].reshape(h // 2, w // 2).astype(np.int32) - 128
    u = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)
    v = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)
    r = (298 * y + 409 * v + 128) >> 8
    g = (298 * y - 100 * u - 208 * v + 128) >> 8
    b = (298 * y + 516 * u + 128) >> 8
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)
