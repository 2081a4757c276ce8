"""Features of a degraded clip: the extraction pipeline's extractors, memoised per side.

:class:`VariantExtractor` runs the extractors of :class:`tqa.features.pipeline.FeatureExtractor`
on a decoded clip, the video side and the audio side memoised separately (an audio-only defect
does not re-run Face Mesh), pooled into the per-video columns the pooled regressors read
(:func:`tqa.study.pooled.pooled_features`: ``<column>__mean``, ``<column>__std``,
``sync__offset|distance|confidence``), plus a few ``tqa metrics`` columns
(:mod:`tqa.features.video_metrics`) computed on the same arrays.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tqa.core.clip import Clip
from tqa.core.schema import FeatureSet
from tqa.features.audio_level import at_level
from tqa.features.extractors.audio_dnsmos import valid_samples
from tqa.features.extractors.base import get_extractor, run_extractor
from tqa.features.extractors.sync_correlation import clip_sync
from tqa.features.nets.dnsmos import dnsmos_scores
from tqa.features.pipeline import FeatureExtractor, finish_stream, valid_frames
from tqa.features.quantize import quantize_mantissa
from tqa.features.video_metrics import face_sharpness, head_motion, landmark_jitter
from tqa.study.defects.families import SR
from tqa.study.pooled import pooled_features

#: Modalities pooled for the benchmark's features (landmarks and AUs: not needed by any
#: declared feature; the sync triple always).
POOLED_MODALITIES: tuple[str, ...] = ("visual", "audio")
#: ``tqa metrics`` columns computed on the arrays (:func:`audio_metric_columns`,
#: :func:`video_metric_columns`).
AUDIO_METRICS: tuple[str, ...] = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
VIDEO_METRICS: tuple[str, ...] = ("landmark_jitter", "head_motion", "sharpness_face")
#: ``tqa metrics`` columns of the A/V sync that the pooled sync triple does not hold
#: (:func:`sync_metric_columns`).
SYNC_METRICS: tuple[str, ...] = ("sync_offset_subframe",)
#: Candidate extractors measured on every variant whatever params.yaml selects, pooled as
#: ``<column>__mean`` (for the families' ``also`` features): (modality, name).
CANDIDATE_EXTRACTORS: tuple[tuple[str, str], ...] = (("au", "avsync"), ("au", "avlocal"))


def _digest(a: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(a).view(np.uint8), digest_size=16).hexdigest()


class VariantExtractor:
    """The pipeline's extractors on decoded (possibly degraded) clips, pooled per clip.

    Runs exactly what :meth:`FeatureExtractor.extract_clip` runs (same extractors, same
    order of the context they share, padded frames NaN), but memoises the video side
    (landmarks, visual, AUs) by the frames' content and the audio stream by the audio's
    content, so a defect that changes one modality re-runs that side and the sync only. The
    ``au`` stream reads the audio too (``avsync``, ``avlocal``): it is keyed by both.
    Call :meth:`clear` between source clips.
    """

    VIDEO_SIDE: tuple[str, ...] = ("landmarks", "visual")

    def __init__(self, fx: FeatureExtractor, modalities: Sequence[str] = POOLED_MODALITIES):
        self.fx = fx
        self.modalities = tuple(modalities)
        self.names = fx.feature_names()
        self._video: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}
        self._audio: dict[str, np.ndarray] = {}
        self._au: dict[str, np.ndarray] = {}
        self._ametrics: dict[str, dict[str, float]] = {}
        self._vmetrics: dict[str, dict[str, float]] = {}
        self._smetrics: dict[str, dict[str, float]] = {}

    def clear(self) -> None:
        for d in (self._video, self._audio, self._au, self._ametrics, self._vmetrics,
                  self._smetrics):  # fmt: skip
            d.clear()

    def _masked(self, out: np.ndarray, clip: Clip, audio: bool = False) -> np.ndarray:
        """As ``extract_clip`` leaves a stream (:func:`tqa.features.pipeline.finish_stream`)."""
        return finish_stream(out, clip, self.fx.quantize_bits, audio)

    def _keys(self, clip: Clip) -> tuple[str, str]:
        tag = f"{clip.video_id}:{_digest(valid_frames(clip))}:"
        return tag + _digest(clip.frames), tag + _digest(clip.audio)

    def streams(self, clip: Clip) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
        """(streams of every modality, sync triple, the landmark context) of one clip."""
        vkey, akey = self._keys(clip)
        if vkey not in self._video:
            ctx: dict[str, Any] = {}
            vs = {}
            for m in self.VIDEO_SIDE:
                vs[m] = self._masked(run_extractor(self.fx.extractors[m], clip, ctx), clip)
            self._video[vkey] = (vs, ctx)
        vs, vctx = self._video[vkey]
        if akey not in self._audio:
            self._audio[akey] = self._masked(
                run_extractor(self.fx.extractors["audio"], clip, dict(vctx)), clip, audio=True
            )
        ctx = dict(vctx)
        both = vkey + "|" + akey
        if "au" in self.fx.extractors and both not in self._au:
            self._au[both] = self._masked(run_extractor(self.fx.extractors["au"], clip, ctx), clip)
        sync = quantize_mantissa(
            run_extractor(self.fx.extractors["sync"], clip, ctx), self.fx.quantize_bits
        )
        au = {"au": self._au[both]} if both in self._au else {}
        return {**vs, **au, "audio": self._audio[akey]}, sync, ctx

    def pooled(self, clip: Clip) -> tuple[dict[str, float], dict[str, Any]]:
        """The pooled columns (:func:`tqa.study.pooled.pooled_features` of the benchmark's
        modalities + the sync triple) of one clip, and its landmark context."""
        streams, sync, ctx = self.streams(clip)
        fs = FeatureSet(
            [clip.video_id],
            {m: streams[m][None] for m in self.modalities},
            sync[None],
            names={m: self.names[m] for m in self.modalities},
        )
        x, names = pooled_features(fs, self.modalities)
        return {**dict(zip(names, x[0].tolist())), **self.candidates(clip, ctx)}, ctx

    def candidates(self, clip: Clip, ctx: dict[str, Any]) -> dict[str, float]:
        """NaN-means over frames of the :data:`CANDIDATE_EXTRACTORS`' columns on this clip."""
        out: dict[str, float] = {}
        for modality, name in CANDIDATE_EXTRACTORS:
            ext = get_extractor(modality, name, self.fx.fparams)
            x = self._masked(run_extractor(ext, clip, dict(ctx)), clip)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out.update(
                    zip([f"{n}__mean" for n in ext.feature_names()], np.nanmean(x, 0).tolist())
                )
        return out

    def metrics(self, clip: Clip, ctx: dict[str, Any], wanted: Sequence[str]) -> dict[str, float]:
        """The ``tqa metrics`` columns of ``wanted`` (:data:`AUDIO_METRICS`,
        :data:`VIDEO_METRICS`, :data:`SYNC_METRICS`; ``abs(x)`` names ``x``) on this clip's
        arrays, as :func:`video_metrics` computes them (the audio at the level it hears:
        ``features.audio_level_dbfs``)."""
        vkey, akey = self._keys(clip)
        clip = at_level(clip, self.fx.fparams.get("audio_level_dbfs"))
        out: dict[str, float] = {}
        wanted = [w[4:-1] if w.startswith("abs(") and w.endswith(")") else w for w in wanted]
        n = int(valid_frames(clip).sum())
        if any(w in SYNC_METRICS for w in wanted):
            both = vkey + "|" + akey
            if both not in self._smetrics:
                self._smetrics[both] = sync_metric_columns(
                    clip, ctx["landmarks_px"], int(self.fx.fparams.get("sync_max_offset", 15))
                )
            out.update(self._smetrics[both])
        if any(w in AUDIO_METRICS for w in wanted):
            if akey not in self._ametrics:
                self._ametrics[akey] = audio_metric_columns(clip.audio, valid_samples(clip))
            out.update(self._ametrics[akey])
        if any(w in VIDEO_METRICS for w in wanted):
            if vkey not in self._vmetrics:
                self._vmetrics[vkey] = video_metric_columns(
                    clip.frames[:n], ctx["landmarks_px"][:n], clip.fps
                )
            out.update(self._vmetrics[vkey])
        return out


def audio_metric_columns(audio: np.ndarray, n_samples: int) -> dict[str, float]:
    """DNSMOS P.835 + P.808 as ``tqa metrics`` computes them (all 9.01 s windows)."""
    if not np.any(audio[:n_samples] != 0):
        return dict.fromkeys(AUDIO_METRICS, math.nan)
    d = dnsmos_scores(audio, SR, n_windows=None, valid_samples=n_samples)
    return {f"dnsmos_{k}": float(v) for k, v in d.items()}


def sync_metric_columns(clip: Clip, lm_px: np.ndarray, max_offset: int) -> dict[str, float]:
    """``sync_offset_subframe`` as :func:`tqa.features.video_metrics.audio_columns` computes it:
    the correlation sync's offset to a fraction of a frame over the clip's whole grid, with
    its pixel landmarks (T, 468, 3), the padding after a short clip's end masked; NaN without
    a face or sound in the clip's own frames."""
    lm = np.asarray(lm_px, np.float64)
    valid = valid_frames(clip)
    own = clip.audio[: valid_samples(clip)]
    if not np.isfinite(lm[valid, 0, 0]).any() or not np.any(own != 0):
        return dict.fromkeys(SYNC_METRICS, math.nan)
    est = clip_sync(clip.frames, lm, clip.audio, SR, float(clip.fps), max_offset, valid)
    return {"sync_offset_subframe": est.offset_subframe}


def video_metric_columns(frames: np.ndarray, lm_px: np.ndarray, fps: float) -> dict[str, float]:
    """``landmark_jitter``, ``head_motion``, ``sharpness_face`` of :func:`video_metrics` on
    the clip's own frames and their pixel landmarks (NaN without a face)."""
    lm = np.asarray(lm_px, np.float64)
    if not np.isfinite(lm[:, 0, 0]).any():
        return dict.fromkeys(VIDEO_METRICS, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        boxes = np.concatenate([np.nanmin(lm[..., :2], 1), np.nanmax(lm[..., :2], 1)], axis=1)
    return {
        "landmark_jitter": landmark_jitter(lm),
        "head_motion": head_motion(lm, fps),
        "sharpness_face": face_sharpness(frames, boxes),
    }
