"""Element-wise ``exp`` / ``sin`` / ``pow`` that give the same bits on any x86-64 CPU (issue 23).

numpy's transcendental ufuncs dispatch on the CPU: with AVX-512 they run SVML kernels, on an
AVX2-only CPU (an AMD EPYC of the Zen 2/3 kind) other code, and the two differ in the last
bit. In the corpus renderer such a bit in the mouth aperture moved a ``cv2.remap`` sample
across a 1/32-px step and changed pixels of 7 of the 240 sample videos (docs/corpus.md,
"Reproducible on another machine", item 8). These helpers call Python's ``math`` (the C
library, one value at a time), whose result does not depend on numpy's SIMD dispatch. Meant
for short per-frame signals (hundreds of values), not images: ~0.1 µs per value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _map(fn: Callable[[float], float], x: np.ndarray | float) -> np.ndarray:
    """``fn`` applied to every element of ``x`` as float64, same shape."""
    a = np.asarray(x, dtype=np.float64)
    return np.fromiter((fn(v) for v in a.ravel().tolist()), np.float64, a.size).reshape(a.shape)


def exp(x: np.ndarray | float) -> np.ndarray:
    """e**x element-wise, float64 (C library ``exp``)."""
    return _map(math.exp, x)


def sin(x: np.ndarray | float) -> np.ndarray:
    """sin(x) element-wise, x in radians, float64 (C library ``sin``)."""
    return _map(math.sin, x)


def power(x: np.ndarray | float, p: float) -> np.ndarray:
    """x**p element-wise for x >= 0, float64 (C library ``pow``)."""
    return _map(lambda v: math.pow(v, p), x)
