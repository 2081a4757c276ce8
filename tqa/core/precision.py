"""The precision tracked outputs are written at (issue 23).

Two machines of the same kind give the same study up to float noise: the last bits of a
SIMD reduction, of a BLAS product or of a float32 training step. That noise reaches the
7th-8th significant digit of a training history or a metric. Tracked tables are written
to :data:`SIGNIFICANT` significant digits, well above it and well below any difference a
study reads (a Pearson resolved to 1e-6); the markdown shows 3-4 decimals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Significant digits of every float in a tracked table (CSV).
SIGNIFICANT: int = 6
#: ``DataFrame.to_csv(float_format=...)`` for :data:`SIGNIFICANT` digits.
FLOAT_FORMAT: str = f"%.{SIGNIFICANT}g"


def round_significant(x: np.ndarray | float, digits: int = SIGNIFICANT) -> np.ndarray:
    """``x`` rounded once to ``digits`` significant digits (NaN, inf and 0 unchanged).

    Python's ``%g`` formatting rounds the exact binary value correctly (round half to even
    on the decimal expansion); reading the text back gives the nearest double. Scaling by a
    power of ten first would round twice (the product is inexact), so it is not done.
    """
    a = np.asarray(x, dtype=float)
    return np.array([float(f"{v:.{digits}g}") for v in a.ravel()]).reshape(a.shape)


def rounded_frame(df: pd.DataFrame, digits: int = SIGNIFICANT) -> pd.DataFrame:
    """A copy of ``df`` whose float columns hold :func:`round_significant` values."""
    floats = df.select_dtypes("float").columns
    return df.assign(**{c: round_significant(df[c].to_numpy(), digits) for c in floats})
