"""Agreement of predictions with the ratings (chapter 3.4.4): Bland-Altman bias and limits of
agreement, and per task CCC, QWK and Pearson beside them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tqa.core.schema import TASKS
from tqa.study.metrics import ccc, class_bounds, pearson, qwk, valid_pairs

#: z of the two-sided 95 % normal interval used for limits of agreement.
LOA_Z: float = 1.96


def bland_altman(y_true, y_pred) -> dict[str, float]:
    """Bias (mean of pred - true), its SD (ddof=1) and limits bias ± 1.96 SD (Bland & Altman
    1986)."""
    t, p = valid_pairs(y_true, y_pred)
    d = p - t
    if d.size == 0:
        return {"n": 0, "bias": math.nan, "sd": math.nan, "loa_low": math.nan, "loa_high": math.nan}
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    bias = float(d.mean())
    return {
        "n": int(d.size),
        "bias": bias,
        "sd": sd,
        "loa_low": bias - LOA_Z * sd,
        "loa_high": bias + LOA_Z * sd,
    }


def agreement_table(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    params_eval: dict | None = None,
    tasks: Sequence[str] = TASKS,
) -> pd.DataFrame:
    """Per task: n, CCC, QWK, Pearson and the Bland-Altman bias / limits of agreement."""
    b = class_bounds(params_eval)
    rows = []
    for k, task in enumerate(tasks):
        t, p = np.asarray(y_true, float)[:, k], np.asarray(y_pred, float)[:, k]
        ba = bland_altman(t, p)
        rows.append(
            {
                "task": task,
                "n": ba["n"],
                "ccc": ccc(t, p),
                "qwk": qwk(t, p, b),
                "pearson": pearson(t, p),
                "bias": ba["bias"],
                "loa_low": ba["loa_low"],
                "loa_high": ba["loa_high"],
            }
        )
    return pd.DataFrame(rows)
