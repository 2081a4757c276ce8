"""The machine a benchmark figure was measured on: ours, described, and the ones the scripts'
JSON files record, as one line each."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def describe_device() -> dict[str, Any]:
    """The machine a figure was measured on: CPU model, cores, RAM, torch, CUDA device."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "ram_gib": _ram_gib(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = None
        info["cuda_device"] = None
    try:
        import dask

        info["dask"] = dask.__version__
    except ImportError:
        info["dask"] = None
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def device_line(dev: dict[str, Any] | None) -> str:
    """One-line description of a device dict (ours or one found in a script's JSON)."""
    if not dev:
        return "device not recorded"
    if not isinstance(dev, dict):
        return str(dev)
    parts = []
    if dev.get("cuda_device"):
        parts.append(f"GPU {dev['cuda_device']}")
    if dev.get("cpu_model"):
        parts.append(f"CPU {dev['cpu_model']}")
    if dev.get("usable_cores") or dev.get("logical_cores"):
        parts.append(f"{dev.get('usable_cores') or dev.get('logical_cores')} cores")
    if dev.get("ram_gib"):
        parts.append(f"{dev['ram_gib']} GiB RAM")
    if dev.get("torch"):
        parts.append(f"torch {dev['torch']}")
    rest = {
        k: v
        for k, v in dev.items()
        if k
        not in {
            "cuda_device",
            "cpu_model",
            "usable_cores",
            "logical_cores",
            "ram_gib",
            "torch",
            "platform",
            "python",
            "torch_threads",
            "dask",
        }
    }
    parts += [f"{k} {v}" for k, v in rest.items() if v not in (None, "")]
    return ", ".join(parts) if parts else json.dumps(dev, default=str)


def json_device(res: Any) -> str:
    """The device a script's JSON says it ran on (the scripts record it in different keys)."""
    if not isinstance(res, dict):
        return "device not recorded"
    dev = res.get("device")
    if isinstance(dev, dict):
        return device_line(dev)
    parts = [str(res[k]) for k in ("device_name",) if res.get(k)]
    if dev:
        parts.append(f"({dev})")
    for key, label in (
        ("machine", ""),
        ("cpu_count", "cores: "),
        ("torch", "torch "),
        ("threads", "threads: "),
    ):
        if res.get(key) is not None:
            parts.append(f"{label}{res[key]}")
    return " ".join(parts) if parts else "device not recorded"
