"""Detection statistics of the real-footage benchmark: detection AUC (clean vs degraded,
oriented by the declared direction: 0.5 = chance, 1 = perfect), the paired share (each
degraded variant against its own original), Spearman with the level, and the per family /
level / feature table (:func:`real_table`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from tqa.study.defects.families import FAMILIES, Family, feature_value


def oriented(values: Sequence[float] | np.ndarray, worse: str) -> np.ndarray:
    """Values turned so that higher = worse (``worse`` = higher | lower)."""
    if worse not in ("higher", "lower"):
        raise ValueError(f"worse must be 'higher' or 'lower', got {worse!r}")
    v = np.asarray(values, np.float64)
    return v if worse == "higher" else -v


def detection_auc(
    clean: Sequence[float] | np.ndarray, degraded: Sequence[float] | np.ndarray, worse: str
) -> dict[str, Any]:
    """ROC AUC of telling degraded from clean by the feature in its declared direction
    (:func:`sklearn.metrics.roc_auc_score`; 0.5 = chance, 1 = every degraded clip worse than
    every clean one, below 0.5 = the opposite direction). NaN values are left out and counted."""
    c, d = oriented(clean, worse), oriented(degraded, worse)
    n_nan = int(np.isnan(c).sum() + np.isnan(d).sum())
    c, d = c[np.isfinite(c)], d[np.isfinite(d)]
    auc = math.nan
    if len(c) and len(d):
        y = np.r_[np.zeros(len(c)), np.ones(len(d))]
        auc = float(roc_auc_score(y, np.r_[c, d]))
    return {"auc": auc, "n_clean": int(len(c)), "n_degraded": int(len(d)), "n_nan": n_nan}


def paired_share(
    clean: Sequence[float] | np.ndarray, degraded: Sequence[float] | np.ndarray, worse: str
) -> dict[str, Any]:
    """Share of (original, degraded variant) pairs of the same recording in which the variant
    reads worse (ties count one half; NaN pairs are left out and counted).

    ``clean`` and ``degraded`` are row-aligned: ``degraded[i]`` was made from the recording
    whose original reads ``clean[i]``. The AUC of :func:`detection_auc` asks whether a clip
    can be told degraded among other recordings, so a speaker's own level (a natural lead of
    the lips, a source that already repeats frames) can hide a defect there; this share asks
    what a user comparing two versions of the same video sees (0.5 = chance, 1 = every
    variant worse than its own original).
    """
    c, d = oriented(clean, worse), oriented(degraded, worse)
    if c.shape != d.shape:
        raise ValueError(f"{len(c)} originals for {len(d)} degraded variants: pair them 1:1")
    ok = np.isfinite(c) & np.isfinite(d)
    n = int(ok.sum())
    share = math.nan
    if n:
        share = float(((d[ok] > c[ok]).sum() + 0.5 * (d[ok] == c[ok]).sum()) / n)
    return {"paired": share, "n_pairs": n, "n_pairs_nan": int((~ok).sum())}


def level_spearman(
    severity: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, worse: str
) -> dict[str, Any]:
    """Spearman rho between the defect's severity (higher = more severe; clean lowest) and
    the feature turned so that higher = worse: > 0 = the feature worsens with the level."""
    s = np.asarray(severity, np.float64)
    v = oriented(values, worse)
    ok = np.isfinite(s) & np.isfinite(v)
    if ok.sum() < 3 or np.ptp(s[ok]) == 0 or np.ptp(v[ok]) == 0:
        return {"rho": math.nan, "p": math.nan, "n": int(ok.sum())}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spearmanr(s[ok], v[ok])
    return {"rho": float(r.statistic), "p": float(r.pvalue), "n": int(ok.sum())}


def real_table(records: pd.DataFrame, families: Sequence[Family] = FAMILIES) -> list[dict]:
    """Per family, level and feature: detection AUC of clean vs that level, and the family's
    Spearman over clean + all its levels.

    ``records``: one row per clip variant with ``clip``, ``family`` (``clean`` for the
    originals), ``level``, ``severity`` (0 clean, 1.. mild -> severe) and the feature columns.
    ``paired``: :func:`paired_share` of each variant against its own recording's original.
    """
    clean = records[records["family"] == "clean"]
    own = clean.drop_duplicates("clip").set_index("clip")  # each recording's original
    rows = []
    for fam in families:
        part = records[records["family"] == fam.name]
        if part.empty:
            continue
        both = pd.concat([clean, part])
        for feat, worse in fam.features():
            val = lambda df, f=feat: np.array([feature_value(r, f) for _, r in df.iterrows()])  # noqa: E731
            sp = level_spearman(both["severity"], val(both), worse)
            for lev in fam.levels:
                deg = part[np.isclose(part["level"].astype(float), float(lev))]
                if deg.empty:
                    continue
                rows.append({
                    "family": fam.name, "level": float(lev), "unit": fam.unit,
                    "middle": bool(np.isclose(lev, fam.middle)), "feature": feat, "worse": worse,
                    "declared": feat == fam.feature, **detection_auc(val(clean), val(deg), worse),
                    **paired_share(val(own.loc[deg["clip"]]), val(deg), worse),
                    "spearman": sp["rho"], "spearman_p": sp["p"], "spearman_n": sp["n"],
                })  # fmt: skip
    return rows
