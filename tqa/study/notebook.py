"""Run one of the study's paired notebooks with papermill: ``python -m tqa.study.notebook``.

The reviewed source of a notebook is its jupytext ``py:percent`` script
(``notebooks/NN_name.py``); the ``.ipynb`` beside it is the same notebook for JupyterLab.
This runner executes the script (converted in memory, so what runs is what was reviewed)
and writes the executed notebook. Before any work it checks every ``-p name value``
against the names assigned in the notebook's cell tagged ``parameters``: a typo is an
error naming the close match, not a silently ignored value.

Plain ``papermill`` (or JupyterLab) cannot be made to refuse a name before the kernel
starts; so each notebook's first code cell calls :func:`check_notebook_globals`, which
fails (one line, before any data is loaded) on a parameter the ``parameters`` cell does not
define, on a value outside its allowed choices and on a path that does not exist.
Manual runs write to ``scratch/`` (git-ignored, :func:`output_dir`); only DVC stages pass
the tracked folders (``-p reports_dir reports`` ...).

    python -m tqa.study.notebook notebooks/05_training.py scratch/notebooks/05_training.ipynb \\
        -p strategy gradnorm
"""

from __future__ import annotations

import argparse
import ast
import difflib
import logging
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tqa.core.params import ROOT, display_path, resolve

if TYPE_CHECKING:  # the notebook tools load on use: every study kernel imports this module
    # for its parameter check, and jupytext's nbformat -> jsonschema chain costs ~1.3 s there
    import nbformat

#: Folder (under the repository root) of manual, non-DVC notebook outputs; git- and dvc-ignored.
SCRATCH = "scratch"


class NotebookParameterError(ValueError):
    """A parameter the notebook's ``parameters`` cell does not define, or an invalid value."""


def _unknown(name: str, known: Iterable[str], where: str) -> NotebookParameterError:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return NotebookParameterError(
        f"{where}: unknown notebook parameter {name!r}{hint} (parameters: {', '.join(known)})"
    )


def check_notebook_globals(
    namespace: dict[str, Any],
    declared: Iterable[str],
    *,
    choices: dict[str, Iterable[Any]] | None = None,
    paths: Iterable[str] = (),
    where: str = "notebook",
) -> None:
    """Fail fast on bad notebook parameters (call first thing after the parameters cell).

    declared: ``set(globals())`` taken at the end of the ``parameters`` cell, so any public
    name added since is a parameter papermill injected that the notebook does not know
    (a typo such as ``-p strategyy x``). choices: parameter -> allowed values. paths:
    parameters naming files or folders that must exist when not None (relative to the
    repository root). Raises :class:`NotebookParameterError` with a one-line message.
    Checks once per kernel (re-running cells interactively defines new names legitimately).
    """
    if namespace.get(_CHECKED):
        return
    declared = set(declared)
    params = [k for k in declared if not k.startswith("_") and k not in _KERNEL_NAMES]
    for name in namespace:
        if name not in declared and not name.startswith("_") and name not in _KERNEL_NAMES:
            raise _unknown(name, params, where)
    for name, allowed in (choices or {}).items():
        allowed = list(allowed)
        if namespace.get(name) not in allowed:
            raise NotebookParameterError(
                f"{where}: {name}={namespace.get(name)!r} is not one of {allowed}"
            )
    for name in paths:
        value = namespace.get(name)
        if value is not None and not resolve(value).exists():
            raise NotebookParameterError(f"{where}: {name}={value!r}: no such file or folder")
    namespace[_CHECKED] = True


_CHECKED = "_parameters_checked"


#: Names a Jupyter kernel defines in the user namespace (never notebook parameters).
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


def output_dir(value: str | Path | None, kind: str) -> Path:
    """Where a notebook writes ``kind`` (reports, models, studies): ``value`` when given
    (DVC stages pass the tracked folder), else ``scratch/<kind>`` — a manual run never
    overwrites DVC-tracked outputs unless asked."""
    return resolve(value if value is not None else Path(SCRATCH) / kind)


def parameter_names(nb: nbformat.NotebookNode) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` (in order)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            names = []
            for node in ast.parse(cell.source).body:
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [getattr(node, "target", None)]
                )
                names += [
                    t.id for t in targets if isinstance(t, ast.Name) and not t.id.startswith("_")
                ]
            return names
    return []


def check_parameters(nb: nbformat.NotebookNode, given: dict[str, Any], source: str) -> None:
    """Raise :class:`NotebookParameterError` for any ``given`` name the notebook lacks."""
    known = parameter_names(nb)
    for name in given:
        if name not in known:
            raise _unknown(name, known, source)


def parse_value(text: str) -> Any:
    """A ``-p`` value as YAML (``5`` -> int, ``true`` -> bool, ``null`` -> None, else str)."""
    return yaml.safe_load(text)


def run_notebook(
    source: str | Path,
    output: str | Path,
    parameters: dict[str, Any],
    cwd: str | Path | None = None,
) -> Path:
    """Execute ``source`` (``.py`` paired script or ``.ipynb``) into ``output``; return it."""
    import jupytext  # noqa: PLC0415 - loaded on use (see the TYPE_CHECKING import above)
    import nbformat  # noqa: PLC0415
    import papermill  # noqa: PLC0415

    source, output = Path(source), Path(output)
    nb = jupytext.read(source)
    check_parameters(nb, parameters, str(source))
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / (source.stem + ".ipynb")
        nbformat.write(nb, staged)
        papermill.execute_notebook(
            str(staged),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(cwd or source.parent),
            progress_bar=False,
            # the kernel's own notices ("running over TCP without encryption": it listens
            # on localhost only, for this one run) are not the study's; its errors still show
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    nb_out = nbformat.read(output, as_version=4)
    strip_volatile(nb_out, source=display_path(source), output=display_path(output))
    nbformat.write(nb_out, output)
    return output


#: papermill's parameter-cell inspector warns "Unable to parse line 1 'x = None  # a = b'" on
#: every documented parameter (a comment holding "="); it only feeds ``papermill --help``.
logging.getLogger("papermill.translators").setLevel(logging.ERROR)  # applies once it loads

#: A progress bar's text (tqdm): elapsed times and rates differ between identical runs.
_PROGRESS = re.compile(r"\r|\d+it/s|s/it\]|\[\d\d:\d\d<")


def strip_volatile(nb: nbformat.NotebookNode, source: str, output: str) -> nbformat.NotebookNode:
    """Drop what differs between two identical runs (in place): execution timestamps and
    durations, papermill's temporary input path, random cell ids, progress-bar output, INFO /
    DEBUG log lines, the repository's absolute path in printed text. So an unchanged stage
    rewrites the executed notebook byte for byte, in any clone."""
    pm = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
        pm.pop(key, None)
    pm.update({"input_path": source, "output_path": output})
    for i, cell in enumerate(nb.cells):
        if "id" in cell:  # jupytext gives a converted .py random cell ids
            cell["id"] = f"cell-{i}"
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            meta.get("papermill", {}).pop(key, None)
        if cell.cell_type == "code":
            outputs = []
            for o in cell.get("outputs", []):
                if o.get("output_type") == "stream":
                    text = o.get("text", "")
                    if _PROGRESS.search(text) or _NOISE.search(text):
                        continue
                    if o.get("name") == "stderr":
                        o["text"] = text = "".join(
                            line for line in text.splitlines(keepends=True)
                            if not (_RUN_LOG.match(line) or _NATIVE_LOG.search(line))
                        )  # fmt: skip
                        if not text.strip():  # e.g. the newline a closed progress bar leaves
                            continue
                outputs.append(_relative_paths(o))
            cell.outputs = outputs
    return nb


#: INFO / DEBUG log lines (the notebooks' ``logging`` format): fit seconds, "3 trained, 6
#: reused": a record of this run, not of the study. Warnings and errors are kept.
_RUN_LOG = re.compile(r"(INFO|DEBUG) [\w.]+: ")
#: Native libraries' logs written straight to stderr (TensorFlow Lite / MediaPipe: glog lines
#: with a timestamp and thread id, "INFO: Created TensorFlow Lite XNNPACK delegate", absl's
#: once-per-process notice), in an order and number that depend on process scheduling; two
#: worker processes can interleave them within one line, so they are searched, not matched.
_NATIVE_LOG = re.compile(
    r"[IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|^INFO: |TensorFlow Lite XNNPACK delegate"
    r"|All log messages before absl::InitializeLog"
)


#: Environment noise on stderr: tqdm.auto's notice that ipywidgets is not installed names a
#: file under site-packages (another path on every machine) and says nothing about the study.
_NOISE = re.compile(r"TqdmWarning: IProgress not found")


def _relative_paths(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``output`` with the repository root taken out of its text (``/home/x/tqa/reports/a.png``
    -> ``reports/a.png``): a printed path must not make the executed notebook, a DVC output,
    differ between two clones."""
    roots = sorted({str(ROOT) + "/", str(ROOT.resolve()) + "/"}, key=len, reverse=True)

    def scrub(text):
        if isinstance(text, list):
            return [scrub(t) for t in text]
        if isinstance(text, str):
            for root in roots:
                text = text.replace(root, "")
        return text

    if "text" in output:
        output["text"] = scrub(output["text"])
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime == "application/json":
            output["data"][mime] = scrub(value)
    if "traceback" in output:
        output["traceback"] = scrub(output["traceback"])
    return output


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tqa.study.notebook", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("source", help="notebooks/NN_name.py (or .ipynb)")
    ap.add_argument("output", help="executed notebook to write (.ipynb)")
    ap.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="repeatable",
    )
    ap.add_argument(
        "--cwd", default=None, help="kernel working directory (default: the notebook's folder)"
    )
    args = ap.parse_args(argv)
    params = {name: parse_value(value) for name, value in args.parameter}
    import papermill  # noqa: PLC0415

    try:
        run_notebook(args.source, args.output, params, cwd=args.cwd)
    except (NotebookParameterError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except papermill.PapermillExecutionError as exc:
        print(
            f"error: {args.source} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
