"""Run one of the study's paired notebooks with papermill: ``python -m tqa.study.notebook``.

The reviewed source of a notebook is its jupytext ``py:percent`` script
(``notebooks/NN_name.py``); the ``.ipynb`` beside it is the same notebook for JupyterLab.
This runner executes the script (converted in memory, so what runs is what was reviewed)
and writes the executed notebook. Before any work it checks every ``-p name value``
against the names assigned in the notebook's cell tagged ``parameters``: a typo is an
error naming the close match, not a silently ignored value.

    python -m tqa.study.notebook notebooks/05_training.py reports/notebooks/05_training_fixed.ipynb \\
        -p strategy fixed -p reports_dir reports
"""

from __future__ import annotations

import argparse
import ast
import difflib
import sys
import tempfile
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill
import yaml


class NotebookParameterError(ValueError):
    """A parameter the notebook's ``parameters`` cell does not define."""


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
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return []


def check_parameters(nb: nbformat.NotebookNode, given: dict[str, Any], source: str) -> None:
    """Raise :class:`NotebookParameterError` for any ``given`` name the notebook lacks."""
    known = parameter_names(nb)
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise NotebookParameterError(
                f"{source}: unknown notebook parameter {name!r}{hint} (parameters: {', '.join(known)})"
            )


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
        )
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
