"""Frame cadence: duplicated, dropped and frozen frames (``visual`` modality, weight-free).

Generators and their encoders stutter: a frame is repeated, one is skipped, or the picture
holds still while the audio runs on (issue 26: the ``glitch`` and ``freeze`` defect families,
which the quality statistics of ``nss`` / ``brisque`` do not see). Per grid frame t, the
change from the previous frame is

    d_t = 100 x mean |Y_t / mean(Y_t) - Y_{t-1} / mean(Y_{t-1})|

(Y: integer BT.601 luma of the whole frame, 0-255; d in % of the frame's mean luma, ~ grey
levels at mid-grey; dividing each frame by its mean cancels a global brightness gain, so
flicker does not read as motion). A grid frame that
repeats the same *source* frame (``clip.meta["source_index"]``: a source slower than 25 fps)
is the grid's doing, not the file's, and is left out (NaN), as are padded frames. With m the
clip's median d (its typical motion, floored at :data:`MIN_MOTION`), 4 float32
columns ``visual__cadence_<label>``:

* ``motion``: d_t / m (1 = the clip's typical change; ~0 for a repeated frame, ~2 for a
  skipped one in steady motion);
* ``dup``: 1 when d_t < :data:`DUP_RATIO` x m (the frame repeats the previous one), else 0;
  its clip mean is the share of repeated frames;
* ``still_s``: the length in seconds of the run of consecutive ``dup`` frames the frame is in
  (0 outside one): a frozen stretch reads its duration, an isolated repeat 0.04 s;
* ``jump``: d_t over the mean of its neighbours d_{t-1}, d_{t+1} (clipped to
  [0, :data:`MAX_JUMP`]): ~2 where a frame was dropped from smooth motion.

Frame 0 has no previous frame: its ``motion`` and ``jump`` are frame 1's, ``dup`` and
``still_s`` 0. What it cannot see: a repeat that the encoder blurred into a real change (at
very low bit rates), a drop during a still stretch, and a frozen face on a moving background.
:data:`DUP_RATIO` (0.1) and :data:`MIN_MOTION` (0.05 %) were fixed before any benchmark run
(a codec's residual on a repeated frame is a few hundredths of a grey level, a talking
head's frame-to-frame change around one grey level). A clip that opens or closes on a still
face reads a few ``dup`` frames there: they are still frames, whatever caused them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tqa.features.extractors.base import Clip, ColumnExtractor, register, valid_frames

#: ``dup`` threshold, as a share of the clip's median frame change.
DUP_RATIO = 0.1
#: Floor of the clip's median frame change (% of mean luma): a still picture is all ``dup``.
MIN_MOTION = 0.05
#: Upper clip of ``jump`` (a scene cut would otherwise dominate the pooled statistics).
MAX_JUMP = 10.0
#: Integer BT.601 luma weights (sum 256): Y = (77 R + 150 G + 29 B) >> 8.
LUMA_WEIGHTS = (77, 150, 29)


def luma(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) int16 BT.601 luma of uint8 RGB frames (T, H, W, 3), in integer arithmetic
    (the same bytes on every CPU)."""
    f = np.asarray(frames, dtype=np.int32)
    r, g, b = LUMA_WEIGHTS
    return ((r * f[..., 0] + g * f[..., 1] + b * f[..., 2]) >> 8).astype(np.int16)


def frame_changes(frames: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(T,) float64 d_t of the module docstring; NaN at t = 0 and where frame t or t - 1 is
    not ``usable`` (bool (T,)) or frame t repeats the same source frame."""
    y = luma(frames).astype(np.float64)
    mean = y.reshape(len(y), -1).mean(axis=1)
    d = np.full(len(y), np.nan)
    for t in range(1, len(y)):
        if usable[t] and usable[t - 1] and mean[t] > 0 and mean[t - 1] > 0:
            d[t] = 100.0 * float(np.abs(y[t] / mean[t] - y[t - 1] / mean[t - 1]).mean())
    return d


def _runs(flag: np.ndarray) -> np.ndarray:
    """(T,) length (in frames) of the run of True that each True element is in; 0 elsewhere."""
    out = np.zeros(len(flag))
    t = 0
    while t < len(flag):
        if flag[t]:
            end = t
            while end + 1 < len(flag) and flag[end + 1]:
                end += 1
            out[t : end + 1] = end - t + 1
            t = end + 1
        else:
            t += 1
    return out


def cadence(d: np.ndarray, fps: float, repeat: np.ndarray | None = None) -> np.ndarray:
    """(T, 4) float32 [motion, dup, still_s, jump] from the frame changes ``d`` (T,) of
    :func:`frame_changes`; rows where d is NaN are NaN (frame 0: see the module docstring).
    ``repeat`` (bool (T,)): grid repeats, NaN rows that continue the run they sit in (a
    frozen stretch of a 24 fps source is one run, not 24)."""
    out = np.full((len(d), 4), np.nan, np.float32)
    ok = np.isfinite(d)
    if not ok.any():
        return out
    m = max(float(np.median(d[ok])), MIN_MOTION)
    dup = ok & (d < DUP_RATIO * m)
    carried = dup.copy()
    if repeat is not None:
        for t in np.flatnonzero(np.asarray(repeat, bool)):
            carried[t] = t > 0 and carried[t - 1]
    prev = np.r_[np.nan, d[:-1]]
    nxt = np.r_[d[1:], np.nan]
    both = np.c_[prev, nxt]
    n_ok = np.isfinite(both).sum(axis=1)
    neigh = np.where(n_ok > 0, np.nansum(both, axis=1) / np.maximum(n_ok, 1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        jump = np.clip(d / np.maximum(neigh, MIN_MOTION * DUP_RATIO), 0.0, MAX_JUMP)
    out[ok, 0] = d[ok] / m
    out[ok, 1] = dup[ok]
    out[ok, 2] = _runs(carried)[ok] / float(fps)
    out[ok, 3] = np.where(np.isfinite(jump[ok]), jump[ok], 1.0)
    if len(d) > 1 and ok[1] and not ok[0]:
        out[0] = [out[1, 0], 0.0, 0.0, out[1, 3]]
    return out


@register
class CadenceVisual(ColumnExtractor):
    """Repeated, skipped and frozen frames from whole-frame luma changes (4 columns)."""

    name = "cadence"
    modality = "visual"
    version = "2"  # 2: padding after the clip's end no longer lengthens a still run
    columns = ("motion", "dup", "still_s", "jump")
    column_name = "visual__cadence_{}"

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        usable = valid_frames(clip)
        src = clip.meta.get("source_index")
        d = frame_changes(clip.frames, usable)
        repeat = None
        if src is not None:
            src = np.asarray(src)
            # a grid repeat of a slower source, inside the clip: the padding after its end
            # repeats the last frame too, but is no part of a still run (a 5 s still picture
            # read a 9.6 s run on the 10 s grid of `tqa metrics` before)
            repeat = np.r_[False, src[1:] == src[:-1]] & usable
            d[repeat] = np.nan
        out = cadence(d, clip.fps, repeat)
        out[~usable] = np.nan
        return out

    def options(self) -> dict[str, Any]:
        return {"dup_ratio": DUP_RATIO, "min_motion": MIN_MOTION, "max_jump": MAX_JUMP}
