"""Features quantised at the cache boundary, so float noise stops at the extractor (issue 23).

Two CPUs of the same kind compute the same features up to their last bits: another SIMD path
in numpy's reductions, OpenCV's filters or the FFT, another TFLite kernel in MediaPipe. Tree
ensembles are step functions of their inputs, so one last-bit difference can move a split
and a table digit downstream (docs/corpus.md, "Reproducible on another machine"). Every
stream is therefore rounded to ``bits`` significant mantissa bits before it is cached or
returned: last-bit noise then lands on the same value unless the exact result lies within
the noise of a rounding boundary. Rounding works on the float32 bit pattern (integer
arithmetic, no ``log10`` or scaling), so the rounded value is the same on every machine for
the same input.
"""

from __future__ import annotations

import numpy as np

#: float32 stores 23 explicit mantissa bits.
FLOAT32_MANTISSA_BITS = 23


def quantize_mantissa(x: np.ndarray, bits: int) -> np.ndarray:
    """``x`` as float32 rounded to ``bits`` significant mantissa bits (half away from zero).

    The relative step is ``2**-bits`` (16 bits: 1.5e-5, about 4.8 decimal digits). NaN, inf
    and 0 are returned unchanged; ``bits >= 23`` returns the float32 values unchanged.
    """
    a = np.ascontiguousarray(x, dtype=np.float32)
    drop = FLOAT32_MANTISSA_BITS - int(bits)
    if drop <= 0:
        return a.copy()
    if bits < 1:
        raise ValueError(f"quantize_mantissa: bits must be >= 1, got {bits}")
    u = a.view(np.uint32)
    half = np.uint32(1 << (drop - 1))
    mask = np.uint32((0xFFFFFFFF << drop) & 0xFFFFFFFF)
    # adding half an ulp of the kept mantissa to the bit pattern rounds the magnitude; a
    # mantissa carry moves into the exponent, which is the correct rounding there too
    q = ((u + half) & mask).view(np.float32)
    return np.where(np.isfinite(a), q, a).astype(np.float32, copy=False)
