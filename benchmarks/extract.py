"""Benchmark: naive per-frame loop vs FeatureExtractor vs GPUOptimizedExtractor.

Same inputs for every mode. Per neural extractor (resnet101, hubert, syncnet) on clips
decoded once (landmark context computed once, outside the timings):

* ``naive_per_frame``: ``extractor.extract`` per video with ONE frame (unit) per forward, fp32;
* ``per_video``: ``extractor.extract`` per video, ``features.batch_frames`` per forward, fp32
  (FeatureExtractor's path);
* ``optimized``: GPUOptimizedExtractor's batched path (units of all videos in shared batches,
  autocast on CUDA, pinned memory, channels_last for ResNet on CUDA).

End to end (decode + every extractor + cache write, videos/s) on the same files, same
device: ``naive_per_frame`` (FeatureExtractor.run, workers=1, one unit per forward),
``per_video`` (FeatureExtractor.run, workers=1) and ``optimized``
(GPUOptimizedExtractor.run, background decoding). ``speedup`` = seconds of a baseline /
seconds of ``optimized``, per extractor and end to end. The weight-free streams (MediaPipe
landmarks, AU geometry, ...) run on the CPU in every mode and bound the end-to-end gain.

Weights: real ones when found (features.weights.* / TORCH_HOME); ``--random-init`` allows
seeded random weights (timings are the same; the output says so). Inputs: the videos of
``--root`` (default: params data.root) when it has labels.csv, else ``--videos`` synthetic
mp4s (a real face photo, skimage's astronaut, moving, with noise audio) written to a temp dir.

Writes ``benchmarks/out/extract_<device>.json`` and prints a table.

    python benchmarks/extract.py --device cpu --videos 2 --random-init
    python benchmarks/extract.py --device cuda --videos 32 --random-init --workers 0
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqa.core.atomic import write_json  # noqa: E402
from tqa.core.params import load_params, resolve  # noqa: E402
from tqa.features.extract import list_videos  # noqa: E402
from tqa.features.extractors.base import Clip  # noqa: E402
from tqa.features.extractors.neural import NeuralExtractor, random_init_allowed  # noqa: E402
from tqa.features.gpu import GPUOptimizedExtractor  # noqa: E402
from tqa.features.pipeline import FeatureExtractor  # noqa: E402

log = logging.getLogger("bench.extract")

NEURAL = {"visual": "resnet101", "audio": "hubert", "sync": "syncnet"}


def synth_videos(
    out_dir: Path, n: int, fps: int, n_frames: int, sr: int, side: int = 192
) -> list[tuple[str, str]]:
    """``n`` small mp4s with a real face (skimage astronaut) drifting across the frame."""
    import cv2
    from skimage import data

    from tqa.features.decode import write_video

    face = cv2.resize(data.astronaut()[0:300, 100:400], (side, side), interpolation=cv2.INTER_AREA)
    vids = []
    for i in range(n):
        rng = np.random.default_rng(i)
        frames = np.stack(
            [np.roll(face, (i * 7 + k) % side, axis=1) for k in range(n_frames)]
        ).astype(np.uint8)
        wav = (0.1 * rng.standard_normal(int(n_frames / fps * sr))).astype(np.float32)
        path = out_dir / f"bench{i:03d}.mp4"
        write_video(path, frames, fps=fps, audio=wav, sample_rate=sr)
        vids.append((path.stem, str(path)))
    return vids


def sync_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> tuple[float, Any]:
    sync_device(device)
    t0 = time.perf_counter()
    out = fn()
    sync_device(device)
    return time.perf_counter() - t0, out


def bench_extractor(
    fast: GPUOptimizedExtractor, modality: str, clips: list[Clip], contexts: list[dict], naive: bool
) -> list[dict[str, Any]]:
    """Three modes of one neural extractor on the same decoded clips."""
    ext: NeuralExtractor = fast.extractors[modality]  # type: ignore[assignment]
    dev = fast.device
    n_frames = sum(c.n_frames for c in clips)
    rows = []
    t_load, _ = timed(lambda: ext.model, dev)
    ext.extract(clips[0], dict(contexts[0]))  # warm-up (allocator, cuDNN autotune)

    def one(mode: str, fn) -> None:
        secs, _ = timed(fn, dev)
        rows.append(
            {
                "scope": ext.name,
                "mode": mode,
                "seconds": secs,
                "videos": len(clips),
                "videos_per_s": len(clips) / secs,
                "frames_per_s": n_frames / secs,
                "model_load_s": t_load,
            }
        )
        log.info("%s %s: %.2f s (%.2f videos/s)", ext.name, mode, secs, len(clips) / secs)

    saved = ext.batch_frames
    if naive:
        ext.batch_frames = 1  # one unit (frame, 5-frame window, waveform) per forward

        one("naive_per_frame", lambda: [ext.extract(c, dict(x)) for c, x in zip(clips, contexts)])
    ext.batch_frames = saved
    one("per_video", lambda: [ext.extract(c, dict(x)) for c, x in zip(clips, contexts)])
    fast.run_neural(ext, {0: clips[0]}, {0: dict(contexts[0])})  # warm-up of the autocast path
    one(
        "optimized",
        lambda: fast.run_neural(ext, dict(enumerate(clips)), [dict(x) for x in contexts]),
    )
    return rows


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto")
    ap.add_argument("--root", default=None, help="dataset folder (default: data.root if it exists)")
    ap.add_argument("--videos", type=int, default=4, help="number of videos")
    ap.add_argument(
        "--random-init", action="store_true", help="allow random weights when none are on disk"
    )
    ap.add_argument("--extractors", default="visual,audio,sync", help="neural modalities to time")
    ap.add_argument("--batch-frames", type=int, default=None, help="override features.batch_frames")
    ap.add_argument(
        "--frames", type=int, default=None, help="override features.n_frames (smoke runs only)"
    )
    ap.add_argument(
        "--precision", default="auto", help="auto | fp32 | bf16 | fp16 (optimized path)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="CPU-stage processes of the optimized end-to-end run (0 = all cores; baselines use 1)",
    )
    ap.add_argument("--no-naive", action="store_true", help="skip the per-frame loop (slow on CPU)")
    ap.add_argument("--no-end-to-end", action="store_true")
    ap.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/out/extract_<device>.json)"
    )
    return ap


def bench_params(args: argparse.Namespace, mods: list[str]) -> dict:
    """params.yaml with the timed neural extractors selected and the command-line overrides."""
    params = load_params(args.params)
    fp = params["features"]
    for m in mods:
        fp[m] = NEURAL[m]
    fp["device"] = args.device
    if args.batch_frames:
        fp["batch_frames"] = args.batch_frames
    if args.frames:
        fp["n_frames"] = args.frames
    fp["workers"] = 1
    return params


def bench_inputs(
    args: argparse.Namespace, params: dict, tmp_dir: Path
) -> tuple[list[tuple[str, str]], str]:
    """(video_id, path) of the timed videos and a line saying where they come from."""
    fp = params["features"]
    root = Path(args.root) if args.root else resolve(params["data"]["root"])
    if (root / params["data"]["labels"]).exists():
        videos = list_videos(root, params)[: args.videos]
        return videos, f"{root} (first {len(videos)} videos)"
    videos = synth_videos(
        tmp_dir, args.videos, int(fp["grid_fps"]), int(fp["n_frames"]), int(fp["sample_rate"])
    )
    return videos, f"{len(videos)} synthetic mp4s (skimage astronaut face, noise audio)"


def landmark_contexts(fast: GPUOptimizedExtractor, clips: list[Clip]) -> list[dict]:
    """The landmark context (face boxes) the neural extractors read, one per clip."""
    contexts: list[dict] = []
    for c in clips:
        ctx: dict = {}
        fast.extractors["landmarks"].extract(c, ctx)
        contexts.append(ctx)
    return contexts


def bench_end_to_end(
    fast: GPUOptimizedExtractor,
    params: dict,
    videos: list[tuple[str, str]],
    mods: list[str],
    args: argparse.Namespace,
    tmp_dir: Path,
) -> list[dict[str, Any]]:
    """Decode + every extractor + cache write, per mode, into an empty cache each."""
    with random_init_allowed(args.random_init):
        simple = FeatureExtractor(params)
    runs = [("per_video", simple), ("optimized", fast)]
    if not args.no_naive:
        with random_init_allowed(args.random_init):
            naive = FeatureExtractor(params)
        for m in mods:
            naive.extractors[m].batch_frames = 1  # type: ignore[attr-defined]
        runs.insert(0, ("naive_per_frame", naive))
    rows: list[dict[str, Any]] = []
    for name, ex in runs:
        if isinstance(ex, FeatureExtractor) and not isinstance(ex, GPUOptimizedExtractor):
            for m in mods:  # same device as the optimized path
                ex.extractors[m].device = fast.device  # type: ignore[attr-defined]
        n_workers = args.workers if ex is fast else 1
        run = partial(ex.run, videos, tmp_dir / f"cache_{name}", workers=n_workers, progress=False)
        secs, table = timed(run, fast.device)
        ok = int((table["status"] == "extracted").sum())
        rows.append(
            {
                "scope": "end_to_end",
                "mode": name,
                "extractor": type(ex).__name__,
                "workers": n_workers,
                "seconds": secs,
                "videos": ok,
                "videos_per_s": ok / secs if secs else None,
            }
        )
    return rows


def speedups_of(
    rows: list[dict[str, Any]], end_to_end: list[dict[str, Any]], mods: list[str]
) -> dict[str, float]:
    """Seconds of each baseline / seconds of ``optimized``, end to end and per extractor."""

    def speedup(scope_rows: list[dict[str, Any]], base: str) -> float | None:
        by = {r["mode"]: r["seconds"] for r in scope_rows}
        return by[base] / by["optimized"] if base in by and by.get("optimized") else None

    speedups: dict[str, float | None] = {}
    for base in ("naive_per_frame", "per_video"):
        speedups[f"end_to_end_vs_{base}"] = speedup(end_to_end, base)
    for m in mods:
        for base in ("naive_per_frame", "per_video"):
            speedups[f"{NEURAL[m]}_vs_{base}"] = speedup(
                [r for r in rows if r["scope"] == NEURAL[m]], base
            )
    return {k: v for k, v in speedups.items() if v is not None}


def print_result(result: dict[str, Any], out: Path) -> None:
    print(
        f"\n{result['device_name']} ({result['device']}), {result['inputs']}, "
        f"random_init={result['random_init']}"
    )
    print(f"{'scope':<12} {'mode':<22} {'seconds':>9} {'videos/s':>9}")
    for r in result["per_extractor"] + result["end_to_end"]:
        print(
            f"{r['scope']:<12} {r['mode']:<22} {r['seconds']:>9.2f} {r['videos_per_s'] or 0:>9.3f}"
        )
    for k, v in result["speedup"].items():
        print(f"speedup {k}: {v:.2f}x")
    print(f"-> {out}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    mods = [m.strip() for m in args.extractors.split(",") if m.strip()]
    params = bench_params(args, mods)
    tmp = tempfile.TemporaryDirectory(prefix="tqa-bench-")
    videos, source = bench_inputs(args, params, Path(tmp.name))

    fast = GPUOptimizedExtractor(
        params, precision=args.precision, allow_random_init=args.random_init
    )
    random_init = {m: bool(fast.extractors[m].describe().get("random_init")) for m in mods}
    dev = fast.device
    clips = [fast.load(p, v) for v, p in videos]
    contexts = landmark_contexts(fast, clips)
    rows: list[dict[str, Any]] = []
    for m in mods:
        rows += bench_extractor(fast, m, clips, contexts, naive=not args.no_naive)
    end_to_end = (
        []
        if args.no_end_to_end
        else bench_end_to_end(fast, params, videos, mods, args, Path(tmp.name))
    )

    result = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "inputs": source,
        "n_frames": int(params["features"]["n_frames"]),
        "batch_frames": fast.batch_frames,
        "optimized_autocast": str(fast.dtype).replace("torch.", "") if fast.dtype else "fp32",
        "random_init": random_init,
        "note": (
            "random-init weights: timings are valid, features are not"
            if any(random_init.values())
            else "pretrained weights"
        ),
        "per_extractor": rows,
        "end_to_end": end_to_end,
        "speedup": speedups_of(rows, end_to_end, mods),
        "command": "benchmarks/extract.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "out" / f"extract_{dev.type}.json"
    write_json(out, result)
    print_result(result, out)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
