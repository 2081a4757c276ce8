"""Every path option resolves against the current folder (docs/your-data.md), and
`--quiet` is quiet: commands run from a folder outside the repository, each output named with
a token of this run; afterwards every output is in that folder and no path in the repository
carries the token. (import-thqa, validate, split, train, bundle, score and cv are covered the
same way by tests/test_your_data.py.)

Searching for the token, not comparing `git status`, keeps the test right while other work
changes the repository beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pandas as pd
import pytest

from tqa.cli import main as tqa
from tqa.core.params import ROOT
from tqa.core.schema import TASKS

SKIP_DIRS = {".git", ".venv", "__pycache__", ".dvc", "node_modules"}


def _repo_paths_with(token: str) -> list[str]:
    hits = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        hits += [os.path.join(dirpath, n) for n in dirnames + filenames if token in n]
    return hits


@pytest.mark.slow
def test_commands_write_only_into_the_current_folder(tmp_path, monkeypatch, capfd) -> None:
    assert ROOT not in tmp_path.parents
    t = uuid.uuid4().hex[:10]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    args = ["corpus", "--out", f"corpus_{t}", "--n", "2", "--reports", f"reports_{t}"]
    assert tqa([*args, "-S", "corpus.workers=1"]) == 0
    assert (work / f"corpus_{t}" / "labels.csv").is_file()
    assert (work / f"reports_{t}").is_dir()

    args = ["extract", "--root", f"corpus_{t}", "--cache", f"cache_{t}", "--summary"]
    args += [f"summary_{t}.json", "--workers", "1", "--no-progress", "--engine", "local"]
    assert tqa(args) == 0
    assert len(list((work / f"cache_{t}").glob("*.npz"))) == 2
    assert (work / f"summary_{t}.json").is_file()

    labels = pd.read_csv(work / f"corpus_{t}" / "labels.csv", dtype={"video_id": str})
    labels[["video_id", *TASKS]].to_csv(f"pred_{t}.csv", index=False)
    args = ["evaluate", "--predictions", f"pred_{t}.csv", "--splits", "all"]
    args += ["--out", f"eval_{t}.csv", "--bootstrap", "0", "-S", f"data.root=corpus_{t}"]
    assert tqa(args) == 0
    assert (work / f"eval_{t}.csv").is_file()
    capfd.readouterr()

    # `tqa metrics --quiet`, 2 workers, a new process (native stderr included): one line
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TQA_NATIVE_LOGS", None)
    cmd = [sys.executable, "-m", "tqa.cli", "metrics", f"corpus_{t}/videos", "--out"]
    cmd += [f"metrics_{t}", "--quiet", "--no-plot", "--workers", "2", "--max-seconds", "2"]
    res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert 1 <= len(lines) <= 5, lines
    assert not [ln for ln in lines if "W0000" in ln or "XNNPACK" in ln or "absl" in ln]
    assert (work / f"metrics_{t}" / "metrics.csv").is_file()

    assert _repo_paths_with(t) == []


def test_native_noise_is_filtered_and_errors_pass(tmp_path) -> None:
    """The fd-level stderr filter of tqa.core.facemesh, in a fresh process."""
    code = (
        "import os, sys\n"
        "from tqa.core.facemesh import filter_native_stderr\n"
        "filter_native_stderr()\n"
        "os.write(2, b'W0000 00:00:17.1   23 inference_feedback_manager.cc:114] Feedback\\n')\n"
        "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called\\n')\n"
        "os.write(2, b'E0000 00:00:17.2   23 graph.cc:1] a real error\\n')\n"
        "print('a python warning', file=sys.stderr)\n"
        "raise SystemExit('the end')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TQA_NATIVE_LOGS", None)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.stderr.splitlines() == [
        "E0000 00:00:17.2   23 graph.cc:1] a real error",
        "a python warning",
        "the end",
    ]
    env["TQA_NATIVE_LOGS"] = "1"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "Feedback" in res.stderr and "XNNPACK" in res.stderr
