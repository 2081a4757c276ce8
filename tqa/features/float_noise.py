"""Float-noise emulation: another CPU's last bits on the extracted features (issue 23).

A second machine computes the extractors' floats in another order and writes other last
bits: a relative 9.7e-8 at the median, up to 5.8e-6 at the 99th percentile, between two x86
CPUs (docs/corpus.md). ``features.quantize_bits`` rounds the streams at the cache boundary so
that such noise rarely survives. Issue 23's acceptance test asks for exactly that check
without a second machine: with ``TQA_FEATURE_NOISE=<relative sd>`` in the environment,
:meth:`tqa.features.pipeline.FeatureExtractor.extract_clip` multiplies every value of every
extractor's output by ``1 + sd * N(0, 1)`` *before* the rounding, with a generator seeded
by the video and the stream, so the same run is reproducible. A fresh clone's
``make repro`` under it (``TQA_FEATURE_NOISE=1e-7 bash benchmarks/fresh_clone_repro.sh``)
then shows which tracked outputs such noise can still move.

Not a parameter: no DVC stage, cache key or bundle records it, on purpose (it emulates a
machine, it is not a setting of the study); never set it for a real run, and rebuild the
feature cache (a fresh clone) after using it. The extractors' context (the landmarks the
``au`` extractors read) is not perturbed, only what each extractor returns.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

#: Environment variable: the relative standard deviation of the emulated noise (unset: none).
ENV = "TQA_FEATURE_NOISE"


def noise_level() -> float:
    """The relative sd of ``TQA_FEATURE_NOISE`` (0 when unset or empty); ValueError on a
    negative or non-numeric value."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 0.0
    try:
        sd = float(raw)
    except ValueError:
        raise ValueError(
            f"{ENV}={raw!r}: expected a relative standard deviation such as 1e-7"
        ) from None
    if not np.isfinite(sd) or sd < 0:
        raise ValueError(f"{ENV}={raw!r}: expected a finite, non-negative number")
    return sd


def perturbed(x: np.ndarray, key: str, sd: float | None = None) -> np.ndarray:
    """``x`` (any shape) times ``1 + sd * N(0, 1)``, element-wise, in float64 then back to
    ``x``'s dtype; the normal draws are seeded by ``key`` (e.g. ``"<video_id>/<stream>"``).
    ``sd`` None: :func:`noise_level`; 0: ``x`` itself (no copy)."""
    sd = noise_level() if sd is None else float(sd)
    if sd == 0.0:
        return x
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    z = np.random.default_rng(seed).standard_normal(np.shape(x))
    a = np.asarray(x)
    return (a.astype(np.float64) * (1.0 + sd * z)).astype(a.dtype)
