"""The performance targets (params ``scale.bench.targets``) beside the measured figures,
and the numbers read out of the benchmark JSON files for them."""

from __future__ import annotations

import json
import os
import re
from typing import Any


def find_numbers(obj: Any, pattern: str, path: str = "") -> list[tuple[str, float]]:
    """All numeric leaves whose dotted key path matches ``pattern`` (regex, case-insensitive)."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            found += find_numbers(v, pattern, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            label = (
                v.get("name") or v.get("extractor") or v.get("mode")
                if isinstance(v, dict)
                else None
            )
            found += find_numbers(v, pattern, f"{path}[{label or i}]")
    elif (
        isinstance(obj, (int, float))
        and not isinstance(obj, bool)
        and re.search(pattern, path, re.I)
    ):
        found.append((path, float(obj)))
    return found


def _pick(
    cands: list[tuple[str, float]], prefer: tuple[str, ...] = ("end_to_end", "total", "overall")
) -> tuple[str, float] | None:
    """The first candidate whose path names a word of ``prefer`` (in that order), else the first."""
    for word in prefer:
        for path, v in cands:
            if word in path.lower():
                return path, v
    return cands[0] if cands else None


def evaluate_targets(results: dict[str, Any], targets: dict[str, float]) -> list[dict[str, Any]]:
    """The performance targets (``scale.bench.targets``) beside the measured figures: target,
    measured, met?, source."""
    scripts = (results.get("run_all") or {}).get("scripts") or {}
    scale = results.get("scale", {})
    engines = scale.get("engines", {})
    cores = (scale.get("device") or {}).get("usable_cores")
    rows = [
        _target_row(
            f"CPU weight-free extraction, end to end, all cores ({cores} here)",
            ">=",
            targets.get("cpu_videos_per_s"),
            (engines.get("local_all") or {}).get("videos_per_s"),
            "videos/s",
            (engines.get("local_all") or {}).get("command", "benchmarks/run_all.py --only local"),
        )
    ]
    gpu = _gpu_speedup(results, scripts)
    rows.append(
        _target_row(
            "GPUOptimizedExtractor vs naive per-frame loop, same GPU",
            ">=",
            targets.get("gpu_speedup"),
            gpu[1] if gpu else None,
            "x",
            gpu[2] + f" ({gpu[0]})"
            if gpu
            else "not measured here: no benchmarks/out/extract_cuda.json (needs a GPU machine)",
        )
    )
    cpu_script = _script_cpu_rate(results.get("extract_cpu"))
    if cpu_script:
        rows.append(
            _target_row(
                f"CPU weight-free extraction, end to end, workers={cpu_script[0]} (extract_cpu.py)",
                ">=",
                targets.get("cpu_videos_per_s"),
                cpu_script[1],
                "videos/s",
                script_for("extract_cpu", scripts).get("command") or "benchmarks/extract_cpu.py",
            )
        )
    noop = (scale.get("dvc") or {}).get("noop") or {}
    rows.append(
        _target_row(
            "no-op `dvc repro`",
            "<=",
            targets.get("noop_dvc_repro_s"),
            noop.get("seconds"),
            "s",
            noop.get("command") or noop.get("skipped") or "benchmarks/run_all.py --only dvc",
        )
    )
    return rows


def _gpu_speedup(results: dict[str, Any], scripts: dict[str, Any]) -> tuple[str, float, str] | None:
    """(where the figure is, GPU speedup, command) of the first CUDA extraction JSON."""
    for stem, res in results.items():
        if not isinstance(res, dict):
            continue
        if stem.startswith("extract_cuda") or (
            stem.startswith("extract") and "cuda" in json.dumps(res.get("device", ""))
        ):
            sp = neural_speedups(res)
            found = (
                ("all neural extractors (sum of naive s / sum of optimized s)", sp["all"])
                if "all" in sp
                else _pick(find_numbers(res, r"speedup"))
            )
            if found:
                cmd = (
                    res.get("command")
                    or script_for(stem, scripts).get("command")
                    or "benchmarks/extract.py --device cuda"
                )
                return (f"{stem}.json: {found[0]}", found[1], cmd)
    return None


def neural_speedups(res: dict[str, Any]) -> dict[str, float]:
    """naive_per_frame seconds / optimized seconds per neural extractor, and ``all`` (sums).

    Reads benchmarks/extract.py's ``per_extractor`` rows (scope, mode, seconds).
    """
    naive: dict[str, float] = {}
    fast: dict[str, float] = {}
    for row in res.get("per_extractor") or []:
        if not isinstance(row, dict) or not row.get("seconds"):
            continue
        if row.get("mode") == "naive_per_frame":
            naive[row["scope"]] = float(row["seconds"])
        elif row.get("mode") == "optimized":
            fast[row["scope"]] = float(row["seconds"])
    both = sorted(set(naive) & set(fast))
    out = {k: naive[k] / fast[k] for k in both}
    if both:
        out["all"] = sum(naive[k] for k in both) / sum(fast[k] for k in both)
    return out


def _script_cpu_rate(res: Any) -> tuple[int, float] | None:
    """(workers, videos/s) of extract_cpu.py's all-cores setting (the most workers)."""
    if not isinstance(res, dict):
        return None
    runs = [
        r
        for r in res.get("results") or []
        if isinstance(r, dict) and r.get("videos_per_s") is not None
    ]
    if not runs:
        return None
    cores = res.get("cpu_count") or os.cpu_count() or 1
    best = max(runs, key=lambda r: r.get("workers") or cores)
    return int(best.get("workers") or cores), float(best["videos_per_s"])


def _target_row(
    what: str, op: str, target: float | None, measured: float | None, unit: str, source: str
) -> dict:
    """One row of the targets table: goal, measured value, met / not met / not measured."""
    if measured is None or target is None:
        met = "not measured"
    else:
        met = "met" if (measured >= target if op == ">=" else measured <= target) else "not met"
    return {
        "target": what,
        "goal": f"{op} {target} {unit}",
        "measured": "—" if measured is None else f"{measured:.3g} {unit}",
        "status": met,
        "command": source,
    }


def script_for(stem: str, scripts: dict[str, Any]) -> dict[str, Any]:
    """The runner's record of the script whose name is the longest prefix of a JSON stem."""
    names = sorted((n for n in scripts if stem.startswith(n)), key=len, reverse=True)
    return scripts[names[0]] if names else {}
