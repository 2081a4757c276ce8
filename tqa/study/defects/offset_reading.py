"""Which curve the correlation sync's offset is read from: where its 2 s windows sit.

The weight-free sync (:mod:`tqa.features.extractors.sync_correlation`) reads its offset at
the minimum of a distance curve averaged over 2 s windows. Four readings are compared:

* ``inside`` (the extractor's): every window fits every lag, so on a 4-6 s clip all
  windows sit in the clip's middle and a desynchronised segment there pulls the whole-clip
  offset to the segment's own;
* ``span``: windows across the whole clip, each lag using the window's frames whose partner
  lies inside the clip (``lag_correlation`` with ``span=True``);
* ``whole``: one window over the whole overlap at each lag (``lag_correlation`` with
  ``window=None``, the extractor's fallback for short clips);
* ``inside_mean``: ``inside`` with the two mouth signals' curves averaged with equal weights,
  the extractor's rule before 2026-12-07 (the others weight each signal's curve by its own
  confidence, :func:`~tqa.features.extractors.sync_correlation.combine_curves`).

Nothing is fitted; ``benchmarks/sync_offset_window.py`` runs the comparison (sample corpus
and real footage) and writes ``reports/sync_offset_window.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tqa.features.extractors import sync_correlation as S
from tqa.study.defects.detection import detection_auc, paired_share

#: The readings of the module docstring (``inside`` is the extractor's).
READINGS: tuple[str, ...] = ("inside", "span", "whole", "inside_mean")


def mouth_and_envelope(
    frames: np.ndarray,
    landmarks_px: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    fps: float,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """(3, T) float64: mouth darkness, inner-lip aperture and speech envelope of one clip
    (:func:`~tqa.features.extractors.sync_correlation.sync_signals`, the extractor's own)."""
    return np.stack(S.sync_signals(frames, landmarks_px, audio, sample_rate, fps, valid))


def read_offset(signals: np.ndarray, reading: str, max_offset: int = 15) -> float:
    """Offset (frames, > 0 = audio delayed) of ``signals`` (3, T) from :func:`mouth_and_envelope`
    read the ``reading`` way; NaN when no curve is defined."""
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")
    dark, inner, env = signals
    if reading != "whole":
        combine = "mean" if reading == "inside_mean" else S.COMBINE
        est = S.estimate_offset([dark, inner], env, max_offset, span=reading == "span",
                                combine=combine)  # fmt: skip
        return float(est.offset)
    curves = [1.0 - S.lag_correlation(s, env, max_offset, None)[1][0] for s in (dark, inner)]
    curves = [c for c in curves if np.all(np.isfinite(c))]
    if not curves:
        return math.nan
    lags = np.arange(-max_offset, max_offset + 1)
    return float(lags[int(np.argmin(S.combine_curves(curves)))])


def corpus_summary(df: pd.DataFrame) -> list[dict]:
    """One row per reading on the sample corpus: the share of videos whose offset lies within
    1 frame of the injected ``av_offset_frames`` (all; identities of even and of odd index,
    two disjoint halves; videos with a desynchronised segment; own audio only; own audio
    and no segment: the videos where one offset holds for the whole clip, so "the injected
    offset" is the only right answer) and the share of in-sync videos (no offset, no
    segment, own audio) that read |offset| <= 1. A dubbed video has no offset to find, and
    one with a desynchronised segment has two (the extractor reads the segment's when it
    covers the clip's middle: docs/features.md).

    ``df``: one row per video with ``offset_<reading>``, ``av_offset_frames``, ``identity``,
    ``seg_desync_frames`` and ``swapped_audio``."""
    rows = []
    subsets = {
        "all": np.ones(len(df), bool),
        "even identities": (df["identity"] % 2 == 0).to_numpy(),
        "odd identities": (df["identity"] % 2 == 1).to_numpy(),
        "with a desynchronised segment": (df["seg_desync_frames"] != 0).to_numpy(),
        "own audio": (df["swapped_audio"] == 0).to_numpy(),
        "own audio, no segment": (
            (df["swapped_audio"] == 0) & (df["seg_desync_frames"] == 0)
        ).to_numpy(),
    }
    insync = (
        (df["av_offset_frames"] == 0) & (df["seg_desync_frames"] == 0) & (df["swapped_audio"] == 0)
    ).to_numpy()
    for reading in READINGS:
        off = df[f"offset_{reading}"].to_numpy(float)
        ok = np.abs(off - df["av_offset_frames"].to_numpy(float)) <= 1
        row: dict = {"reading": reading}
        for name, m in subsets.items():
            row[f"within 1: {name}"] = float(ok[m].mean()) if m.any() else math.nan
            row[f"n: {name}"] = int(m.sum())
        row["in-sync abs(offset) <= 1"] = float((np.abs(off[insync]) <= 1).mean())
        row["n: in-sync"] = int(insync.sum())
        rows.append(row)
    return rows


def real_summary(df: pd.DataFrame, shifts: Sequence[int] = (2, 3, 5, 10)) -> list[dict]:
    """One row per reading on real recordings: the originals' offsets, how many read
    |offset| <= 1, and per |shift| the detection AUC of |offset| (clean vs shifted), the paired
    share (each shifted variant against its own original) and the share of shifts read exactly
    relative to the recording's own original.

    ``df``: one row per (``clip``, ``shift``) with ``offset_<reading>``; ``shift`` 0 = original."""
    rows = []
    for reading in READINGS:
        col = f"offset_{reading}"
        own = df[df["shift"] == 0].set_index("clip")[col]
        row: dict = {
            "reading": reading,
            "originals": [int(v) if np.isfinite(v) else None for v in own.to_numpy(float)],
            "originals abs(offset) <= 1": int((own.abs() <= 1).sum()),
            "n originals": len(own),
        }
        for k in shifts:
            var = df[df["shift"].abs() == k]
            base = own.loc[var["clip"]].to_numpy(float)
            got = var[col].to_numpy(float)
            row[f"AUC {k}"] = detection_auc(np.abs(own), np.abs(got), "higher")["auc"]
            row[f"paired {k}"] = paired_share(np.abs(base), np.abs(got), "higher")["paired"]
            row[f"tracked {k}"] = float(np.mean(got - base == var["shift"].to_numpy(float)))
        rows.append(row)
    return rows
