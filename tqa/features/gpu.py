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
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from tqa.features.decode import MediaError
from tqa.features.extractors.base import Clip, Extractor, random_init_allowed
from tqa.features.extractors.neural import NeuralExtractor
from tqa.features.nets.runtime import autocast_dtype, precision_context, resolve_device, to_device
from tqa.features.pipeline import (
    ExtractionError,
    ExtractionInterrupted,
    FeatureExtractor,
    VideoFeatures,
    abort_pool,
    append_failure,
    ignore_sigint,
    interrupted_table,
    remove_stale,
    warn_quality,
)

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


@dataclass
class CpuStage:
    """A decoded clip with its weight-free streams (stage 1), or the error that stopped it."""

    clip: Clip | None = None
    context: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: ExtractionError | None = None

    def __getstate__(
        self,
    ) -> dict[str, Any]:  # ExtractionError(stage, reason) does not unpickle by itself
        state = dict(self.__dict__)
        if self.error is not None:
            state["error"] = (self.error.stage, self.error.reason)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("error") is not None:
            state["error"] = ExtractionError(*state["error"])
        self.__dict__.update(state)


_WORKER: dict[str, GPUOptimizedExtractor] = {}


def _worker_init(params: dict, allow_random_init: bool) -> None:
    ignore_sigint()  # Ctrl-C: the parent cancels and terminates the pool
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    _WORKER["x"] = GPUOptimizedExtractor(params, device="cpu", allow_random_init=allow_random_init)


def cpu_stage(vid: str, path: str) -> CpuStage:
    """Decode + weight-free extractors of one video in a worker process (picklable task)."""
    ext = _WORKER["x"]
    clip = ext._decode(vid, path)
    if isinstance(clip, ExtractionError):
        return CpuStage(error=clip)
    return ext.weight_free(clip)


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
                st.outputs[modality] = np.asarray(ext.extract(clip, st.context), np.float32)
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
        """One neural extractor over several clips: prepare each, forward their units in shared
        batches of ``batch_frames`` frames, finish each. Per clip: the float32 output or the
        exception that stopped it (a failed batched forward fails every clip of the call).
        """
        out: dict[int, np.ndarray | Exception] = {}
        prepared: dict[int, dict[str, np.ndarray]] = {}
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
                    ext.units_per_batch(stream, self.batch_frames),
                    self.dtype,
                    self.pin,
                )
                for ci, o in zip(cis, outs):
                    embedded[ci][stream] = o
        except Exception as exc:  # e.g. out of device memory
            return {
                **out,
                **{
                    ci: RuntimeError(f"batched forward: {type(exc).__name__}: {exc}")
                    for ci in prepared
                },
            }
        for ci in prepared:
            try:
                out[ci] = np.asarray(ext.finish(clips[ci], contexts[ci], embedded[ci]), np.float32)
            except Exception as exc:  # noqa: BLE001
                out[ci] = exc
        return out

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
    def _decode(self, vid: str, path: str) -> Clip | ExtractionError:
        try:
            t0 = time.perf_counter()
            clip = self.load(path, vid)
            clip.meta["_decode_s"] = time.perf_counter() - t0
            return clip
        except MediaError as exc:
            return ExtractionError("decode", exc.reason)
        except Exception as exc:  # noqa: BLE001 - one file's problem
            return ExtractionError("decode", f"{type(exc).__name__}: {exc}")

    def _staged_in_process(
        self, todo: list[tuple[str, str]]
    ) -> Iterator[tuple[str, str, CpuStage]]:
        """Stage 1 here: ``prefetch`` clips decoded ahead by background threads, weight-free
        extractors in this process (one Face Mesh)."""
        with ThreadPoolExecutor(
            max_workers=self.decode_threads, thread_name_prefix="tqa-decode"
        ) as pool:
            yield from self._in_order(pool, todo, self._decode, self.prefetch, self._as_stage)

    def _staged_in_pool(
        self, todo: list[tuple[str, str]], n_workers: int
    ) -> Iterator[tuple[str, str, CpuStage]]:
        """Stage 1 in ``n_workers`` spawn processes (decode + weight-free extractors)."""
        ctx = mp.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(self.params, self.allow_random_init),
        )
        try:
            yield from self._in_order(
                pool, todo, cpu_stage, max(self.prefetch, 2 * n_workers), lambda st: st
            )
        except BaseException:  # Ctrl-C / generator closed early: stop the workers now
            abort_pool(pool)
            raise
        pool.shutdown(wait=True)

    @staticmethod
    def _in_order(
        pool: Executor, todo: list[tuple[str, str]], fn, ahead: int, convert
    ) -> Iterator[tuple[str, str, CpuStage]]:
        """Results of ``fn(vid, path)`` in input order, ``ahead`` tasks submitted in advance."""
        futures: list[tuple[str, str, Future]] = []
        it = iter(todo)
        for vid, path in it:
            futures.append((vid, path, pool.submit(fn, vid, path)))
            if len(futures) >= ahead:
                break
        while futures:
            vid, path, fut = futures.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                futures.append((nxt[0], nxt[1], pool.submit(fn, *nxt)))
            try:
                yield vid, path, convert(fut.result())
            except Exception as exc:  # a worker died (native crash): that video failed
                yield (
                    vid,
                    path,
                    CpuStage(error=ExtractionError("worker", f"{type(exc).__name__}: {exc}")),
                )

    def _as_stage(self, item: Clip | ExtractionError) -> CpuStage:
        return CpuStage(error=item) if isinstance(item, ExtractionError) else self.weight_free(item)

    def _steps(
        self, staged: Iterator[tuple[str, str, CpuStage]]
    ) -> Iterator[list[tuple[str, str, CpuStage]]]:
        step: list[tuple[str, str, CpuStage]] = []
        for item in staged:
            step.append(item)
            if sum(st.error is None for _, _, st in step) >= self.clips_per_step:
                yield step
                step = []
        if step:
            yield step

    def run(
        self,
        videos: list[tuple[str, str]],
        cache_dir: str | os.PathLike,
        workers: int | None = None,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Extract ``videos`` [(video_id, path)] into ``cache_dir`` (same table as the parent).

        ``workers`` (None: ``features.workers``; 0 = all cores): processes for the CPU stage
        (decode + weight-free extractors); with 1 it runs here, decoding in background threads.
        The neural stage always runs in this process, on ``device``.
        """
        cache_dir, rows, todo, n_workers = self.plan_run(videos, cache_dir, workers)
        log.info(
            "extract (GPU-optimised, %s): %d videos, %d cached, %d to do, "
            "CPU stage in %d process(es)",
            self.device,
            len(videos),
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
            self._staged_in_pool(todo, n_workers)
            if n_workers > 1
            else self._staged_in_process(todo)
        )
        try:
            for step in self._steps(staged):
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
            raise ExtractionInterrupted(interrupted_table(videos, rows)) from None
        finally:
            bar.close()
        return pd.DataFrame([rows[v] for v, _ in videos if v in rows])

    def _finish_one(
        self, vid: str, path: str, clip: Clip | None, res: Any, cache_dir: Path, seconds: float
    ) -> dict[str, Any]:
        """Write one result (or record its failure); the parent's status row."""
        row: dict[str, Any] = {
            "video_id": vid,
            "status": "extracted",
            "reason": "",
            "stage": "",
            "file": path,
        }
        if isinstance(res, VideoFeatures):
            if isinstance(clip, Clip):
                res.meta["timings"]["decode"] = clip.meta.get("_decode_s", float("nan"))
            try:
                self.write(cache_dir, res)
                row.update(
                    face_rate=res.meta["face_rate"],
                    has_audio=res.meta["has_audio"],
                    **{f"t_{k}": v for k, v in res.meta["timings"].items()},
                )
                warn_quality(vid, path, res.meta)
            except OSError as exc:
                res = ExtractionError("write", f"{type(exc).__name__}: {exc}")
        if isinstance(res, ExtractionError):
            row.update(status="failed", reason=res.reason, stage=res.stage)
            log.warning("video %s (%s) failed at %s: %s", vid, path, res.stage, res.reason)
            remove_stale(cache_dir, vid)
            append_failure(cache_dir, vid, path, res.stage, res.reason)
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
