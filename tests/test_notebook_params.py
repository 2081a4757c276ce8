"""Notebook parameters fail fast: the runner before the kernel starts, the first cell for
plain papermill / JupyterLab; notebooks find params.yaml from any working directory and a
manual run writes to scratch/, never to DVC-tracked folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from tqa.core.params import ROOT
from tqa.study import notebook as N

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_check_notebook_globals_catches_typos_values_and_paths() -> None:
    ns = {"strategy": "fixed", "params_path": None, "In": [], "_i1": ""}
    declared = set(ns)
    ns["strategyy"] = "gradnorm"  # what papermill injects for `-p strategyy gradnorm`
    with pytest.raises(N.NotebookParameterError, match="'strategyy'; did you mean 'strategy'"):
        N.check_notebook_globals(ns, declared, where="05")
    ns.pop("strategyy")
    ns["strategy"] = "nonsense"
    with pytest.raises(N.NotebookParameterError, match="strategy='nonsense' is not one of"):
        N.check_notebook_globals(ns, declared, choices={"strategy": ["fixed", "gradnorm"]})
    ns["strategy"], ns["params_path"] = "fixed", "no/such/params.yaml"
    with pytest.raises(N.NotebookParameterError, match="no such file"):
        N.check_notebook_globals(ns, declared, paths=["params_path"])
    ns["params_path"] = "params.yaml"  # relative to the repository root, from any cwd
    N.check_notebook_globals(ns, declared, choices={"strategy": ["fixed"]}, paths=["params_path"])
    # checked once per kernel: names defined by later cells are not parameters
    ns["params"] = {}
    N.check_notebook_globals(ns, declared)


def test_output_dir_defaults_to_scratch() -> None:
    assert N.output_dir(None, "reports") == ROOT / N.SCRATCH / "reports"
    assert N.output_dir("reports", "reports") == ROOT / "reports"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert f"/{N.SCRATCH}" in ignored and "/dvc_plots" in ignored


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_checks_parameters_first_and_defaults_to_scratch(path: Path) -> None:
    nb = jupytext.read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    first = code[0].source
    assert "params_path = None" in first and "_declared = set(globals())" in first
    assert "reports_dir = None" in first
    head = code[1].source.split("\nimport ")[0]  # before the notebook's own imports
    # one call opens the notebook; it checks the parameters before anything else
    # (tests/test_notebook_context.py)
    assert "from tqa.study.context import notebook_context" in head
    assert "ctx=notebook_context(globals(),_declared," in "".join(head.split())
    assert '"params.yaml"' not in "".join(c.source for c in code)  # never relative to the cwd
    assert set(N.parameter_names(nb)) >= {"params_path", "overrides", "reports_dir"}


def test_runner_refuses_a_typo_before_starting_a_kernel(tmp_path: Path, capsys) -> None:
    out = tmp_path / "nb.ipynb"
    rc = N.main(
        [str(ROOT / "notebooks" / "05_training.py"), str(out), "-p", "strategyy", "gradnorm"]
    )
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "unknown notebook parameter 'strategyy'; did you mean 'strategy'" in err
    assert len(err.strip().splitlines()) == 1


def _papermill(tmp_path: Path, cwd: Path, *params: str) -> subprocess.CompletedProcess:
    pm = Path(sys.executable).parent / "papermill"
    if not pm.exists():
        pytest.skip("papermill not installed beside this interpreter")
    return subprocess.run(
        [str(pm), "-k", "python3", str(ROOT / "notebooks" / "05_training.ipynb"),
         str(tmp_path / "out.ipynb"), *params],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    "params,message",
    [
        (["-p", "strategyy", "gradnorm"], "unknown notebook parameter 'strategyy'"),
        # the same first-cell check, another message: the default run keeps the one above
        pytest.param(
            ["-p", "strategy", "nonsense"],
            "strategy='nonsense' is not one of",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_plain_papermill_fails_in_the_first_cell(tmp_path: Path, params, message) -> None:
    """From notebooks/ (JupyterLab's cwd): stops before any data is loaded."""
    proc = _papermill(tmp_path, ROOT / "notebooks", *params)
    assert proc.returncode != 0
    assert message in proc.stderr
    done = json.loads((tmp_path / "out.ipynb").read_text())
    code = [c for c in done["cells"] if c["cell_type"] == "code"]
    failed = [i for i, c in enumerate(code) if any(o.get("ename") for o in c.get("outputs", []))]
    # parameters cell, injected cell, then the check cell fails: nothing after it ran
    assert failed and all(not c.get("execution_count") for c in code[failed[0] + 1 :])
    assert "NotebookParameterError" in json.dumps(code[failed[0]]["outputs"])


def test_a_notebook_runs_top_to_bottom_from_the_notebooks_folder(tmp_path: Path) -> None:
    """JupyterLab's kernel cwd is notebooks/: params.yaml is still found (params_path None),
    and a manual run writes only where it is told (here a temporary reports folder)."""
    pm = Path(sys.executable).parent / "papermill"
    if not pm.exists():
        pytest.skip("papermill not installed beside this interpreter")
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [str(pm), "-k", "python3", "04_model.ipynb", str(tmp_path / "out.ipynb"),
         "-p", "toy_data", "True", "-p", "reports_dir", str(reports)],
        cwd=ROOT / "notebooks", capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (reports / "data" / "model_parameters.csv").read_text()
    assert "total" in table
    assert not (ROOT / "notebooks" / "reports").exists()  # nothing relative to the cwd


@pytest.mark.slow  # two more kernel runs of 04_model; the stripping itself is unit-tested below
def test_executed_notebooks_are_byte_identical_across_runs(tmp_path: Path) -> None:
    """No timestamps, random cell ids, temporary paths or progress bars in the output."""
    outs = []
    out = tmp_path / "04.ipynb"
    for k in range(2):
        N.run_notebook(
            ROOT / "notebooks" / "04_model.py",
            out,
            {"toy_data": True, "reports_dir": str(tmp_path / f"reports{k}")},
        )
        outs.append(out.read_bytes().replace(f"reports{k}".encode(), b"reports"))
    assert outs[0] == outs[1]
    assert b"start_time" not in outs[0] and b'"id": "cell-0"' in outs[0]


def test_strip_volatile_takes_the_clone_path_and_environment_noise_out() -> None:
    """Two clones print different absolute paths: the executed notebook (a DVC output)
    keeps them repository-relative, drops tqdm's ipywidgets notice (a site-packages path) and
    INFO logs (fit seconds, trained / reused counts), native libraries' timestamped logs and
    blank stderr, and keeps the study's warnings."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(path)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"wrote {ROOT}/reports/a.png\n"),
        nbformat.v4.new_output(
            "stream", name="stderr", text=f"{ROOT}/.venv/x/tqdm/auto.py:21: TqdmWarning: "
            "IProgress not found. Please update jupyter and ipywidgets.\n",
        ),
        nbformat.v4.new_output(
            "stream", name="stderr", text="INFO tqa.study.studies: cv/seed0/fold0: 14.2 s\n"
            "WARNING tqa.study.x: 3 videos without a face\n"
            "W0000 00:00:1796085963.123896   11425 inference_feedback_manager.cc:114] Feedback\n"
            "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
            "Created TensorFlow Lite XNNPACK delegate for CPU.\n"  # two workers interleaved
            "WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\n",
        ),
        nbformat.v4.new_output("stream", name="stderr", text="\n"),
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": f"PosixPath('{ROOT}/data/sample')"},
            execution_count=1,
        ),
    ]  # fmt: skip
    nb.cells = [cell]
    N.strip_volatile(nb, source="notebooks/x.py", output="reports/notebooks/x.ipynb")
    outs = nb.cells[0].outputs
    assert [o["output_type"] for o in outs] == ["stream", "stream", "execute_result"]
    assert outs[0]["text"] == "wrote reports/a.png\n"
    assert outs[1]["text"] == "WARNING tqa.study.x: 3 videos without a face\n"  # kept
    assert outs[2]["data"]["text/plain"] == "PosixPath('data/sample')"
    assert str(ROOT) not in json.dumps(nb)
