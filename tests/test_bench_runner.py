"""benchmarks/run_all.py: device description, targets met / not met, the generated report."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

from tqa.core.params import ROOT

_spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "benchmarks" / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)
# run_all put benchmarks/ on sys.path: its parts are the runner/ package beside it
device = importlib.import_module("runner.device")
measure = importlib.import_module("runner.measure")
targets = importlib.import_module("runner.targets")


def test_device_description_matches_the_machine():
    import torch

    dev = run_all.describe_device()
    assert dev["logical_cores"] == os.cpu_count()
    assert dev["torch"] == torch.__version__
    assert (dev["cuda_device"] is None) == (not torch.cuda.is_available())
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        if m:
            assert dev["cpu_model"] == m.group(1).strip()
            assert m.group(1).strip() in device.device_line(dev)


def test_time_command_status_and_timeout():
    ok = measure.time_command(
        [sys.executable, "-c", "import time; time.sleep(0.2); print('hi')"], timeout=30
    )
    assert ok["rc"] == 0 and ok["seconds"] >= 0.2 and "hi" in ok["output_tail"]
    slow = measure.time_command([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)
    assert slow["rc"] == 124 and slow["seconds"] < 4
    assert (
        measure.time_command([sys.executable, "-c", "raise SystemExit(3)"], timeout=30)["rc"] == 3
    )


TARGETS = {"cpu_videos_per_s": 1.5, "gpu_speedup": 15.0, "noop_dvc_repro_s": 15.0}


def _results(cpu=2.0, noop=20.0, gpu=18.0):
    res = {
        "scale": {
            "device": {"usable_cores": 2},
            "engines": {"local_all": {"videos_per_s": cpu, "command": "tqa extract --workers 2"}},
            "dvc": {"noop": {"seconds": noop, "command": "dvc repro (second)"}},
        }
    }
    if gpu is not None:  # benchmarks/extract.py's schema: rows of (scope, mode, seconds)
        res["extract_cuda"] = {
            "device": "cuda:0",
            "device_name": "NVIDIA H100 80GB HBM3",
            "per_extractor": [
                {"scope": "resnet101", "mode": "naive_per_frame", "seconds": 30.0},
                {"scope": "resnet101", "mode": "per_video", "seconds": 9.0},
                {"scope": "resnet101", "mode": "optimized", "seconds": 1.0},
                {"scope": "hubert", "mode": "naive_per_frame", "seconds": 6.0},
                {"scope": "hubert", "mode": "optimized", "seconds": 1.0},
            ],
            "end_to_end": [{"scope": "end_to_end", "mode": "FeatureExtractor", "seconds": 9.0}],
        }
        res["extract_cuda"]["per_extractor"][2]["seconds"] = (
            36.0 / gpu - 1.0
        )  # (30 + 6) / total = gpu
    return res


def test_targets_met_and_not_met():
    rows = targets.evaluate_targets(_results(), TARGETS)
    assert [r["status"] for r in rows] == ["met", "met", "not met"]  # 2.0 >= 1.5, 18 >= 15, 20 > 15
    gpu_row = rows[1]
    assert gpu_row["measured"].startswith("18") and "all neural" in gpu_row["command"]
    assert targets.neural_speedups(_results()["extract_cuda"]) == pytest.approx(
        {"resnet101": 30.0, "hubert": 6.0, "all": 18.0}
    )  # 36 s naive / 2 s optimized
    low = _results(cpu=1.0, noop=3.0, gpu=None)
    low["extract_cpu"] = {
        "cpu_count": 2,
        "results": [{"workers": 1, "videos_per_s": 0.9}, {"workers": 0, "videos_per_s": 1.6}],
    }
    rows = targets.evaluate_targets(low, TARGETS)
    assert [r["status"] for r in rows] == ["not met", "not measured", "met", "met"]
    assert (
        rows[2]["measured"].startswith("1.6") and "workers=2" in rows[2]["target"]
    )  # 0 = all cores


def test_report_only_renders_every_json(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name, obj in _results().items():
        (out / f"{name}.json").write_text(json.dumps(obj))
    (out / "train_cpu.json").write_text(
        json.dumps(
            {
                "device": {"cpu_model": "X"},
                "epoch_seconds": 12.345,
                "rows": [{"amp": True, "step_ms": 81.5}],
            }
        )
    )
    (out / "broken.json").write_text("{not json")
    report = tmp_path / "benchmarks.md"
    assert (
        run_all.main(
            [
                "--report-only",
                "--set",
                f"scale.bench.out_dir={out}",
                "--set",
                f"scale.bench.report={report}",
            ]
        )
        == 0
    )
    text = report.read_text()
    assert "| met |" in text and "| not met |" in text
    assert "12.35" in text and "81.5" in text  # train JSON rendered
    assert "NVIDIA H100 80GB HBM3 (cuda:0)" in text  # the GPU JSON's own device
    assert "unreadable broken.json" in text
    assert "not EmotionTalk" in text  # provenance line


@pytest.mark.slow
def test_engine_benchmark_end_to_end(tmp_path, tiny_corpus):
    out, report = tmp_path / "out", tmp_path / "benchmarks.md"
    assert (
        run_all.main(
            [
                "--only",
                "local,dask",
                "--n-videos",
                "2",
                "--set",
                f"data.root={tiny_corpus}",
                "--set",
                f"scale.bench.out_dir={out}",
                "--set",
                f"scale.bench.report={report}",
            ]
        )
        == 0
    )
    eng = json.loads((out / "scale.json").read_text())["engines"]
    for key in ("local_1", "local_all", "dask"):
        assert eng[key]["status_counts"] == {"extracted": 2}, eng
        assert eng[key]["videos_per_s"] > 0
    assert eng["local_speedup"] == pytest.approx(
        eng["local_1"]["seconds"] / eng["local_all"]["seconds"], rel=1e-2
    )
    assert "Local process speedup" in report.read_text()


def test_report_names_no_machine_path() -> None:
    """reports/benchmarks.md is committed: absolute paths of this checkout become relative."""
    from tqa.core.params import ROOT

    text = f"cache {ROOT}/data/features, root {ROOT}, elsewhere /opt/x"
    out = run_all.without_machine_paths(text)
    assert str(ROOT) not in out
    assert out == "cache data/features, root ., elsewhere /opt/x"
