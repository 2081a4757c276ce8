"""Generator profiles and the per-video ground-truth degradation table.

A profile stands for one kind of talking-face generator failure (as Wav2Lip,
SadTalker, GeneFace++ differ by method). Each draws CONTINUOUS degradation levels at
random, each tied to one quality dimension:

=================  ===============  ===================================================
profile            dimension        degradation parameters (ranges drawn uniformly)
=================  ===============  ===================================================
clean              (reference)      background only (mild blur, high-SNR noise)
lip_desync         lip_sync         av_offset_frames +-[2, 12] (+ = audio delayed);
                                    p=0.5 mouth_lag_s [0.08, 0.3], mouth_gain [0.5, 1]
expr_frozen        expression       expr_gain [0, 0.25] (face, blinks, head motion)
expr_jitter        expression       expr_jitter [0.15, 0.6] (per-frame random motion)
audio_degraded     audio_quality    1-2 of: snr_db [0, 20], lowpass_hz [700, 3000],
                                    clip_level [0.04, 0.3], audio_kbps [6, 12]
cross_mismatch     cross_modal      p=0.6 swapped_audio (another sentence), else
                                    expr_mismatch (expression driven by other prosody)
visual_degraded    overall          1-2 of: blur_sigma [0.8, 2.2] px, jpeg_quality [8, 30],
                                    flicker_amp [0.06, 0.2]
in_the_wild        all              3 factors from all of the above at moderate levels
=================  ===============  ===================================================

Everything is drawn from ``SeedSequence([seed, index])`` so row ``i`` does not depend
on how many videos are built; only the off-format choice and the label presence
masks use exact counts over the whole corpus.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from tqa.data.corpus.speech import TEXTS, VOICES

PROFILES: tuple[str, ...] = (
    "clean", "lip_desync", "expr_frozen", "expr_jitter",
    "audio_degraded", "cross_mismatch", "visual_degraded", "in_the_wild",
)

#: Off-format choices: fps, (height, width).
OFF_FPS: tuple[int, ...] = (24, 30)
OFF_SIZES: tuple[tuple[int, int], ...] = ((160, 160), (256, 256), (240, 320))

#: Neutral value of every degradation column (= "not applied").
NEUTRAL: dict[str, float] = {
    "av_offset_frames": 0, "mouth_lag_s": 0.0, "mouth_gain": 1.0,
    "expr_gain": 1.0, "expr_jitter": 0.0, "expr_mismatch": 0, "blink_rate_hz": 0.3,
    "snr_db": 60.0, "lowpass_hz": 0.0, "clip_level": 1.0, "audio_kbps": 64,
    "swapped_audio": 0, "blur_sigma": 0.0, "jpeg_quality": 100, "flicker_amp": 0.0,
}


def _lip(rng: np.random.Generator, d: dict, strength: float = 1.0) -> None:
    d["av_offset_frames"] = int(rng.choice([-1, 1]) * rng.integers(2, int(2 + 10 * strength) + 1))
    if rng.random() < 0.5:
        d["mouth_lag_s"] = float(rng.uniform(0.08, 0.08 + 0.22 * strength))
        d["mouth_gain"] = float(rng.uniform(1 - 0.5 * strength, 1.0))


def _frozen(rng, d, strength=1.0):
    d["expr_gain"] = float(rng.uniform(0.0, 0.25 + 0.5 * (1 - strength)))
    d["blink_rate_hz"] = float(0.3 * d["expr_gain"])


def _jitter(rng, d, strength=1.0):
    d["expr_jitter"] = float(rng.uniform(0.15, 0.15 + 0.45 * strength))


_AUDIO = {
    "snr_db": lambda rng, s: float(rng.uniform(0, 20) + 15 * (1 - s)),
    "lowpass_hz": lambda rng, s: float(rng.uniform(700, 3000) + 1500 * (1 - s)),
    "clip_level": lambda rng, s: float(rng.uniform(0.04, 0.3) + 0.3 * (1 - s)),
    "audio_kbps": lambda rng, s: int(rng.integers(6, 13) + 12 * (1 - s)),
}
_VISUAL = {
    "blur_sigma": lambda rng, s: float(rng.uniform(0.8, 2.2) * (0.5 + 0.5 * s)),
    "jpeg_quality": lambda rng, s: int(rng.integers(8, 31) + 20 * (1 - s)),
    "flicker_amp": lambda rng, s: float(rng.uniform(0.06, 0.2) * (0.5 + 0.5 * s)),
}


def _pick(rng, table, d, k, strength=1.0):
    for key in rng.choice(sorted(table), size=k, replace=False):
        d[str(key)] = table[str(key)](rng, strength)


def _cross(rng, d, strength=1.0):
    if rng.random() < 0.6:
        d["swapped_audio"] = 1
    else:
        d["expr_mismatch"] = 1


_FACTORS = {
    "lip": _lip, "frozen": _frozen, "jitter": _jitter, "cross": _cross,
    "audio": lambda rng, d, s: _pick(rng, _AUDIO, d, 1, s),
    "visual": lambda rng, d, s: _pick(rng, _VISUAL, d, 1, s),
}


def draw_degradations(profile: str, rng: np.random.Generator) -> dict:
    """Degradation levels for one video of ``profile`` (dict over NEUTRAL's keys)."""
    d = dict(NEUTRAL)
    d["blur_sigma"] = float(rng.uniform(0.0, 0.6))
    d["snr_db"] = float(rng.uniform(30.0, 50.0))
    if profile == "clean":
        pass
    elif profile == "lip_desync":
        _lip(rng, d)
    elif profile == "expr_frozen":
        _frozen(rng, d)
    elif profile == "expr_jitter":
        _jitter(rng, d)
    elif profile == "audio_degraded":
        _pick(rng, _AUDIO, d, int(rng.integers(1, 3)))
    elif profile == "cross_mismatch":
        _cross(rng, d)
    elif profile == "visual_degraded":
        _pick(rng, _VISUAL, d, int(rng.integers(1, 3)))
    elif profile == "in_the_wild":
        names = [str(k) for k in rng.choice(sorted(_FACTORS), size=3, replace=False)]
        if "frozen" in names and "jitter" in names:
            names.remove("jitter")
        for k in names:
            _FACTORS[k](rng, d, 0.5)
    else:
        raise ValueError(f"unknown corpus profile {profile!r}; known: {PROFILES}")
    return d


def _exact_mask(n: int, frac: float, rng: np.random.Generator, at_least_one: bool = False) -> np.ndarray:
    k = int(round(frac * n))
    if at_least_one and frac > 0 and n > 1:
        k = max(k, 1)
    mask = np.zeros(n, bool)
    mask[rng.permutation(n)[:k]] = True
    return mask


def plan_corpus(n: int, cfg: dict, seed: int) -> pd.DataFrame:
    """The ground-truth table of an ``n``-video corpus (one row per video), no rendering.

    Columns: video_id, index, profile, identity, text_id, swap_text_id, voice, rate_wpm,
    pitch, onset_s, fps, n_frames, height, width, off_format, render_seed, then every
    degradation column of :data:`NEUTRAL`.
    """
    profiles = list(cfg.get("profiles") or PROFILES)
    n_id = int(cfg["n_identities"])
    rng_g = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    order = rng_g.permutation(len(profiles))
    identities = rng_g.permutation(np.resize(np.arange(n_id), n))  # balanced, shuffled
    off = _exact_mask(n, float(cfg.get("off_format_fraction", 0.0)), rng_g, at_least_one=True)
    rows = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2, i]))
        profile = profiles[order[i % len(profiles)]]
        identity = int(identities[i])
        text_id = int(rng.integers(len(TEXTS)))
        swap = int((text_id + rng.integers(1, len(TEXTS))) % len(TEXTS))
        row = {
            "video_id": f"syn{i:04d}", "index": i, "profile": profile, "identity": identity,
            "text_id": text_id, "swap_text_id": swap, "voice": VOICES[int(rng.integers(len(VOICES)))],
            "rate_wpm": int(rng.integers(145, 176)), "pitch": int(rng.integers(35, 66)),
            "onset_s": float(rng.uniform(0.2, 0.7)),
            "fps": int(cfg["fps"]), "n_frames": int(cfg["n_frames"]),
            "height": int(cfg["size"]), "width": int(cfg["size"]), "off_format": bool(off[i]),
            "render_seed": int(rng.integers(2**31 - 1)),
        }
        rng_o = np.random.default_rng(np.random.SeedSequence([int(seed), 3, i]))
        if off[i]:
            fps = int(rng_o.choice(OFF_FPS))
            h, w = OFF_SIZES[int(rng_o.integers(len(OFF_SIZES)))]
            dur = float(rng_o.uniform(4.0, 8.0))
            row.update(fps=fps, n_frames=int(round(dur * fps)), height=h, width=w)
        row.update(draw_degradations(profile, rng))
        rows.append(row)
    return pd.DataFrame(rows)
