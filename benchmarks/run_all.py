#!/usr/bin/env python
"""Run tqa's benchmarks and WRITE ``reports/benchmarks.md``; nothing in it is typed by hand.

What it runs (each part can be selected with ``--only``):

* ``extract_cpu`` / ``extract`` / ``train`` — the benchmark scripts beside this file, when
  they exist (``benchmarks/extract_cpu.py``: weight-free extractors; ``extract.py``: naive
  vs GPUOptimizedExtractor; ``train.py``: training step/epoch time). Each writes JSON into
  ``benchmarks/out/``; every ``*.json`` there is rendered, including files produced on
  another machine (e.g. ``extract_cuda.json`` from a GPU box, copied in).
* ``local`` — local process speedup: the same videos extracted with workers=1 and with
  all cores (``tqa.features.engines`` ``local``), each into a fresh temporary cache.
* ``dask`` — the Dask engine on a LocalCluster on 127.0.0.1 (cluster start timed apart).
* ``dvc`` — a no-op ``dvc repro``: run twice, the second is reported (only when
  ``dvc status`` says the pipeline is up to date, or after ``--repro``).
* ``--repro`` — ``make repro`` wall time (long; the pipeline state before is recorded).

Its own figures go to ``benchmarks/out/scale.json``; ``--report-only`` re-renders the
report from the JSON files without measuring anything. Targets (params ``scale.bench.
targets``) are printed beside the measured figures with met / not met.

    .venv/bin/python benchmarks/run_all.py                 # everything but make repro
    .venv/bin/python benchmarks/run_all.py --repro         # + make repro wall time
    .venv/bin/python benchmarks/run_all.py --only local,dask --n-videos 4
    .venv/bin/python benchmarks/run_all.py --report-only
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqa.core.atomic import write_json, write_text
from tqa.core.params import ROOT, load_params, resolve

log = logging.getLogger("benchmarks.run_all")

SCRIPTS = ("extract_cpu", "extract", "train")
OWN = ("local", "dask", "dvc")
PARTS = SCRIPTS + OWN
PY = sys.executable


# --------------------------------------------------------------------------- device
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


# --------------------------------------------------------------------------- running
def _now() -> str:
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
    from tqa.features.engines.cli import run_engine

    out: dict[str, Any] = {
        "n_videos": len(videos),
        "video_ids": [v for v, _ in videos],
        "measured_at": _now(),
    }
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    root = params["data"]["root"]

    def timed(engine: str, workers: int, cache: str, **kw) -> dict[str, Any]:
        start = time.perf_counter()
        table = run_engine(engine, videos, params, cache, workers=workers, progress=False, **kw)
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

    with tempfile.TemporaryDirectory(prefix="tqa-bench-") as tmp:
        if "local" in parts:
            out["local_1"] = timed("local", 1, f"{tmp}/local1")
            out["local_1"]["command"] = (
                f"tqa extract --engine local --workers 1 (first {len(videos)} videos of {root}, "
                "empty cache)"
            )
            out["local_all"] = timed("local", cores, f"{tmp}/localall")
            out["local_all"]["command"] = (
                f"tqa extract --engine local --workers {cores} (same videos, empty cache)"
            )
            t1, tn = out["local_1"]["seconds"], out["local_all"]["seconds"]
            out["local_speedup"] = round(t1 / tn, 3) if tn else None
        if "dask" in parts:
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
            out["dask"] = {
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
    return out


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
    res = time_command([dvc, "status"], 300)
    if res["rc"] != 0:
        return f"dvc status failed (rc {res['rc']})"
    text = res["output_tail"]
    return "up to date" if "up to date" in text.lower() else "changed"


# --------------------------------------------------------------------------- report
def load_results(out_dir: Path) -> dict[str, Any]:
    """Every ``*.json`` in ``out_dir``, by file stem (unreadable files reported, not fatal)."""
    results = {}
    for path in sorted(out_dir.glob("*.json")):
        try:
            results[path.stem] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            results[path.stem] = {"error": f"unreadable {path.name}: {exc}"}
    return results


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
    for word in prefer:
        for path, v in cands:
            if word in path.lower():
                return path, v
    return cands[0] if cands else None


def evaluate_targets(results: dict[str, Any], targets: dict[str, float]) -> list[dict[str, Any]]:
    """The performance targets (``scale.bench.targets``) beside the measured figures: target,
    measured, met?, source."""
    rows = []
    scale = results.get("scale", {})
    engines = scale.get("engines", {})
    cpu = (engines.get("local_all") or {}).get("videos_per_s")
    cores = (scale.get("device") or {}).get("usable_cores")
    rows.append(
        _target_row(
            f"CPU weight-free extraction, end to end, all cores ({cores} here)",
            ">=",
            targets.get("cpu_videos_per_s"),
            cpu,
            "videos/s",
            (engines.get("local_all") or {}).get("command", "benchmarks/run_all.py --only local"),
        )
    )
    gpu = None
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
                    or _script_for(stem, (results.get("run_all") or {}).get("scripts") or {}).get(
                        "command"
                    )
                    or "benchmarks/extract.py --device cuda"
                )
                gpu = (f"{stem}.json: {found[0]}", found[1], cmd)
                break
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
                _script_for("extract_cpu", (results.get("run_all") or {}).get("scripts") or {}).get(
                    "command"
                )
                or "benchmarks/extract_cpu.py",
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


def _target_row(
    what: str, op: str, target: float | None, measured: float | None, unit: str, source: str
) -> dict:
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


def md_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A Markdown table of a list of dicts (missing cells blank, pipes escaped)."""
    if not rows:
        return "_(empty)_"
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: Any) -> str:
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, dict) and all(
            isinstance(x, (int, float, str, bool)) or x is None for x in v.values()
        ):
            v = ", ".join(
                f"{k}: {x:.3g}" if isinstance(x, float) else f"{k}: {x}" for k, x in v.items()
            )
        elif isinstance(v, (dict, list)):
            v = json.dumps(v, default=str)
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def render_json(obj: Any, depth: int = 0) -> str:
    """Markdown of a benchmark JSON: scalars as a key/value table, lists of dicts as tables."""
    if not isinstance(obj, dict):
        return md_table([{"value": obj}])
    blocks, scalars = [], []
    for k, v in obj.items():
        if k in {"device", "output_tail"}:
            continue
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            blocks.append(f"**{k}**\n\n" + md_table(v))
        elif (
            isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()) and depth < 2
        ):
            if all(not isinstance(y, (dict, list)) for x in v.values() for y in x.values()):
                blocks.append(f"**{k}**\n\n" + md_table([{"": name, **x} for name, x in v.items()]))
            else:
                blocks.append(f"**{k}**\n\n" + render_json(v, depth + 1))
        elif isinstance(v, dict):
            blocks.append(f"**{k}**\n\n" + render_json(v, depth + 1))
        else:
            scalars.append({"key": k, "value": v})
    head = md_table(scalars) if scalars else ""
    return "\n\n".join(x for x in [head] + blocks if x)


def _script_for(stem: str, scripts: dict[str, Any]) -> dict[str, Any]:
    """The runner's record of the script whose name is the longest prefix of a JSON stem."""
    names = sorted((n for n in scripts if stem.startswith(n)), key=len, reverse=True)
    return scripts[names[0]] if names else {}


def _engine_lines(eng: dict[str, Any]) -> list[str]:
    """Rows of the engines table, the local speedup and any engine error."""
    lines: list[str] = []
    rows = []
    for key in ("local_1", "local_all", "dask"):
        if key in eng:
            r = eng[key]
            rows.append(
                {
                    "run": key,
                    "workers": r.get("workers"),
                    "videos": eng.get("n_videos"),
                    "seconds": r.get("seconds"),
                    "videos/s": r.get("videos_per_s"),
                    "s per video (busy)": r.get("mean_video_seconds"),
                    "cluster start s": r.get("cluster_start_seconds"),
                    "statuses": r.get("status_counts"),
                    "command": r.get("command"),
                }
            )
    if rows:
        lines += [
            md_table(rows),
            "",
            "`seconds` is end to end (worker process start-up and imports included); "
            "`s per video (busy)` is the mean time inside one video's task.",
            "",
        ]
    if eng.get("local_speedup") is not None:
        lines += [
            f"Local process speedup (workers=1 time / all-cores time, same videos): "
            f"**{eng['local_speedup']:.2f}x**.",
            "",
        ]
    if eng.get("error"):
        lines += [f"Engine benchmark error: `{eng['error']}`", ""]
    return lines


def _dvc_lines(dvc: dict[str, Any]) -> list[str]:
    """The `make repro` and no-op `dvc repro` timings table."""
    lines: list[str] = []
    if dvc:
        drows = []
        if "make_repro" in dvc:
            m = dvc["make_repro"]
            drows.append(
                {
                    "what": "`make repro` wall time",
                    "seconds": m.get("seconds"),
                    "rc": m.get("rc"),
                    "note": f"pipeline before: {dvc.get('status_before_repro')}",
                    "command": m.get("command"),
                }
            )
        noop = dvc.get("noop") or {}
        drows.append(
            {
                "what": "no-op `dvc repro` (second run)",
                "seconds": noop.get("seconds"),
                "rc": noop.get("rc"),
                "note": noop.get("skipped") or f"first run {noop.get('first_seconds')} s",
                "command": noop.get("command"),
            }
        )
        if dvc.get("skipped"):
            drows = [{"what": "dvc", "note": dvc["skipped"]}]
        lines += [md_table(drows), ""]
    return lines


def _result_sections(results: dict[str, Any]) -> list[str]:
    """One section per benchmark JSON file, then the scripts the runner ran."""
    lines: list[str] = []
    for stem, res in results.items():
        if stem in {"scale", "run_all"}:
            continue
        ran = _script_for(stem, (results.get("run_all") or {}).get("scripts") or {})
        cmd = res.get("command") if isinstance(res, dict) else None
        lines += [
            "",
            f"## {stem} (benchmarks/out/{stem}.json)",
            "",
            f"Measured on: {json_device(res)}.",
            f"Command: `{cmd or ran.get('command') or 'see the script docstring'}`.",
            "",
        ]
        sp = neural_speedups(res) if isinstance(res, dict) else {}
        if sp:
            lines += [
                "Speedup of the optimized path over the naive per-frame loop "
                "(naive s / optimized s, computed here from `per_extractor`):",
                "",
                md_table([{"extractor": k, "speedup": round(v, 2)} for k, v in sp.items()]),
                "",
            ]
        lines += [render_json(res)]
    scripts = (results.get("run_all") or {}).get("scripts") or {}
    if scripts:
        lines += [
            "",
            "## Benchmark scripts run by this runner",
            "",
            md_table(
                [
                    {
                        "script": k,
                        "command": v.get("command"),
                        "seconds": v.get("seconds"),
                        "rc": v.get("rc"),
                        "note": v.get("skipped", ""),
                    }
                    for k, v in scripts.items()
                ]
            ),
        ]
    return lines


def render_report(
    results: dict[str, Any], params: dict, device: dict[str, Any], generated: str
) -> str:
    """The whole of reports/benchmarks.md."""
    from tqa.study.reporting import provenance

    targets = ((params.get("scale") or {}).get("bench") or {}).get("targets") or {}
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `benchmarks/run_all.py` on {generated}; every number below comes from "
        "the JSON files in "
        f"`{(params.get('scale') or {}).get('bench', {}).get('out_dir', 'benchmarks/out')}/` "
        "written by the benchmark scripts — nothing here is typed by hand, and no figure is "
        "the thesis chapter's.",
        "",
        f"**This machine:** {device_line(device)}.",
        "",
        provenance(params),
        "",
        "## Performance targets (params.yaml `scale.bench.targets`)",
        "",
        md_table(
            evaluate_targets(results, targets), ["target", "goal", "measured", "status", "command"]
        ),
    ]
    scale = results.get("scale")
    if scale:
        lines += [
            "",
            "## Engines and pipeline (benchmarks/out/scale.json)",
            "",
            f"Measured on: {device_line(scale.get('device'))}; engines at "
            f"{(scale.get('engines') or {}).get('measured_at', '—')}, dvc at "
            f"{(scale.get('dvc') or {}).get('measured_at', '—')}.",
            "",
        ]
        lines += _engine_lines(scale.get("engines") or {})
        lines += _dvc_lines(scale.get("dvc") or {})
    lines += _result_sections(results)
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- main
def without_machine_paths(text: str) -> str:
    """The report with this checkout's absolute paths made repository-relative (it is committed)."""
    return text.replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    ap.add_argument(
        "--n-videos",
        type=int,
        default=None,
        help="videos for the engine runs (scale.bench.n_videos)",
    )
    ap.add_argument("--repro", action="store_true", help="also time `make repro` (long)")
    ap.add_argument(
        "--report-only", action="store_true", help="measure nothing; re-render the report from JSON"
    )
    ap.add_argument(
        "--script-args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help='extra arguments for a script, e.g. --script-args "extract_cpu=--workers 2"',
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="params override (YAML value), e.g. --set data.root=data/sample",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    params = load_params(args.params, overrides)
    bench = (params.get("scale") or {}).get("bench") or {}
    out_dir = resolve(bench.get("out_dir", "benchmarks/out"))
    report = resolve(bench.get("report", "reports/benchmarks.md"))
    timeout = float(bench.get("script_timeout", 1800))
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from {PARTS}")
    device = describe_device()
    now = datetime.now(UTC).isoformat(timespec="seconds")

    if not args.report_only:
        extra = default_script_args(
            out_dir,
            int(args.n_videos or bench.get("n_videos") or 8),
            bool(device.get("cuda_device")),
        )
        for s in args.script_args:
            name, _, rest = s.partition("=")
            extra[name] = shlex.split(rest)
        scripts = run_scripts([p for p in parts if p in SCRIPTS], extra, timeout)
        prev = load_results(out_dir).get("run_all", {})
        write_json(
            out_dir / "run_all.json",
            {"generated": now, "device": device, "scripts": {**prev.get("scripts", {}), **scripts}},
        )
        scale = load_results(out_dir).get("scale", {})
        scale.update({"generated": now, "device": device})
        if {"local", "dask"} & set(parts):
            try:
                videos = dataset_videos(params, args.n_videos or bench.get("n_videos"))
                scale["engines"] = bench_engines(params, videos, parts)
            except Exception as exc:  # reported in the file, the other parts still run
                log.exception("engine benchmark failed")
                scale["engines"] = {"error": f"{type(exc).__name__}: {exc}"}
            write_json(out_dir / "scale.json", scale)
        if "dvc" in parts or args.repro:
            scale["dvc"] = bench_dvc(args.repro, timeout)
            write_json(out_dir / "scale.json", scale)
    results = load_results(out_dir)
    write_text(report, without_machine_paths(render_report(results, params, device, now)))
    log.info("wrote %s", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
