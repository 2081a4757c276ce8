"""``syncnet``: SyncNet lip-sync triple (offset, LSE-D, LSE-C) per video.

Follows joonson/syncnet_python ``SyncNetInstance.evaluate`` (Chung & Zisserman 2016;
LSE-D / LSE-C as named by Prajwal et al. 2020, Wav2Lip):

* lip stream: 224 x 224 face crops in BGR, raw 0..255 (syncnet_python's ``crop_video``
  geometry: a square of side ``2 * bs * (1 + 0.4)`` around the face box, ``bs`` = half
  its longer side, shifted down by ``0.4 * bs`` towards the mouth and chin, outside pixels
  filled with 110), here from ``context["face_box"]`` (landmark box, nearest box held
  through short detection drops);
* audio stream: 13 MFCC at 100 Hz (:func:`tqa.features.nets.mfcc.mfcc`), windows of 20 MFCC frames
  starting at ``4 * i`` for the 5-frame video window starting at frame ``i``;
  ``min(T, floor(S / 640)) - 5`` windows (syncnet_python's count);
* distances: for each video window ``i`` and shift ``k`` in ``-m..m`` (``m`` =
  ``features.sync_max_offset``, 15), ``d[i, k] = ||v_i - a_{i+k}||`` with zero embeddings
  outside the clip (``calc_pdist``); ``mean_k = mean_i d[i, k]``.

Outputs, in :data:`tqa.core.schema.SYNC_FIELDS` order:

* ``offset`` = ``argmin_k mean_k`` in frames, **positive = audio delayed relative to
  video** (tqa's convention; syncnet_python prints ``vshift - minidx``, the opposite sign);
* ``distance`` = ``min_k mean_k`` (LSE-D, lower is better);
* ``confidence`` = ``median_k mean_k - min_k mean_k`` (LSE-C, higher is better).

A clip without audio, without any detected face, or shorter than 6 frames gives NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from tqa.core.schema import SYNC_FIELDS
from tqa.features.extractors.base import Clip, register
from tqa.features.extractors.neural import NeuralExtractor, crop_resize, fill_boxes
from tqa.features.nets.mfcc import mfcc
from tqa.features.nets.syncnet import (
    CROP_SIZE,
    EMBED_DIM,
    MFCC_PER_FRAME,
    MFCC_WINDOW,
    WINDOW_FRAMES,
    SyncNet,
)

#: syncnet_python run_pipeline defaults: crop scale and the pad colour.
CROP_SCALE: float = 0.4
PAD_VALUE: int = 110
#: syncnet_python's torch.nn.functional.pairwise_distance epsilon.
PDIST_EPS: float = 1e-6


def syncnet_crop_box(box: np.ndarray, crop_scale: float = CROP_SCALE) -> np.ndarray:
    """syncnet_python's face crop (x0, y0, x1, y1) around a face box, shifted towards the chin."""
    x0, y0, x1, y1 = (float(v) for v in box)
    bs = max(x1 - x0, y1 - y0) / 2.0
    mx, my = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return np.array(
        [
            mx - bs * (1 + crop_scale),
            my - bs,
            mx + bs * (1 + crop_scale),
            my + bs * (1 + 2 * crop_scale),
        ]
    )


def offset_distances(vid: np.ndarray, aud: np.ndarray, max_offset: int) -> np.ndarray:
    """(N, 2m+1) distances ``d[i, k] = ||vid_i - aud_{i+k-m} + eps||`` (zero rows outside).

    Same as syncnet_python's ``calc_pdist`` (torch ``pairwise_distance``, eps 1e-6).
    """
    v = torch.as_tensor(np.asarray(vid, np.float32))
    a = torch.as_tensor(np.asarray(aud, np.float32))
    if v.shape != a.shape:
        raise ValueError(
            f"video embeddings {tuple(v.shape)} and audio embeddings {tuple(a.shape)} differ"
        )
    win = 2 * max_offset + 1
    ap = torch.nn.functional.pad(a, (0, 0, max_offset, max_offset))
    idx = torch.arange(v.shape[0])[:, None] + torch.arange(win)[None, :]  # (N, win) rows of ap
    diff = v[:, None, :] - ap[idx] + PDIST_EPS
    return torch.linalg.vector_norm(diff, dim=-1).numpy()


def offset_search(
    vid: np.ndarray, aud: np.ndarray, max_offset: int
) -> tuple[float, float, float, np.ndarray]:
    """(offset, distance, confidence, mean curve (2m+1,)) from per-window embeddings (N, E).

    offset > 0 means the audio lags the video: audio window ``i + offset`` matches video
    window ``i``.
    """
    dists = offset_distances(vid, aud, max_offset)
    curve = dists.mean(axis=0)
    k = int(np.argmin(curve))
    minval = float(curve[k])
    return float(k - max_offset), minval, float(np.median(curve) - minval), curve


def n_windows(n_frames: int, n_samples: int, fps: float, sample_rate: int) -> int:
    """syncnet_python's window count ``min(T, floor(S / (sr / fps))) - 5`` (>= 0)."""
    per_frame = sample_rate / fps
    return max(0, min(n_frames, int(math.floor(n_samples / per_frame))) - WINDOW_FRAMES)


@register
class SyncNetExtractor(NeuralExtractor):
    """SyncNetFeatureExtractor of the chapter: offset / LSE-D / LSE-C per video."""

    name = "syncnet"
    modality = "sync"
    weights_kind = "syncnet"
    dim = 3

    def __init__(self, params: dict | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.max_offset = int(self.params.get("sync_max_offset", 15))

    def feature_names(self) -> list[str]:
        return list(SYNC_FIELDS)

    def build_model(self) -> nn.Module:
        return SyncNet(EMBED_DIM)

    def unit_frames(self, stream: str) -> int:
        return WINDOW_FRAMES if stream == "lip" else 1

    def prepare(self, clip: Clip, context: dict[str, Any]) -> dict[str, np.ndarray]:
        t = clip.n_frames
        n = n_windows(t, len(clip.audio), clip.fps, clip.sample_rate)
        boxes = fill_boxes(context.get("face_box"), t)
        why = (
            "no audio track"
            if not clip.has_audio
            else "no face detected"
            if boxes is None
            else "clip too short"
            if n <= 0
            else ""
        )
        if why:
            context["syncnet_skipped"] = why
            return {}
        bgr = np.empty((t, CROP_SIZE, CROP_SIZE, 3), np.uint8)
        for i in range(t):
            bgr[i] = crop_resize(clip.frames[i], syncnet_crop_box(boxes[i]), CROP_SIZE, PAD_VALUE)[
                ..., ::-1
            ]
        lip = np.lib.stride_tricks.sliding_window_view(bgr, WINDOW_FRAMES, axis=0)[
            :n
        ]  # (n, H, W, 3, 5) view
        cc = mfcc(clip.audio, clip.sample_rate).astype(np.float32)  # (F, 13) at 100 Hz
        need = MFCC_PER_FRAME * (n - 1) + MFCC_WINDOW
        if cc.shape[0] < need:
            cc = np.pad(cc, ((0, need - cc.shape[0]), (0, 0)))
        aud = np.lib.stride_tricks.sliding_window_view(cc, MFCC_WINDOW, axis=0)[::MFCC_PER_FRAME][
            :n
        ]  # (n, 13, 20)
        return {"lip": lip, "aud": aud[:, None, :, :]}

    def forward_units(self, stream: str, x: torch.Tensor) -> torch.Tensor:
        net: SyncNet = self.model  # type: ignore[assignment]
        if stream == "lip":  # uint8 (N, H, W, 3, 5) -> float (N, 3, 5, H, W), raw 0..255
            return net.forward_lip(x.permute(0, 3, 4, 1, 2).float())
        return net.forward_aud(x.float())

    def finish(
        self, clip: Clip, context: dict[str, Any], outputs: dict[str, np.ndarray]
    ) -> np.ndarray:
        if not outputs or outputs["lip"].shape[0] == 0:
            return self.no_output(clip)
        offset, dist, conf, curve = offset_search(outputs["lip"], outputs["aud"], self.max_offset)
        context["syncnet_curve"] = curve.astype(np.float32)
        return np.array([offset, dist, conf], np.float32)

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "max_offset": self.max_offset,
            "offset_sign": "+ = audio delayed relative to video",
        }


#: The chapter's class name (section 3.2.2) for the SyncNet lip-sync extractor.
SyncNetFeatureExtractor = SyncNetExtractor
