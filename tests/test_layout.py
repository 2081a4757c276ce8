"""The package's shape: layers, no import cycles, imports at module top, notebooks paired.

The import graph is read from the source (``ast``), so a cycle hidden inside a function
counts too.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import jupytext
import pytest

from tqa.core.params import ROOT

PKG = ROOT / "tqa"
NOTEBOOKS = ROOT / "notebooks"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def tqa_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported tqa module, is_top_level) for every import statement of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            if n == "tqa" or n.startswith("tqa."):
                out.append((n, id(node) in top))
    return out


@functools.cache
def graph() -> dict[str, set[str]]:
    """Module -> the tqa modules it imports (read once per test session: tests only read it)."""
    mods = {module_name(p): p for p in PKG.rglob("*.py")}
    g: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        imported = [t for t, _ in tqa_imports(p)]
        for target in imported:
            # ``from tqa.x import y`` is an edge to module tqa.x.y when that exists, else to tqa.x
            if (
                target in mods
                and target != m
                and not any(t.startswith(target + ".") and t in mods for t in imported)
            ):
                g[m].add(target)
    return g


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path of module names), or None. Package ``__init__`` edges to
    their own submodules are kept: a package importing a module that imports the package
    back is a cycle too."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        colour[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if colour.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if colour.get(n) is None:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(g):
        if m not in colour:
            found = visit(m)
            if found:
                return found
    return None


def test_find_cycle_detects_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def _layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize(
    "layer, forbidden",
    [
        ("core", {"data", "features", "model", "study", "serve", "cli"}),
        ("data", {"features", "model", "study", "serve", "cli"}),
        ("features", {"model", "study", "serve", "cli"}),
        ("model", {"features", "study", "serve", "cli", "data"}),
        ("study", {"serve", "cli"}),
    ],
)
def test_layers_import_only_downwards(layer, forbidden):
    bad = [
        f"{m} -> {n}"
        for m, targets in graph().items()
        if _layer(m) == layer
        for n in targets
        if _layer(n) in forbidden
    ]
    assert not bad, bad


def test_tqa_imports_are_at_module_top():
    """Function-level imports of tqa modules hide the real dependency graph."""
    hidden = [
        f"{p.relative_to(ROOT)}: {target}"
        for p in PKG.rglob("*.py")
        for target, top in tqa_imports(p)
        if not top and not p.name == "__init__.py" and "TYPE_CHECKING" not in p.read_text()
    ]
    assert not hidden, hidden


def test_old_notebook_generators_are_gone():
    assert not list(NOTEBOOKS.glob("_make_*.py")) and not (NOTEBOOKS / "_nbbuild.py").exists()


def _sources(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    nb = jupytext.read(path)
    return [
        (c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", [])))
        for c in nb.cells
    ]


NOTEBOOK_SCRIPTS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def test_notebooks_are_numbered_in_run_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOK_SCRIPTS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in NOTEBOOK_SCRIPTS]


@pytest.mark.parametrize("script", NOTEBOOK_SCRIPTS, ids=lambda p: p.stem)
def test_notebook_pair_in_sync_and_without_outputs(script):
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `make notebooks` (jupytext --sync)"
    assert _sources(script) == _sources(ipynb), (
        f"{script.name} and {ipynb.name} differ: run `make notebooks`"
    )
    nb = jupytext.read(ipynb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") for c in code), f"{ipynb.name} has outputs"
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    assert any("parameters" in t for t in tags), "no parameters cell"


def test_pair_check_fails_on_an_edited_script(tmp_path):
    script = NOTEBOOK_SCRIPTS[0]
    edited = tmp_path / script.name
    edited.write_text(script.read_text() + "\n# %%\nprint('drift')\n")
    assert _sources(edited) != _sources(script.with_suffix(".ipynb"))
