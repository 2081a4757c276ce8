"""How a learned expression reading changes over a clip: variety and flicker (issue 26).

Both read (T, K) per-frame class probabilities (the ``fer`` extractor's FER2013 softmax,
:mod:`tqa.features.nets.fer`) and measure change as the total-variation distance between two
distributions, TV(p, q) = 1/2 sum_k |p_k - q_k| (0 = the same reading, 1 = disjoint), so
both lie in [0, 1] whatever the classes:

* :func:`expression_variety`: the mean TV distance of each whole second's mean reading from
  the clip's mean reading. Slow change: a face whose expression follows what is said reads
  above 0; a frozen face reads 0.
* :func:`expression_flicker`: the mean TV distance of each frame's reading from the mean of
  its two neighbours (a second difference, as ``landmark_jitter`` takes of the landmarks).
  Frame-to-frame change that the neighbours do not share: a face that flickers between
  expressions, or a classifier unsure of a face it barely sees.

Frames without a reading (NaN rows: no face) break runs: seconds and neighbour triples use
consecutive readable frames only.
"""

from __future__ import annotations

import math

import numpy as np


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """TV distance 1/2 sum |p - q| over the last axis of two (..., K) probability arrays."""
    return 0.5 * np.abs(np.asarray(p, np.float64) - np.asarray(q, np.float64)).sum(axis=-1)


def expression_variety(probs: np.ndarray, fps: float) -> float:
    """Mean TV distance of whole 1 s blocks' mean reading (blocks of round(fps) frames, all
    readable) from the mean reading of those blocks; NaN under 2 such blocks."""
    p = np.asarray(probs, np.float64)
    n = max(1, int(round(fps)))
    ok = np.all(np.isfinite(p), axis=1)
    blocks = [p[s : s + n].mean(axis=0) for s in range(0, len(p) - n + 1, n) if ok[s : s + n].all()]
    if len(blocks) < 2:
        return math.nan
    b = np.asarray(blocks)
    return float(total_variation(b, b.mean(axis=0)).mean())


def expression_flicker(probs: np.ndarray) -> float:
    """Mean over readable triples (t-1, t, t+1) of TV(p_t, (p_{t-1} + p_{t+1}) / 2); NaN
    without such a triple."""
    p = np.asarray(probs, np.float64)
    if len(p) < 3:
        return math.nan
    ok = np.all(np.isfinite(p), axis=1)
    trip = ok[:-2] & ok[1:-1] & ok[2:]
    if not trip.any():
        return math.nan
    mid = (p[:-2] + p[2:]) / 2.0
    return float(total_variation(p[1:-1][trip], mid[trip]).mean())
