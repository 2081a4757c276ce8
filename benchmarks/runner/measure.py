"""What ``run_all.py`` measures: timed commands, the benchmark scripts, the extraction
engines (local workers=1 vs all cores, Dask on a LocalCluster) and ``dvc repro``."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqa.core.params import ROOT, resolve

log = logging.getLogger("benchmarks.run_all")

PY = sys.executable


def _now() -> str:
    """UTC now, to the second (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def time_command(cmd: list[str], timeout: float, cwd: Path = ROOT) -> dict[str, Any]:
    """Run ``cmd``; its wall seconds, exit status and the tail of its output."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        rc, out = proc.returncode, (proc.stdout or "") + (proc.stderr or "")
    except subprocess.TimeoutExpired as exc:
        rc, out = 124, f"timed out after {timeout} s\n{exc.stdout or ''}"
    except FileNotFoundError as exc:
        rc, out = 127, str(exc)
    return {
        "command": shlex.join(cmd).replace(f"{ROOT}/", ""),
        "seconds": round(time.perf_counter() - start, 3),
        "rc": rc,
        "output_tail": out[-2000:] if isinstance(out, str) else "",
    }


def default_script_args(out_dir: Path, n_videos: int, cuda: bool) -> dict[str, list[str]]:
    """Arguments each script gets unless ``--script-args NAME=...`` replaces them.

    ``extract.py`` names its JSON after the device (``extract_cpu.json`` on CPU would
    overwrite extract_cpu.py's), so its output path is set here: ``extract_cuda.json`` on a
    GPU, ``extract_neural_cpu.json`` otherwise (2 videos: the naive loop is slow on CPU).
    Random-init weights are allowed so that timings exist without downloads; real weights
    on disk are used when present, and the JSON says which.
    """
    neural = (
        ["--device", "cuda", "--videos", "32", "--out", str(out_dir / "extract_cuda.json")]
        if cuda
        else ["--device", "cpu", "--videos", "2", "--out", str(out_dir / "extract_neural_cpu.json")]
    )
    return {
        "extract_cpu": ["--n", str(n_videos), "--out", str(out_dir / "extract_cpu.json")],
        "extract": neural + ["--random-init"],
        "train": ["--out", str(out_dir)],
    }


def run_scripts(
    names: list[str], extra_args: dict[str, list[str]], timeout: float
) -> dict[str, Any]:
    """Run the benchmark scripts that exist; their commands and exit statuses."""
    ran = {}
    for name in names:
        script = ROOT / "benchmarks" / f"{name}.py"
        if not script.exists():
            ran[name] = {"skipped": f"benchmarks/{name}.py does not exist"}
            continue
        cmd = [PY, str(script.relative_to(ROOT))] + extra_args.get(name, [])
        log.info("running %s", shlex.join(cmd))
        res = time_command(cmd, timeout)
        if res["rc"] != 0:
            log.warning("%s exited %s:\n%s", name, res["rc"], res["output_tail"])
        ran[name] = res
    return ran


def dataset_videos(params: dict, n: int | None) -> list[tuple[str, str]]:
    """The first ``n`` (video_id, path) of data.root (via tqa.data.labels when available)."""
    root = resolve(params["data"]["root"])
    try:
        from tqa.data.labels import load_dataset

        labels = load_dataset(root, params).labels
        pairs = list(zip(labels["video_id"].astype(str), labels["path"].astype(str)))
    except ImportError:
        files = sorted(
            p
            for p in (root / "videos").glob("*")
            if p.suffix.lower() in {".mp4", ".avi", ".mov", ".mkv"}
        )
        pairs = [(p.stem, str(p)) for p in files]
    if not pairs:
        raise FileNotFoundError(
            f"no videos found under {root} (build the sample corpus: `tqa corpus`)"
        )
    return pairs[:n] if n else pairs


def bench_engines(params: dict, videos: list[tuple[str, str]], parts: list[str]) -> dict[str, Any]:
    """Local workers=1 vs all cores, and the Dask engine on a LocalCluster, same videos."""
    out: dict[str, Any] = {
        "n_videos": len(videos),
        "video_ids": [v for v, _ in videos],
        "measured_at": _now(),
    }
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    with tempfile.TemporaryDirectory(prefix="tqa-bench-") as tmp:
        if "local" in parts:
            out.update(_bench_local(params, videos, cores, tmp))
        if "dask" in parts:
            out["dask"] = _bench_dask(params, videos, cores, tmp)
    return out


def _bench_local(
    params: dict, videos: list[tuple[str, str]], cores: int, tmp: str
) -> dict[str, Any]:
    """The local engine with 1 worker and with ``cores``, each into an empty cache, and the
    speedup between them (``local_1``, ``local_all``, ``local_speedup``)."""
    from tqa.features.engines.cli import run_engine

    root = params["data"]["root"]

    def timed(workers: int, cache: str) -> dict[str, Any]:
        start = time.perf_counter()
        table = run_engine("local", videos, params, cache, workers=workers, progress=False)
        secs = time.perf_counter() - start
        counts = {str(k): int(v) for k, v in table["status"].value_counts().items()}
        done = counts.get("extracted", 0)
        return {
            "workers": workers,
            "seconds": round(secs, 3),
            "status_counts": counts,
            "videos_per_s": round(done / secs, 4) if secs > 0 and done else None,
            "mean_video_seconds": _mean_seconds(table),
        }

    out: dict[str, Any] = {"local_1": timed(1, f"{tmp}/local1")}
    out["local_1"]["command"] = (
        f"tqa extract --engine local --workers 1 (first {len(videos)} videos of {root}, "
        "empty cache)"
    )
    out["local_all"] = timed(cores, f"{tmp}/localall")
    out["local_all"]["command"] = (
        f"tqa extract --engine local --workers {cores} (same videos, empty cache)"
    )
    t1, tn = out["local_1"]["seconds"], out["local_all"]["seconds"]
    out["local_speedup"] = round(t1 / tn, 3) if tn else None
    return out


def _bench_dask(
    params: dict, videos: list[tuple[str, str]], cores: int, tmp: str
) -> dict[str, Any]:
    """The Dask engine on a LocalCluster of ``cores`` workers (cluster start timed apart)."""
    from distributed import Client

    from tqa.features.engines.dask_engine import run_dask, start_local_cluster

    start = time.perf_counter()
    cluster = start_local_cluster(cores, params)
    client = Client(cluster)
    client.wait_for_workers(cores)
    startup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        table = run_dask(videos, params, f"{tmp}/dask", client=client, progress=False)
        secs = time.perf_counter() - start
    finally:
        client.close()
        cluster.close()
    counts = {str(k): int(v) for k, v in table["status"].value_counts().items()}
    done = counts.get("extracted", 0)
    return {
        "workers": cores,
        "cluster_start_seconds": round(startup, 3),
        "seconds": round(secs, 3),
        "mean_video_seconds": _mean_seconds(table),
        "status_counts": counts,
        "videos_per_s": round(done / secs, 4) if secs > 0 and done else None,
        "n_distinct_workers": int(table["worker"].nunique()),
        "command": "tqa extract --engine dask (LocalCluster on 127.0.0.1, "
        f"{cores} worker processes x 1 thread; same videos, empty cache; "
        "cluster start timed apart)",
    }


def _mean_seconds(table) -> float | None:
    """Mean busy seconds of one extracted video (worker start-up excluded)."""
    done = table[table["status"] == "extracted"]
    return (
        round(float(done["seconds"].astype(float).mean()), 3)
        if len(done) and "seconds" in done
        else None
    )


def bench_dvc(repro: bool, timeout: float) -> dict[str, Any]:
    """``make repro`` wall time (when asked) and a no-op ``dvc repro`` (second of two runs)."""
    out: dict[str, Any] = {"measured_at": _now()}
    dvc = str(Path(PY).with_name("dvc"))
    if not (ROOT / "dvc.yaml").exists():
        return {"skipped": "no dvc.yaml", **out}
    if repro:
        out["status_before_repro"] = _dvc_status(dvc)
        out["make_repro"] = time_command(["make", "repro"], timeout)
    status = _dvc_status(dvc)
    out["status_before_noop"] = status
    if status != "up to date":
        out["noop"] = {
            "skipped": f"pipeline not up to date ({status}); run `make repro` first or pass --repro"
        }
        return out
    first = time_command([dvc, "repro"], timeout)
    second = time_command([dvc, "repro"], timeout)
    out["noop"] = {
        "first_seconds": first["seconds"],
        "seconds": second["seconds"],
        "rc": second["rc"],
        "command": f"{second['command']} (second of two consecutive runs)",
        "output_tail": second["output_tail"][-500:],
    }
    return out


def _dvc_status(dvc: str) -> str:
    """``dvc status`` in a word: "up to date", "changed" or why it failed."""
    res = time_command([dvc, "status"], 300)
    if res["rc"] != 0:
        return f"dvc status failed (rc {res['rc']})"
    text = res["output_tail"]
    return "up to date" if "up to date" in text.lower() else "changed"
