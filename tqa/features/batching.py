"""Neural forwards batched ACROSS clips (chapter 3.2.2): the units (crops, MFCC windows,
waveforms) of several clips share forwards of ``features.batch_frames`` frames.

Used by :class:`tqa.features.gpu.GPUOptimizedExtractor`; each neural extractor
(:class:`tqa.features.extractors.neural.NeuralExtractor`) prepares its units per clip,
:func:`forward_across` runs them in shared batches, and the extractor finishes each clip.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch

from tqa.features.extractors.base import Clip, as_heard
from tqa.features.extractors.neural import NeuralExtractor
from tqa.features.nets.runtime import precision_context, to_device


def forward_across(
    ext: NeuralExtractor,
    stream: str,
    arrays: list[np.ndarray],
    batch_units: int,
    dtype: torch.dtype | None,
    pin: bool,
) -> list[np.ndarray]:
    """Forward the units of ``stream`` of several clips in shared batches of ``batch_units``.

    ``arrays[c]`` holds clip c's units (N_c, ...); units of different shapes never share a
    batch. Returns, per clip, float32 (N_c, ...) outputs (an empty (0, 0) array for N_c = 0).
    Outputs stay on the device until every batch is done (one synchronisation per call).
    """
    device = ext.device
    _ = ext.model  # build/load once, before timing-sensitive loops
    per_clip: list[list[torch.Tensor]] = [[] for _ in arrays]
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for ci, a in enumerate(arrays):
        if len(a):
            by_shape[tuple(a.shape[1:])].append(ci)

    def flush(pending: list[tuple[int, int, int]]) -> None:
        x = np.concatenate([np.ascontiguousarray(arrays[ci][s:e]) for ci, s, e in pending])
        y = ext.forward_units(stream, to_device(x, device, pin=pin))
        pos = 0
        for ci, s, e in pending:
            per_clip[ci].append(y[pos : pos + e - s])
            pos += e - s

    with precision_context(device, dtype):
        for cis in by_shape.values():
            pending: list[tuple[int, int, int]] = []
            count = 0
            for ci in cis:
                n, start = len(arrays[ci]), 0
                while start < n:
                    take = min(batch_units - count, n - start)
                    pending.append((ci, start, start + take))
                    count, start = count + take, start + take
                    if count == batch_units:
                        flush(pending)
                        pending, count = [], 0
            if pending:
                flush(pending)
    return [
        torch.cat(p).float().cpu().numpy() if p else np.zeros((0, 0), np.float32) for p in per_clip
    ]


def run_neural(
    ext: NeuralExtractor,
    clips: dict[int, Clip],
    contexts: list[dict[str, Any]] | dict[int, dict[str, Any]],
    batch_frames: int,
    dtype: torch.dtype | None,
    pin: bool,
) -> dict[int, np.ndarray | Exception]:
    """One neural extractor over several clips: prepare each, forward their units in shared
        batches of ``batch_frames`` frames (autocast ``dtype``, pinned copies when ``pin``),
    finish each. Per clip: the float32 output or the
        exception that stopped it (a failed batched forward fails every clip of the call).
    """
    out: dict[int, np.ndarray | Exception] = {}
    prepared: dict[int, dict[str, np.ndarray]] = {}
    clips = {ci: as_heard(ext, clip) for ci, clip in clips.items()}  # as run_extractor does
    for ci, clip in clips.items():
        try:
            prepared[ci] = ext.prepare(clip, contexts[ci])
        except Exception as exc:  # noqa: BLE001 - one clip's problem
            out[ci] = exc
    embedded: dict[int, dict[str, np.ndarray]] = {ci: {} for ci in prepared}
    try:
        for stream in sorted({s for p in prepared.values() for s in p}):
            cis = [ci for ci in prepared if stream in prepared[ci]]
            outs = forward_across(
                ext,
                stream,
                [prepared[ci][stream] for ci in cis],
                ext.units_per_batch(stream, batch_frames),
                dtype,
                pin,
            )
            for ci, o in zip(cis, outs):
                embedded[ci][stream] = o
    except Exception as exc:  # e.g. out of device memory
        return {
            **out,
            **{
                ci: RuntimeError(f"batched forward: {type(exc).__name__}: {exc}") for ci in prepared
            },
        }
    for ci in prepared:
        try:
            out[ci] = np.asarray(ext.finish(clips[ci], contexts[ci], embedded[ci]), np.float32)
        except Exception as exc:  # noqa: BLE001
            out[ci] = exc
    return out
