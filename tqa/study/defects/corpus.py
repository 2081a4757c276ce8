"""The defect families looked up in the sample corpus's ``degradations.csv``.

Which videos carry a family's defect (:func:`corpus_present`, beyond the background every
video draws for some columns), its severity and level per video, and the per family /
feature table of AUC (without vs with the defect, all and by thirds of severity) and Spearman
(:func:`corpus_table`); :func:`corpus_offset` checks the A/V offset estimate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tqa.data.corpus.profiles import BLUR_SIGMA_PX, NEUTRAL, NOISE_SNR_DB
from tqa.study.defects.detection import detection_auc, level_spearman
from tqa.study.defects.families import (
    FAMILIES,
    FAMILY,
    FPS,
    SR,
    Family,
    column_of,
    feature_value,
)

#: Columns for which every corpus video draws a background value
#: (:func:`tqa.data.corpus.profiles.draw_degradations`: snr_db 38-50 dB, blur_sigma 0-0.3 px), so
#: "differs from NEUTRAL" is true for all videos; the family is present beyond the background:
#: (threshold, "le" | "ge").
BACKGROUND: dict[str, tuple[float, str]] = {
    "snr_db": (NOISE_SNR_DB, "le"),
    "blur_sigma": (BLUR_SIGMA_PX, "ge"),
}


def corpus_present(deg: pd.DataFrame, family: Family) -> pd.Series:
    """Videos of ``degradations.csv`` with the family's defect (its column differs from
    :data:`NEUTRAL`, or lies beyond the background of :data:`BACKGROUND`)."""
    col = family.corpus
    if col is None:
        raise ValueError(f"family {family.name!r} has no sample-corpus column")
    x = deg[col].astype(float)
    if col in BACKGROUND:
        thr, how = BACKGROUND[col]
        return x <= thr if how == "le" else x >= thr
    return ~np.isclose(x, float(NEUTRAL[col]))


def grid_frames(deg: pd.DataFrame, col: str) -> pd.Series:
    """A frame-count column of ``degradations.csv`` in frames of tqa's 25 fps grid (an
    off-format video's defect is counted in its own frames: 24 or 30 fps)."""
    x = deg[col].astype(float)
    return x * FPS / deg["fps"].astype(float) if "fps" in deg else x


def corpus_severity(deg: pd.DataFrame, family: Family) -> pd.Series:
    """Severity of the family's defect per video (higher = more severe; videos without it
    take the neutral / background value): |grid frames| for offsets, minus SNR / cut-off (none =
    Nyquist) / clip level / kbps / JPEG quality, else the column itself."""
    col = family.corpus
    x = deg[col].astype(float)
    if col in ("av_offset_frames", "seg_desync_frames"):
        return grid_frames(deg, col).abs()
    if col == "lowpass_hz":
        return -x.where(x > 0, SR / 2)
    if col in ("snr_db", "clip_level", "audio_kbps", "jpeg_quality"):
        return -x
    return x


def corpus_level(deg: pd.DataFrame, family: Family) -> pd.Series:
    """The family's level as the tables show it: |grid frames| for offsets, else the column."""
    col = family.corpus
    if col in ("av_offset_frames", "seg_desync_frames"):
        return grid_frames(deg, col).abs()
    return deg[col].astype(float)


def tertiles(severity: pd.Series) -> list[pd.Index]:
    """Index of the lowest, middle and highest third of ``severity`` (by rank, stable)."""
    order = severity.sort_values(kind="mergesort").index
    return [order[p] for p in np.array_split(np.arange(len(order)), 3) if len(p)]


def corpus_table(df: pd.DataFrame, families: Sequence[Family] = FAMILIES) -> list[dict]:
    """Per family and feature on the sample corpus: AUC of videos without the defect vs all
    videos with it, vs each third of them by severity (low / middle / high), and Spearman of
    the severity with the feature over all videos. ``df``: ``degradations.csv`` columns and
    the feature columns, one row per video."""
    rows = []
    for fam in families:
        if fam.corpus is None or fam.corpus not in df:
            continue
        present = corpus_present(df, fam)
        sev = corpus_severity(df, fam)
        thirds = tertiles(sev[present]) if fam.corpus != "swapped_audio" else [sev[present].index]
        for feat, worse in fam.features():
            if column_of(feat) not in df:
                continue
            v = feature_series(df, feat)
            r = {
                "family": fam.name, "column": fam.corpus, "feature": feat, "worse": worse,
                "declared": feat == fam.feature, "n_present": int(present.sum()),
                "n_absent": int((~present).sum()),
                **{f"all_{k}": x for k, x in
                   detection_auc(v[~present], v[present], worse).items()},
            }  # fmt: skip
            r["bins"] = []
            for name, idx in zip(("low", "middle", "high"), thirds):
                a = detection_auc(v[~present], v[idx], worse)
                raw = corpus_level(df.loc[idx], fam)
                r["bins"].append(
                    {"bin": name if len(thirds) > 1 else "all", "n": len(idx),
                     "level_min": float(raw.min()), "level_max": float(raw.max()), **a}
                )  # fmt: skip
            sp = level_spearman(sev, v, worse)
            r.update(spearman=sp["rho"], spearman_p=sp["p"], spearman_n=sp["n"])
            rows.append(r)
    return rows


def feature_series(df: pd.DataFrame, feat: str) -> pd.Series:
    """A declared feature's value for every row of ``df`` (:func:`feature_value`)."""
    return pd.Series([feature_value(r, feat) for _, r in df.iterrows()], index=df.index)


def corpus_offset(df: pd.DataFrame, min_frames: float) -> dict:
    """The A/V offset estimate on the corpus: within one grid frame of the injected offset,
    ``|estimate| <= 1`` on videos without any sync defect, and the declared feature's AUC of
    videos without an offset vs those with ``|offset| >= min_frames``."""
    off = FAMILY["offset"]
    present = corpus_present(df, off)
    inj = grid_frames(df, "av_offset_frames")
    est = df["sync__offset"].astype(float)
    sync_cols = ["av_offset_frames", "mouth_lag_s", "seg_desync_frames", "mouth_freeze_dur_s"]
    in_sync = np.all(
        [np.isclose(df[c].astype(float), NEUTRAL[c]) for c in [*sync_cols, "swapped_audio"]],
        axis=0,
    )
    big = present & (inj.abs() >= min_frames - 1e-9)
    v = feature_series(df, off.feature)
    return {
        "within_1": int((abs(est[present] - inj[present]) <= 1).sum()),
        "n": int(present.sum()),
        "in_sync_abs_le_1": int((est[in_sync].abs() <= 1).sum()),
        "n_in_sync": int(in_sync.sum()),
        "auc_ge2": detection_auc(v[~present], v[big], off.worse),
    }
