"""Shared builder for the ``notebooks/_make_*.py`` generators.

Each generator lists its cells as ``(kind, source)`` with kind ``md``, ``code`` or
``params`` (the papermill parameters cell, tagged ``parameters``) and calls
:func:`write`. Cell ids are stable, so regenerating an unchanged notebook gives a
byte-identical file (DVC does not rerun its stage). ``make notebooks`` regenerates all.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook from ``(kind, source)`` cells, python3 kernel."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, src) in enumerate(cells):
        if kind not in {"md", "code", "params"}:
            raise ValueError(f"cell {i}: unknown kind {kind!r}")
        cell = new_markdown_cell(src) if kind == "md" else new_code_cell(src)
        cell.id = f"c{i:02d}"
        if kind == "params":
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    return nb


def write(cells: list[tuple[str, str]], name: str) -> Path:
    """Validate and write ``notebooks/<name>`` (``name`` ends in .ipynb)."""
    nb = build(cells)
    nbformat.validate(nb)
    out = HERE / name
    nbformat.write(nb, out)
    print("wrote", out)
    return out
