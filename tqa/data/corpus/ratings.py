"""Simulated subjective ratings: a documented function of the injected degradations.

Each degradation level is mapped to an impairment in [0, 1] (0 = absent, 1 = severe),
see :func:`impairments`. A task's score is

    score = base[task] - sum_k weight[task][k] * impairment_k + N(0, rater_noise)

clipped to [score_min, score_max] and rounded like a MOS (``labels.decimals``). With
``informative_lip_sync: false`` (default) lip_sync reproduces the chapter's label
facts instead (EmotionTalk, chapter 3.1.2: mean 4.763, std ~0, 100 % present):
``lip_sync = N(lip_sync_mean, lip_sync_std)``. Missing labels (-1.0) are drawn with
exact counts so each task's presence rate equals ``corpus.presence`` (rounded).
All base values and weights live in params.yaml ``corpus.labels``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from tqa.core.schema import MISSING, TASKS


def impairments(deg: pd.DataFrame) -> pd.DataFrame:
    """Impairments in [0, 1] per video from the degradation columns (see profiles.NEUTRAL)."""
    c = lambda x: np.clip(x, 0.0, 1.0)  # noqa: E731
    lp = deg["lowpass_hz"].astype(float)
    return pd.DataFrame({
        "offset": c(deg["av_offset_frames"].abs() / 10.0),
        "lag": c(deg["mouth_lag_s"] / 0.3),
        "mouth_gain": c((1.0 - deg["mouth_gain"]) / 0.5),
        "frozen": c(1.0 - deg["expr_gain"]),
        "jitter": c(deg["expr_jitter"] / 0.6),
        "mismatch": deg["expr_mismatch"].astype(float),
        "noise": c((40.0 - deg["snr_db"]) / 40.0),
        "band": np.where(lp > 0, c((4500.0 - lp) / 3800.0), 0.0),
        "clip": c((0.6 - deg["clip_level"]) / 0.56),
        "codec": c((32.0 - deg["audio_kbps"]) / 26.0),
        "swapped": deg["swapped_audio"].astype(float),
        "blur": c(deg["blur_sigma"] / 2.2),
        "jpeg": c((60.0 - deg["jpeg_quality"]) / 52.0),
        "flicker": c(deg["flicker_amp"] / 0.2),
    }, index=deg.index)


def simulate_labels(deg: pd.DataFrame, cfg: dict, seed: int, score_min: float = 1.0,
                    score_max: float = 5.0) -> pd.DataFrame:
    """labels.csv rows (video_id, five tasks, group, generator) from the degradation table.

    ``cfg`` is params ``corpus`` (uses labels, rater_noise, presence, informative_lip_sync).
    """
    lab = cfg["labels"]
    n = len(deg)
    imp = impairments(deg)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 4]))
    noise = rng.normal(0.0, float(cfg["rater_noise"]), (n, len(TASKS)))
    out = pd.DataFrame({"video_id": deg["video_id"].to_numpy()})
    for j, task in enumerate(TASKS):
        if task == "lip_sync" and not cfg.get("informative_lip_sync", False):
            s = rng.normal(float(lab["lip_sync_mean"]), float(lab["lip_sync_std"]), n)
        else:
            s = np.full(n, float(lab["base"][task]))
            for k, w in (lab["weights"].get(task) or {}).items():
                if k not in imp:
                    raise KeyError(f"corpus.labels.weights.{task}.{k}: unknown impairment; known {list(imp)}")
                s = s - float(w) * imp[k].to_numpy()
            s = s + noise[:, j]
        s = np.round(np.clip(s, score_min, score_max), int(lab.get("decimals", 2)))
        frac = float(cfg["presence"][task])
        mask = np.zeros(n, bool)
        mask[rng.permutation(n)[: int(round(frac * n))]] = True
        out[task] = np.where(mask, s, MISSING).astype(float)
    out["group"] = [f"id{int(i):02d}" for i in deg["identity"]]
    out["generator"] = deg["profile"].to_numpy()
    return out


def label_stats(labels: pd.DataFrame) -> pd.DataFrame:
    """Per task: presence rate, mean, std (ddof=1), min, max over present labels."""
    rows = []
    for task in TASKS:
        v = labels[task].to_numpy(float)
        p = v[v != MISSING]
        rows.append({"task": task, "present": float(len(p) / max(len(v), 1)), "n_present": int(len(p)),
                     "mean": float(p.mean()) if len(p) else np.nan,
                     "std": float(p.std(ddof=1)) if len(p) > 1 else np.nan,
                     "min": float(p.min()) if len(p) else np.nan, "max": float(p.max()) if len(p) else np.nan})
    return pd.DataFrame(rows)
