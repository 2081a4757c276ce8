"""GPUOptimizedExtractor: FeatureExtractor's features, batched across videos (chapter 3.2.2).

Same extractors, same cache files, same ``config_hash`` as
:class:`tqa.features.pipeline.FeatureExtractor`; only *how* the neural streams are computed
changes:

* **CPU stage off the critical path**: with ``workers`` > 1 (``run(..., workers=N)``,
  default ``features.workers``) decoding and the weight-free extractors run in N spawn
  processes, results consumed in order; with 1, a thread pool decodes the next ``prefetch``
  videos in the background (:func:`tqa.features.decode.load_clip`, PyAV releases the GIL) and the
  weight-free extractors run in this process.
* **Batching across videos**: videos are taken ``clips_per_step`` at a time; each
  neural extractor (:class:`tqa.features.extractors.neural.NeuralExtractor`) prepares its units per
  clip on the CPU (crops, MFCC windows, waveforms), then the units of all the clips in the
  step are concatenated into forwards of ``features.batch_frames`` frames.
* **One model load per extractor** (the network lives in the extractor, built once).
* On CUDA: pinned host memory + ``non_blocking`` copies, ``torch.autocast`` in bf16
  (fp16 where bf16 is unsupported), ``channels_last`` for the 2-D ResNet, cuDNN autotuning;
  outputs stay on the device until a step is done. On CPU everything is fp32 unless
  ``precision`` asks otherwise, so results equal FeatureExtractor's within float noise.
* Weight-free streams (landmarks first, they give the face boxes) run per clip exactly as
  in FeatureExtractor; the clip is then assembled by FeatureExtractor.extract_clip itself
  (shape checks, NaN on padded frames, metadata), fed the precomputed outputs.

Per-clip failures are recorded (failures.csv) and the run goes on, as in FeatureExtractor.
The CPU stage lives in :mod:`tqa.features.staging`, the batched forwards in
:mod:`tqa.features.batching`; this module is the extractor that runs them.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from tqa.features.batching import run_neural
from tqa.features.extractors.base import Clip, Extractor, random_init_allowed, run_extractor
from tqa.features.extractors.neural import NeuralExtractor
from tqa.features.nets.runtime import autocast_dtype, resolve_device
from tqa.features.pipeline import ExtractionError, FeatureExtractor, RunPlan, VideoFeatures
from tqa.features.staging import CpuStage, group_steps, staged_in_pool, staged_in_process
from tqa.features.status import record_failure, status_row

log = logging.getLogger(__name__)

#: Decoded clips kept ready ahead of the one being processed (default for ``prefetch``).
DEFAULT_PREFETCH: int = 4
#: Decoding threads.
DEFAULT_DECODE_THREADS: int = 2


class _Replay(Extractor):
    """Stands in for an extractor whose output was computed already (batched).

    Lets :meth:`FeatureExtractor.extract_clip` assemble, validate and describe the clip
    exactly as it does for the simple path, so both paths share one implementation.
    """

    def __init__(self, real: Extractor, output: np.ndarray, context: dict[str, Any]) -> None:
        super().__init__(real.params)
        self.real, self.output, self.context = real, output, context
        self.name, self.modality, self.version = real.name, real.modality, real.version  # type: ignore[misc]

    @property
    def dim(self) -> int:
        return self.real.dim

    def feature_names(self) -> list[str]:
        return self.real.feature_names()

    def describe(self) -> dict[str, Any]:
        return self.real.describe()

    def extract(self, clip: Clip, context: dict[str, Any]) -> np.ndarray:
        context.update(self.context)
        return self.output


class GPUOptimizedExtractor(FeatureExtractor):
    """Batched, prefetching, mixed-precision variant of FeatureExtractor (same cache files).

    Parameters beyond ``params`` (all optional): ``device`` (default ``features.device``),
    ``precision`` (``auto`` = bf16/fp16 autocast on CUDA, fp32 on CPU; or fp32 | bf16 | fp16),
    ``clips_per_step`` (videos whose frames are batched together; default
    ``ceil(batch_frames / n_frames) + 1``), ``prefetch`` (clips decoded ahead),
    ``decode_threads``, ``channels_last`` (default: on CUDA only), ``allow_random_init``
    (tests/benchmarks: neural extractors without weights use seeded random init).
    """

    def __init__(
        self,
        params: dict,
        *,
        device: str | torch.device | None = None,
        precision: str = "auto",
        clips_per_step: int | None = None,
        prefetch: int = DEFAULT_PREFETCH,
        decode_threads: int = DEFAULT_DECODE_THREADS,
        channels_last: bool | None = None,
        allow_random_init: bool = False,
    ) -> None:
        with random_init_allowed(allow_random_init):
            super().__init__(params)
        self.allow_random_init = allow_random_init
        self.device = resolve_device(
            device if device is not None else self.fparams.get("device", "auto")
        )
        self.precision = precision
        self.dtype = autocast_dtype(self.device, precision)
        self.batch_frames = int(self.fparams.get("batch_frames") or 256)
        n_frames = int(self.fparams.get("n_frames", 150))
        self.clips_per_step = int(clips_per_step or math.ceil(self.batch_frames / n_frames) + 1)
        self.prefetch = max(1, int(prefetch))
        self.decode_threads = max(1, int(decode_threads))
        self.pin = self.device.type == "cuda"
        self.neural: dict[str, NeuralExtractor] = {
            m: e for m, e in self.extractors.items() if isinstance(e, NeuralExtractor)
        }
        for ext in self.neural.values():
            ext.device = self.device
            ext._placed = False  # move the (lazily built) model to this device on first use
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        use_cl = self.device.type == "cuda" if channels_last is None else channels_last
        if use_cl and "visual" in self.neural:
            self.neural["visual"].use_channels_last(True)
        log.info(
            "GPUOptimizedExtractor: device %s, autocast %s, %d clips x %d frames per forward, "
            "neural: %s",
            self.device,
            self.dtype,
            self.clips_per_step,
            self.batch_frames,
            sorted(self.neural),
        )

    # ------------------------------------------------------------------ several clips
    def weight_free(self, clip: Clip) -> CpuStage:
        """Stage 1 of one clip: every weight-free extractor in RUN_ORDER (landmarks first)."""
        st = CpuStage(clip=clip)
        for modality, ext in self.extractors.items():
            if isinstance(ext, NeuralExtractor):
                continue
            t0 = time.perf_counter()
            try:
                st.outputs[modality] = run_extractor(ext, clip, st.context)
            except Exception as exc:  # one clip's failure, the others go on
                st.error = ExtractionError(modality, f"{type(exc).__name__}: {exc}")
                break
            st.timings[modality] = time.perf_counter() - t0
        return st

    def extract_clips(
        self, clips: list[Clip], stages: list[CpuStage] | None = None
    ) -> list[VideoFeatures | ExtractionError]:
        """Features of several decoded clips, neural frames batched across them.

        ``stages``: their weight-free results when already computed (worker processes).
        Returns, per clip, its VideoFeatures or the ExtractionError that stopped it.
        """
        n = len(clips)
        stages = stages if stages is not None else [self.weight_free(c) for c in clips]
        results: list[VideoFeatures | ExtractionError | None] = [st.error for st in stages]
        contexts = [st.context for st in stages]
        outputs = [st.outputs for st in stages]
        timings = [st.timings for st in stages]
        alive = [ci for ci in range(n) if stages[ci].error is None]
        # 2. neural extractors: prepare per clip, forward across clips, finish per clip
        for modality, ext in self.neural.items():
            t0 = time.perf_counter()
            done = self.run_neural(ext, {ci: clips[ci] for ci in alive}, contexts)
            share = (time.perf_counter() - t0) / max(1, len(done))
            for ci, res in done.items():
                if isinstance(res, Exception):
                    results[ci] = ExtractionError(modality, f"{type(res).__name__}: {res}")
                    alive.remove(ci)
                else:
                    outputs[ci][modality] = res
                    timings[ci][modality] = share
        # 3. assemble with FeatureExtractor's own checks and metadata
        for ci in alive:
            try:
                results[ci] = self._assemble(clips[ci], outputs[ci], contexts[ci], timings[ci])
            except ExtractionError as exc:
                results[ci] = exc
        return results  # type: ignore[return-value]

    def run_neural(
        self,
        ext: NeuralExtractor,
        clips: dict[int, Clip],
        contexts: list[dict[str, Any]] | dict[int, dict[str, Any]],
    ) -> dict[int, np.ndarray | Exception]:
        """One neural extractor over several clips, batched across them
        (:func:`tqa.features.batching.run_neural` with this extractor's batch, dtype, pinning)."""
        return run_neural(ext, clips, contexts, self.batch_frames, self.dtype, self.pin)

    def _assemble(
        self,
        clip: Clip,
        outputs: dict[str, np.ndarray],
        context: dict[str, Any],
        timings: dict[str, float],
    ) -> VideoFeatures:
        real = self.extractors
        # the first replay puts back every context key the real extractors wrote
        self.extractors = {
            m: _Replay(e, outputs[m], context if i == 0 else {})
            for i, (m, e) in enumerate(real.items())
        }
        try:
            vf = super().extract_clip(clip)
        finally:
            self.extractors = real
        vf.meta["timings"] = dict(timings)
        vf.meta["engine"] = {
            "extractor": type(self).__name__,
            "device": str(self.device),
            "autocast": str(self.dtype).replace("torch.", "") if self.dtype else "fp32",
            "batch_frames": self.batch_frames,
            "clips_per_step": self.clips_per_step,
        }
        return vf

    def extract_clip(self, clip: Clip) -> VideoFeatures:
        """One clip through the batched path (raises ExtractionError like the parent)."""
        res = self.extract_clips([clip])[0]
        if isinstance(res, ExtractionError):
            raise res
        return res

    # ------------------------------------------------------------------ many videos
    def extract_planned(self, plan: RunPlan, progress: bool) -> None:
        """:meth:`FeatureExtractor.run`'s extraction step, batched (same status rows).

        ``plan.n_workers`` processes run the CPU stage (decode + weight-free extractors);
        with 1 it runs here, decoding in background threads. The neural stage always runs
        in this process, on ``device``.
        """
        rows, todo, cache_dir, n_workers = plan.rows, plan.todo, plan.cache_dir, plan.n_workers
        log.info(
            "extract (GPU-optimised, %s): %d videos, %d cached, %d to do, "
            "CPU stage in %d process(es)",
            self.device,
            len(plan.videos),
            len(rows),
            len(todo),
            n_workers,
        )
        bar = tqdm(
            total=len(todo),
            desc=f"extract[{self.device.type}]",
            unit="video",
            disable=not progress or not todo,
        )
        staged = (
            staged_in_pool(self, todo, n_workers)
            if n_workers > 1
            else staged_in_process(self, todo)
        )
        try:
            for step in group_steps(staged, self.clips_per_step):
                t0 = time.perf_counter()
                ok = [st for _, _, st in step if st.error is None]
                results = iter(self.extract_clips([st.clip for st in ok], ok))  # type: ignore[misc]
                per_clip_s = (time.perf_counter() - t0) / max(1, len(ok))
                for vid, path, st in step:
                    res = next(results) if st.error is None else st.error
                    rows[vid] = self._finish_one(vid, path, st.clip, res, cache_dir, per_clip_s)
                    bar.update(1)
        except KeyboardInterrupt:
            staged.close()
            bar.close()
            raise
        finally:
            bar.close()

    def _finish_one(
        self, vid: str, path: str, clip: Clip | None, res: Any, cache_dir: Path, seconds: float
    ) -> dict[str, Any]:
        """Write one result (or record its failure); the parent's status row."""
        row = status_row(vid, path)
        if isinstance(res, VideoFeatures):
            if isinstance(clip, Clip):
                res.meta["timings"]["decode"] = clip.meta.get("_decode_s", float("nan"))
            try:
                row.update(self.store(cache_dir, res, path))
            except ExtractionError as exc:
                res = exc
        if isinstance(res, ExtractionError):
            row.update(status="failed", reason=res.reason, stage=res.stage)
            log.warning("video %s (%s) failed at %s: %s", vid, path, res.stage, res.reason)
            record_failure(cache_dir, vid, path, res.stage, res.reason)
        row["seconds"] = seconds
        row["worker"] = f"pid{os.getpid()}-{self.device.type}"
        return row


def make_extractor(params: dict, optimized: bool | None = None, **kwargs: Any) -> FeatureExtractor:
    """GPUOptimizedExtractor when ``optimized`` (default: a neural extractor is selected and
    ``features.device`` resolves to CUDA), else the simple FeatureExtractor."""
    fp = params["features"]
    if optimized is None:
        neural_selected = any(
            fp.get(m) in {"resnet101", "hubert", "syncnet"} for m in ("visual", "audio", "sync")
        )
        optimized = neural_selected and resolve_device(fp.get("device", "auto")).type == "cuda"
    if optimized:
        return GPUOptimizedExtractor(params, **kwargs)
    allow = bool(kwargs.pop("allow_random_init", False))
    with random_init_allowed(allow):
        return FeatureExtractor(params)
