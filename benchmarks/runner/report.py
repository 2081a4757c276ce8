"""``reports/benchmarks.md`` from the benchmark JSON files: the targets table, the engines
and dvc timings, one section per JSON file (nothing typed by hand)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runner.device import device_line, json_device
from runner.targets import evaluate_targets, neural_speedups, script_for
from tqa.core.params import ROOT


def load_results(out_dir: Path) -> dict[str, Any]:
    """Every ``*.json`` in ``out_dir``, by file stem (unreadable files reported, not fatal)."""
    results = {}
    for path in sorted(out_dir.glob("*.json")):
        try:
            results[path.stem] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            results[path.stem] = {"error": f"unreadable {path.name}: {exc}"}
    return results


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
        ran = script_for(stem, (results.get("run_all") or {}).get("scripts") or {})
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


def without_machine_paths(text: str) -> str:
    """The report with this checkout's absolute paths made repository-relative (it is committed)."""
    return text.replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")
