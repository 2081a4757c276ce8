"""Training speed benchmark: step and epoch time of the cross-modal Transformer.

Two parts:

1. ``steps`` — a chapter-sized tensor (default 1,588 videos x 150 frames x 367 reduced
   dims split over the 4 modalities as 200/100/50/17, random values, random labels with
   missing entries) trained with the params.yaml model and train config: time per
   optimizer step (median over timed steps after warm-up) and per epoch, on CPU and on
   CUDA when present, with / without AMP (CUDA fp16 + GradScaler, CPU bf16 autocast) and
   with / without gradient checkpointing.
2. ``fit`` — wall time of one full ``tqa.model.training.fit`` per strategy at default params on
   random data of the embedded sample's size (180 videos x 150 frames; raw dims given by
   ``--sample-dims``), to check the <= ~15 s per fit budget of ``make repro``.

Prints a table and writes ``benchmarks/out/train_<device>.json``.

    .venv/bin/python benchmarks/train.py                 # both parts, all devices
    .venv/bin/python benchmarks/train.py --part steps --steps 10
    .venv/bin/python benchmarks/train.py --part fit --strategies fixed
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqa.core.atomic import write_json  # noqa: E402
from tqa.core.params import load_params  # noqa: E402
from tqa.core.schema import TASKS  # noqa: E402
from tqa.model.losses import masked_task_losses  # noqa: E402
from tqa.model.training import fit, planted_signal_data  # noqa: E402
from tqa.model.transformer import build_model  # noqa: E402

CHAPTER_DIMS = {"visual": 200, "audio": 100, "landmarks": 50, "au": 17}  # sums to 367


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_steps(
    params: dict,
    device: torch.device,
    amp: bool,
    ckpt: bool,
    n_videos: int,
    n_frames: int,
    dims: dict[str, int],
    n_steps: int,
    warmup: int = 2,
) -> dict:
    """Median optimizer-step time (s) and the implied epoch time for one configuration."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    bs = int(params["train"]["batch_size"])
    model = build_model(dims, {**params["model"], "grad_checkpointing": ckpt}).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=float(params["train"]["lr"]))
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    pool = min(n_videos, bs * 8)  # a resident pool of batches; index it like the real loop
    streams = {m: torch.randn(pool, n_frames, d, generator=g).to(device) for m, d in dims.items()}
    sync = torch.randn(pool, 3, generator=g).to(device)
    y = (1 + 4 * torch.rand(pool, len(TASKS), generator=g)).to(device)
    y[torch.rand(pool, len(TASKS), generator=g).to(device) < 0.25] = -1.0
    times = []
    for i in range(warmup + n_steps):
        idx = torch.arange(i * bs, (i + 1) * bs, device=device) % pool
        _sync(device)
        t = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            pred = model({m: s[idx] for m, s in streams.items()}, sync[idx])
        losses, counts = masked_task_losses(pred.float(), y[idx])
        scaler.scale(losses.sum()).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    out = {
        "device": device.type,
        "amp": amp,
        "grad_checkpointing": ckpt,
        "batch_size": bs,
        "step_s": step,
        "epoch_s": step * math.ceil(n_videos / bs),
        "n_videos": n_videos,
        "timed_steps": n_steps,
    }
    if device.type == "cuda":
        out["max_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    return out


def bench_fit(
    params: dict, strategies: list[str], sample_dims: dict[str, int], n: int = 180
) -> list[dict]:
    """Wall time of one full fit per strategy on random data of the sample's size."""
    fs, labels, split = planted_signal_data(
        n=n, dims=sample_dims, n_frames=int(params["features"]["n_frames"]), seed=0
    )
    rows = []
    for s in strategies:
        t = time.perf_counter()
        res = fit(fs, labels, split, params, strategy=s, seed=0, progress=False)
        rows.append(
            {
                "strategy": s,
                "fit_s": time.perf_counter() - t,
                "epochs_run": len(res.history),
                "best_epoch": res.best_epoch,
                "input_dims": res.input_dims,
                "epoch_s_median": float(res.history["seconds"].median()),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default=None)
    ap.add_argument("--part", choices=["steps", "fit", "all"], default="all")
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps per configuration")
    ap.add_argument("--n-videos", type=int, default=1588)
    ap.add_argument("--devices", nargs="*", default=None, help="default: cpu and cuda when present")
    ap.add_argument("--strategies", nargs="*", default=["fixed", "uncertainty", "gradnorm"])
    ap.add_argument(
        "--sample-dims",
        default="visual=40,audio=80,landmarks=1404,au=17",
        help="raw per-modality dims of the sample-sized fit benchmark",
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default train.num_threads)"
    )
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = ap.parse_args(argv)
    params = load_params(args.params)
    threads = args.threads or params["train"].get("num_threads")
    if threads:
        torch.set_num_threads(int(threads))
        params["train"]["num_threads"] = int(threads)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    sample_dims = {k: int(v) for k, v in (kv.split("=") for kv in args.sample_dims.split(","))}
    n_frames = int(params["features"]["n_frames"])
    for dev_name in devices:
        device = torch.device(dev_name)
        result = {
            "device": dev_name,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
            "model": params["model"],
            "chapter_dims": CHAPTER_DIMS,
            "steps": [],
            "fit": [],
        }
        if args.part in ("steps", "all"):
            print(
                f"\n[{dev_name}] {args.n_videos} x {n_frames} x {sum(CHAPTER_DIMS.values())}, "
                f"batch {params['train']['batch_size']}"
            )
            print(f"{'amp':>5} {'ckpt':>5} {'step ms':>9} {'epoch s':>9}")
            for amp in (False, True):
                for ckpt in (False, True):
                    r = bench_steps(
                        params, device, amp, ckpt, args.n_videos, n_frames, CHAPTER_DIMS, args.steps
                    )
                    result["steps"].append(r)
                    print(f"{amp!s:>5} {ckpt!s:>5} {1000 * r['step_s']:9.1f} {r['epoch_s']:9.2f}")
        if args.part in ("fit", "all"):
            p = json.loads(json.dumps(params))
            p["train"]["device"] = dev_name
            rows = bench_fit(p, args.strategies, sample_dims)
            result["fit"] = rows
            print(f"\n[{dev_name}] one fit at default params, 180 videos, raw dims {sample_dims}")
            for r in rows:
                print(
                    f"  {r['strategy']:<12} {r['fit_s']:6.1f} s  "
                    f"({r['epochs_run']} epochs, best {r['best_epoch']})"
                )
        out = Path(args.out) / f"train_{dev_name}.json"
        write_json(out, result)
        print("wrote", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
