"""Per-extractor fingerprints of a feature cache: which extractor two machines disagree on.

Why (issue 23): a fresh clone rebuilt on another CPU writes a feature cache whose DVC hash
differs from the committed one (`dvc.lock`, stage `extract`), and every report downstream
may move in its last digits; the hash alone does not say which extractor's output changed
(the landmark model's TFLite / XNNPACK kernels and DNSMOS's onnxruntime pick their SIMD
code by the CPU and cannot be pinned: `bin/tqa-py`). The extraction summary
(`reports/extraction_summary.json`, tracked in git) therefore records, per extractor, a
content digest of its columns and the exact sum of their absolute values: `git diff` of
that file after a rebuild names the extractor that differs, and the two sums say by how
much, in the units of its columns.

Both are machine-independent functions of the cached values: the digest reads float32
bytes with every NaN written as one quiet NaN and -0.0 as 0.0; the sum is `math.fsum` of
float64 copies of the float32 values (correctly rounded, so the same whatever the order or
the SIMD width).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tqa.features import cache as fcache

#: Hex digits of the SHA-1 kept per extractor (64 bits: a chance collision is no concern).
DIGEST_HEX = 16


def extractor_columns(extractors: Mapping[str, Any]) -> dict[str, tuple[str, slice]]:
    """``"<modality>/<extractor>"`` -> (stream, its column slice) from the cache meta's
    ``extractors`` (a stacked ``a+b`` lists its ``parts`` in column order, each with its
    ``dim``). ValueError when the parts' widths do not add up to the stream's."""
    out: dict[str, tuple[str, slice]] = {}
    for modality in sorted(extractors):
        desc = extractors[modality] or {}
        parts = desc.get("parts") or [desc]
        start = 0
        for part in parts:
            dim = int(part.get("dim") or 0)
            out[f"{modality}/{part.get('name', modality)}"] = (modality, slice(start, start + dim))
            start += dim
        if desc.get("dim") is not None and start != int(desc["dim"]):
            raise ValueError(
                f"extractor {modality!r}: parts' widths sum to {start}, stream has {desc['dim']}"
            )
    return out


def cache_fingerprints(
    cache_dir: str | os.PathLike, video_ids: Iterable[str], extractors: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per extractor (:func:`extractor_columns`): ``sha1`` (of its values over the videos in
    sorted id order, frames and columns), ``abs_sum`` (exact sum of |value| over the finite
    ones, 15 significant digits), ``n_values`` and ``n_nan``. The sync triple is the stream
    ``sync`` (one row per video)."""
    cols = extractor_columns(extractors)
    digests = {k: hashlib.sha1() for k in cols}
    sums: dict[str, list[float]] = {k: [] for k in cols}
    counts = {k: [0, 0] for k in cols}
    for vid in sorted(video_ids):
        streams, sync, _ = fcache.read_features(fcache.cache_file(cache_dir, vid))
        arrays = {**streams, "sync": np.asarray(sync).reshape(1, -1)}
        for key, (stream, sl) in cols.items():
            if stream not in arrays:
                continue
            a = np.ascontiguousarray(np.asarray(arrays[stream])[:, sl], dtype=np.float32)
            a = a + np.float32(0.0)  # -0.0 -> 0.0
            nan = np.isnan(a)
            a[nan] = np.float32("nan")
            digests[key].update(vid.encode() + str(a.shape).encode() + a.tobytes())
            sums[key].append(math.fsum(np.abs(a[~nan]).astype(np.float64).tolist()))
            counts[key][0] += int(a.size)
            counts[key][1] += int(nan.sum())
    return {
        key: {
            "sha1": digests[key].hexdigest()[:DIGEST_HEX],
            "abs_sum": float(f"{math.fsum(sums[key]):.15g}"),
            "n_values": counts[key][0],
            "n_nan": counts[key][1],
        }
        for key in cols
    }
