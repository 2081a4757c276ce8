"""Simulated generators and the per-video ground-truth degradation table (``plan_corpus``).

Every video draws SEVERAL co-occurring defects at CONTINUOUS levels (the old design gave
each video one of 8 profiles, and the mean label per profile predicted the test labels
better than any model). A ``generator`` (``sim_a`` ... ``sim_f``) stands for one talking-face
method: it has its own, overlapping, propensity for each defect family and a severity
scale, but most of the variance is WITHIN a generator: a lookup of the mean label per
generator (the ``generator_mean`` baseline) explains only a small part of it.

Defect families (each present with the generator's probability; level u ~ U(0, 1) times
the generator's severity; columns of ``degradations.csv``, neutral values in NEUTRAL):

==============  ========================================================================
family          columns (level mapping)
==============  ========================================================================
offset          av_offset_frames = +-round(1 + 11 u)        (+ = audio delayed, whole clip)
lag             mouth_lag_s = 0.05 + 0.25 u; mouth_gain = 1 - 0.5 u'
seg_desync      seg_desync_frames = +-round(3 + 9 u) for seg_desync_start_s, _dur_s
                (1 - 2.5 s): the mouth follows shifted speech in that segment only
mouth_freeze    mouth_freeze_start_s, mouth_freeze_dur_s = 0.5 + 2 u: mouth held still
expr_frozen     expr_gain = 1 - 0.9 u (face, blinks and head motion damped)
jitter          expr_jitter = 0.08 + 0.5 u (per-frame random motion)
mismatch        expr_mismatch = 1 (expression driven by another sentence's prosody)
swap            swapped_audio = 1 (another sentence of the same speaker)
noise           snr_db = 35 - 33 u
band            lowpass_hz = 4200 - 3500 u
clip            clip_level = 0.5 - 0.46 u
codec           audio_kbps = round(32 - 26 u)
blur            blur_sigma = 0.3 + 1.9 u (px)
jpeg            jpeg_quality = round(60 - 52 u)
flicker         flicker_amp = 0.02 + 0.18 u (every frame)
burst           flicker_burst_amp = 0.1 + 0.35 u for flicker_burst_start_s, _dur_s (0.3-1 s)
glitch          frame_glitch_rate = 0.02 + 0.14 u (frames duplicated / dropped, in pairs)
==============  ========================================================================

Identities and sentences: identity ``i`` speaks with one voice (VOICES[i % 6], its own
pitch) and only its own sentences (``texts_per_identity`` of TEXTS, disjoint between
identities while TEXTS has enough of them), so a split by ``group`` separates faces,
voices AND sentences.

Everything is drawn from ``SeedSequence([seed, ...])`` so row ``i`` does not depend on how
many videos are built; only the off-format choice and the identity assignment use exact
counts over the whole corpus.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from tqa.core import scalar_math
from tqa.data.corpus.speech import TEXTS, VOICES

log = logging.getLogger(__name__)

#: Simulated generator names (the ``generator`` column).
GENERATORS: tuple[str, ...] = ("sim_a", "sim_b", "sim_c", "sim_d", "sim_e", "sim_f")

#: Defect families (see the module docstring).
FAMILIES: tuple[str, ...] = (
    "offset", "lag", "seg_desync", "mouth_freeze", "expr_frozen", "jitter", "mismatch", "swap",
    "noise", "band", "clip", "codec", "blur", "jpeg", "flicker", "burst", "glitch",
)  # fmt: skip

#: Off-format choices: fps, (height, width).
OFF_FPS: tuple[int, ...] = (24, 30)
OFF_SIZES: tuple[tuple[int, int], ...] = ((160, 160), (256, 256), (240, 320))

#: Neutral value of every degradation column (= "not applied").
NEUTRAL: dict[str, float] = {
    "av_offset_frames": 0, "mouth_lag_s": 0.0, "mouth_gain": 1.0,
    "seg_desync_frames": 0, "seg_desync_start_s": 0.0, "seg_desync_dur_s": 0.0,
    "mouth_freeze_start_s": 0.0, "mouth_freeze_dur_s": 0.0,
    "expr_gain": 1.0, "expr_jitter": 0.0, "expr_mismatch": 0, "blink_rate_hz": 0.3,
    "snr_db": 60.0, "lowpass_hz": 0.0, "clip_level": 1.0, "audio_kbps": 64,
    "swapped_audio": 0, "blur_sigma": 0.0, "jpeg_quality": 100, "flicker_amp": 0.0,
    "flicker_burst_amp": 0.0, "flicker_burst_start_s": 0.0, "flicker_burst_dur_s": 0.0,
    "frame_glitch_rate": 0.0,
}  # fmt: skip

#: Mean probability of each family (before the generator's multiplier); the rare binary
#: defects (mismatch, swap) less often.
BASE_PROB: dict[str, float] = {f: 0.22 for f in FAMILIES} | {"mismatch": 0.08, "swap": 0.08}


def generator_traits(seed: int) -> dict[str, dict]:
    """Per generator: ``prob`` (family -> probability) and ``severity`` (family -> scale).

    Multipliers exp(N(0, 0.45)) on BASE_PROB (clipped to [0.03, 0.6]) and severities
    U(0.6, 1.0): characteristic but overlapping defect distributions.
    """
    out = {}
    for g, name in enumerate(GENERATORS):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11, g]))
        mult = scalar_math.exp(rng.normal(0.0, 0.45, len(FAMILIES)))
        sev = rng.uniform(0.6, 1.0, len(FAMILIES))
        out[name] = {
            "prob": {
                f: float(np.clip(BASE_PROB[f] * m, 0.03, 0.6)) for f, m in zip(FAMILIES, mult)
            },
            "severity": {f: float(s) for f, s in zip(FAMILIES, sev)},
        }
    return out


def _segment(rng: np.random.Generator, dur_s: float, clip_s: float) -> tuple[float, float]:
    """(start_s, dur_s) of a segment of length ``dur_s`` inside a clip of ``clip_s`` seconds."""
    dur_s = min(dur_s, 0.8 * clip_s)
    return float(rng.uniform(0.3, max(clip_s - dur_s - 0.2, 0.31))), float(dur_s)


#: Every video's background (no defect drawn): SNR in dB and blur sigma in px, uniform in these
#: ranges. A drawn noise / blur defect lies beyond them (at most :data:`NOISE_SNR_DB` dB, at
#: least :data:`BLUR_SIGMA_PX` px), which is how the defect benchmark tells it from background.
BACKGROUND_SNR_DB: tuple[float, float] = (38.0, 50.0)
BACKGROUND_BLUR_PX: tuple[float, float] = (0.0, 0.3)
NOISE_SNR_DB, BLUR_SIGMA_PX = 35.0, BACKGROUND_BLUR_PX[1]


def draw_degradations(traits: dict, rng: np.random.Generator, clip_s: float = 6.0) -> dict:
    """Degradation levels of one video of a generator with ``traits`` (dict over NEUTRAL)."""
    d = dict(NEUTRAL)
    d["blur_sigma"] = float(rng.uniform(*BACKGROUND_BLUR_PX))  # background: mild softness,
    d["snr_db"] = float(rng.uniform(*BACKGROUND_SNR_DB))  # high SNR
    on = {f: bool(rng.random() < traits["prob"][f]) for f in FAMILIES}
    u = {f: float(rng.uniform(0.0, 1.0) * traits["severity"][f]) for f in FAMILIES}
    sign = lambda: int(rng.choice([-1, 1]))  # noqa: E731
    if on["offset"]:
        d["av_offset_frames"] = sign() * int(round(1 + 11 * u["offset"]))
    if on["lag"]:
        d["mouth_lag_s"] = 0.05 + 0.25 * u["lag"]
        d["mouth_gain"] = float(1.0 - 0.5 * rng.uniform(0.0, 1.0) * traits["severity"]["lag"])
    if on["seg_desync"]:
        d["seg_desync_frames"] = sign() * int(round(3 + 9 * u["seg_desync"]))
        s0, dur = _segment(rng, float(rng.uniform(1.0, 2.5)), clip_s)
        d["seg_desync_start_s"], d["seg_desync_dur_s"] = s0, dur
    if on["mouth_freeze"]:
        s0, dur = _segment(rng, 0.5 + 2.0 * u["mouth_freeze"], clip_s)
        d["mouth_freeze_start_s"], d["mouth_freeze_dur_s"] = s0, dur
    if on["expr_frozen"]:
        d["expr_gain"] = 1.0 - 0.9 * u["expr_frozen"]
        d["blink_rate_hz"] = 0.3 * d["expr_gain"]
    if on["jitter"]:
        d["expr_jitter"] = 0.08 + 0.5 * u["jitter"]
    if on["mismatch"]:
        d["expr_mismatch"] = 1
    if on["swap"]:
        d["swapped_audio"] = 1
    if on["noise"]:
        d["snr_db"] = NOISE_SNR_DB - 33.0 * u["noise"]
    if on["band"]:
        d["lowpass_hz"] = 4200.0 - 3500.0 * u["band"]
    if on["clip"]:
        d["clip_level"] = 0.5 - 0.46 * u["clip"]
    if on["codec"]:
        d["audio_kbps"] = int(round(32 - 26 * u["codec"]))
    if on["blur"]:
        d["blur_sigma"] = BLUR_SIGMA_PX + 1.9 * u["blur"]
    if on["jpeg"]:
        d["jpeg_quality"] = int(round(60 - 52 * u["jpeg"]))
    if on["flicker"]:
        d["flicker_amp"] = 0.02 + 0.18 * u["flicker"]
    if on["burst"]:
        d["flicker_burst_amp"] = 0.1 + 0.35 * u["burst"]
        s0, dur = _segment(rng, float(rng.uniform(0.3, 1.0)), clip_s)
        d["flicker_burst_start_s"], d["flicker_burst_dur_s"] = s0, dur
    if on["glitch"]:
        d["frame_glitch_rate"] = 0.02 + 0.14 * u["glitch"]
    return d


def identity_texts(identity: int, n_identities: int, per_identity: int) -> list[int]:
    """Sentence ids (into TEXTS) spoken by ``identity``: blocks of ``per_identity``, disjoint
    between identities while ``n_identities * per_identity <= len(TEXTS)`` (then reused
    round-robin)."""
    return [(identity * per_identity + j) % len(TEXTS) for j in range(per_identity)]


def _exact_mask(
    n: int, frac: float, rng: np.random.Generator, at_least_one: bool = False
) -> np.ndarray:
    k = int(round(frac * n))
    if at_least_one and frac > 0 and n > 1:
        k = max(k, 1)
    mask = np.zeros(n, bool)
    mask[rng.permutation(n)[:k]] = True
    return mask


def plan_corpus(n: int, cfg: dict, seed: int) -> pd.DataFrame:
    """The ground-truth table of an ``n``-video corpus (one row per video), no rendering.

    Columns: video_id, index, generator, identity, text_id, swap_text_id, voice, rate_wpm,
    pitch, onset_s, fps, n_frames, height, width, off_format, render_seed, then every
    degradation column of :data:`NEUTRAL`.
    """
    gens = list(cfg.get("generators") or GENERATORS)
    unknown = sorted(set(gens) - set(GENERATORS))
    if unknown:
        raise ValueError(f"corpus.generators: unknown {unknown}; known: {list(GENERATORS)}")
    traits = generator_traits(seed)
    n_id = int(cfg["n_identities"])
    per_id = int(cfg.get("texts_per_identity", 2))
    if n_id * per_id > len(TEXTS):  # a sentence would reach two groups: leakage across splits
        log.warning(
            "corpus: %d identities x %d sentences > the %d shipped sentences: some are reused "
            "by two identities (a group split then shares them)",
            n_id,
            per_id,
            len(TEXTS),
        )
    rng_g = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    identities = rng_g.permutation(np.resize(np.arange(n_id), n))  # balanced, shuffled
    generators = rng_g.permutation(np.resize(np.arange(len(gens)), n))
    off = _exact_mask(n, float(cfg.get("off_format_fraction", 0.0)), rng_g, at_least_one=True)
    voice_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 5]))
    pitches = voice_rng.integers(30, 71, n_id)
    rates = voice_rng.integers(140, 176, n_id)
    rows = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2, i]))
        identity = int(identities[i])
        own = identity_texts(identity, n_id, per_id)
        text_id = int(own[int(rng.integers(len(own)))])
        others = [t for t in own if t != text_id] or [(text_id + 1) % len(TEXTS)]
        swap = int(others[int(rng.integers(len(others)))])
        row = {
            "video_id": f"syn{i:04d}", "index": i, "generator": gens[int(generators[i])],
            "identity": identity, "text_id": text_id, "swap_text_id": swap,
            "voice": VOICES[identity % len(VOICES)],
            "rate_wpm": int(rates[identity] + rng.integers(-6, 7)), "pitch": int(pitches[identity]),
            "onset_s": float(rng.uniform(0.2, 0.7)),
            "fps": int(cfg["fps"]), "n_frames": int(cfg["n_frames"]),
            "height": int(cfg["size"]), "width": int(cfg["size"]), "off_format": bool(off[i]),
            "render_seed": int(rng.integers(2**31 - 1)),
        }  # fmt: skip
        rng_o = np.random.default_rng(np.random.SeedSequence([int(seed), 3, i]))
        if off[i]:
            fps = int(rng_o.choice(OFF_FPS))
            h, w = OFF_SIZES[int(rng_o.integers(len(OFF_SIZES)))]
            dur = float(rng_o.uniform(4.0, 8.0))
            row.update(fps=fps, n_frames=int(round(dur * fps)), height=h, width=w)
        clip_s = row["n_frames"] / row["fps"]
        row.update(draw_degradations(traits[row["generator"]], rng, clip_s))
        rows.append(row)
    return pd.DataFrame(rows)


def clean_row(row: dict) -> dict:
    """A copy of a planned ``row`` with every degradation column at its neutral value
    (tests and figures that inject one defect at a time start from it)."""
    return {**row, **NEUTRAL}
