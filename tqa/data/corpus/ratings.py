"""Simulated subjective ratings from several raters, and the raters' own reliability.

Each degradation level is mapped to an impairment in [0, 1] (0 = absent, 1 = severe), see
:func:`impairments`. A task's TRUE score is

    true = base[task] - sum_k weight[task][k] * impairment_k

and each of ``corpus.raters.n`` simulated raters r gives

    score_r = round(clip(true + bias_{r,task} + N(0, noise), score_min, score_max), decimals)

with a per-rater, per-task bias ~ N(0, raters.bias_std) (lenient / strict raters) and
noise ~ N(0, raters.noise_std); with ``decimals: 0`` the raters answer on the 5-point ACR
scale, as in a MOS test (ITU-T P.800 / P.910). The label is the mean of the raters
(a MOS), rounded to ``labels.decimals``. The per-rater scores are kept
(``ratings_raw.csv``) so that the agreement analysis can report the raters' own
consistency -- split-half reliability and ICC(2,k) (:func:`rater_reliability`) -- as
the ceiling a model is compared with.

``informative_lip_sync: false`` reproduces the chapter's near-constant lip_sync (chapter
3.1.2: mean 4.763, std ~0, 100 % present): every rater gives N(lip_sync_mean,
lip_sync_std). Missing labels (-1.0, and no raw ratings) are drawn with exact counts so each
task's presence rate equals ``corpus.presence`` (rounded). All base values and weights live
in params.yaml ``corpus.labels`` and ``corpus.raters``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tqa.core.schema import MISSING, TASKS


def impairments(deg: pd.DataFrame) -> pd.DataFrame:
    """Impairments in [0, 1] per video from the degradation columns (see profiles.NEUTRAL)."""
    c = lambda x: np.clip(x, 0.0, 1.0)  # noqa: E731
    lp = deg["lowpass_hz"].astype(float)
    get = lambda k, v: deg[k].astype(float) if k in deg else pd.Series(v, index=deg.index)  # noqa: E731
    return pd.DataFrame(
        {
            "offset": c(deg["av_offset_frames"].abs() / 10.0),
            "lag": c(deg["mouth_lag_s"] / 0.3),
            "mouth_gain": c((1.0 - deg["mouth_gain"]) / 0.5),
            "seg_desync": c(get("seg_desync_frames", 0.0).abs() / 10.0)
            * c(get("seg_desync_dur_s", 0.0) / 2.0),
            "mouth_freeze": c(get("mouth_freeze_dur_s", 0.0) / 2.0),
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
            "burst": c(get("flicker_burst_amp", 0.0) / 0.45) * c(get("flicker_burst_dur_s", 0.0)),
            "glitch": c(get("frame_glitch_rate", 0.0) / 0.16),
        },
        index=deg.index,
    )


def true_scores(deg: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Noise-free scores (N, 5) = base - sum weight * impairment (not clipped)."""
    lab = cfg["labels"]
    imp = impairments(deg)
    out = pd.DataFrame(index=deg.index)
    for task in TASKS:
        s = np.full(len(deg), float(lab["base"][task]))
        for k, w in (lab["weights"].get(task) or {}).items():
            if k not in imp:
                raise KeyError(
                    f"corpus.labels.weights.{task}.{k}: unknown impairment; known {list(imp)}"
                )
            s = s - float(w) * imp[k].to_numpy()
        out[task] = s
    return out


def _raters(cfg: dict) -> dict:
    r = dict(cfg.get("raters") or {})
    return {
        "n": int(r.get("n", 1)),
        "bias_std": float(r.get("bias_std", 0.0)),
        "noise_std": float(r.get("noise_std", cfg.get("rater_noise", 0.25))),
        "decimals": r.get("decimals", None),
    }


def simulate_ratings(
    deg: pd.DataFrame, cfg: dict, seed: int, score_min: float = 1.0, score_max: float = 5.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labels, raw): labels.csv rows (video_id, five tasks, group, generator) and the long
    per-rater table (video_id, task, rater, score) of the present labels.

    ``cfg`` is params ``corpus`` (labels, raters, presence, informative_lip_sync).
    """
    lab = cfg["labels"]
    rp = _raters(cfg)
    n, k = len(deg), rp["n"]
    if k < 1:
        raise ValueError(f"corpus.raters.n must be >= 1, got {k}")
    truth = true_scores(deg, cfg)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 4]))
    bias = rng.normal(0.0, rp["bias_std"], (k, len(TASKS)))
    noise = rng.normal(0.0, rp["noise_std"], (n, k, len(TASKS)))
    vids = deg["video_id"].to_numpy()
    out = pd.DataFrame({"video_id": vids})
    raw_parts = []
    for j, task in enumerate(TASKS):
        if task == "lip_sync" and not cfg.get("informative_lip_sync", True):
            per = rng.normal(float(lab["lip_sync_mean"]), float(lab["lip_sync_std"]), (n, k))
        else:
            per = truth[task].to_numpy()[:, None] + bias[None, :, j] + noise[:, :, j]
            per = np.clip(per, score_min, score_max)
            if rp["decimals"] is not None:
                per = np.round(per, int(rp["decimals"]))
        per = np.clip(per, score_min, score_max)
        s = np.round(per.mean(axis=1), int(lab.get("decimals", 2)))
        frac = float(cfg["presence"][task])
        mask = np.zeros(n, bool)
        mask[rng.permutation(n)[: int(round(frac * n))]] = True
        out[task] = np.where(mask, s, MISSING).astype(float)
        rows = np.flatnonzero(mask)
        raw_parts.append(
            pd.DataFrame(
                {
                    "video_id": np.repeat(vids[rows], k),
                    "task": task,
                    "rater": np.tile([f"r{r:02d}" for r in range(k)], len(rows)),
                    "score": per[rows].reshape(-1).round(4),
                }
            )
        )
    out["group"] = [f"id{int(i):02d}" for i in deg["identity"]]
    out["generator"] = deg["generator"].to_numpy()
    return out, pd.concat(raw_parts, ignore_index=True)


def simulate_labels(
    deg: pd.DataFrame, cfg: dict, seed: int, score_min: float = 1.0, score_max: float = 5.0
) -> pd.DataFrame:
    """labels.csv rows only (see :func:`simulate_ratings`)."""
    return simulate_ratings(deg, cfg, seed, score_min, score_max)[0]


# --------------------------------------------------------------------- rater reliability


def icc2k(x: np.ndarray) -> float:
    """ICC(2,k) of an (n targets, k raters) matrix without gaps: two-way random effects,
    absolute agreement, reliability of the MEAN of the k raters (Shrout & Fleiss 1979,
    eq. for ICC(2,k); McGraw & Wong 1996 ICC(A,k)):

        ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n)

    MSR: between-targets mean square, MSC: between-raters, MSE: residual."""
    x = np.asarray(x, dtype=np.float64)
    n, k = x.shape
    if n < 2 or k < 2:
        return float("nan")
    grand = x.mean()
    ss_r = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_c = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_e = ((x - grand) ** 2).sum() - ss_r - ss_c
    msr, msc, mse = ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))
    den = msr + (msc - mse) / n
    return float((msr - mse) / den) if den > 0 else float("nan")


def split_half(x: np.ndarray, n_splits: int = 50, seed: int = 0) -> float:
    """Split-half reliability of the mean of k raters: Pearson r between the means of two
    random halves of the raters, Spearman-Brown corrected (2r / (1 + r)), averaged over
    ``n_splits`` random splits (one split, odd/even raters, when k is 2 or 3)."""
    x = np.asarray(x, dtype=np.float64)
    n, k = x.shape
    if n < 3 or k < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    splits = (
        [np.arange(k) % 2 == 0]
        if k < 4
        else [np.isin(np.arange(k), rng.permutation(k)[: k // 2]) for _ in range(n_splits)]
    )
    vals = []
    for a in splits:
        h1, h2 = x[:, a].mean(axis=1), x[:, ~a].mean(axis=1)
        if h1.std() == 0 or h2.std() == 0:
            continue
        r = float(np.corrcoef(h1, h2)[0, 1])
        vals.append(2 * r / (1 + r))
    return float(np.mean(vals)) if vals else float("nan")


def rater_reliability(raw: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per task: n_videos, n_raters, ICC(2,k), split-half reliability, and the Pearson
    ceiling sqrt(ICC(2,k)): the expected correlation of the true score with the raters'
    mean, which no predictor can beat in expectation (attenuation, Spearman 1904).

    ``raw``: long table (video_id, task, rater, score) as in ``ratings_raw.csv``; videos
    lacking a rater's score are left out for that task."""
    missing = {"video_id", "task", "rater", "score"} - set(raw.columns)
    if missing:
        raise ValueError(f"ratings table lacks column(s) {sorted(missing)}")
    rows = []
    for task in [t for t in TASKS if t in set(raw["task"])]:
        wide = raw[raw["task"] == task].pivot_table(
            index="video_id", columns="rater", values="score", aggfunc="mean"
        )
        wide = wide.dropna()
        x = wide.to_numpy()
        icc = icc2k(x)
        sh = split_half(x, seed=seed)
        rows.append(
            {
                "task": task,
                "n_videos": int(x.shape[0]),
                "n_raters": int(x.shape[1]),
                "icc2k": icc,
                "split_half": sh,
                "pearson_ceiling": float(np.sqrt(icc)) if icc > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def label_stats(labels: pd.DataFrame) -> pd.DataFrame:
    """Per task: presence rate, mean, std (ddof=1), min, max over present labels."""
    rows = []
    for task in TASKS:
        v = labels[task].to_numpy(float)
        p = v[v != MISSING]
        rows.append(
            {
                "task": task,
                "present": float(len(p) / max(len(v), 1)),
                "n_present": int(len(p)),
                "mean": float(p.mean()) if len(p) else np.nan,
                "std": float(p.std(ddof=1)) if len(p) > 1 else np.nan,
                "min": float(p.min()) if len(p) else np.nan,
                "max": float(p.max()) if len(p) else np.nan,
            }
        )
    return pd.DataFrame(rows)
