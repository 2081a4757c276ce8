"""The notebooks' static prose cannot go stale: no counts, splits or unwritten output paths.

What a notebook ran (protocol, folds, seeds, videos, groups, methods, outputs) is rendered at
run time (:mod:`tqa.study.narrative`); the Markdown cells of ``notebooks/NN_name.py`` and the
literal text of its captions and table titles keep to what cannot go stale. This test reads
them and fails on a number next to "videos", "folds", "seeds", "identities" or "groups", on a
named split part ("test split"), and on a path (a backticked token with a ``/``) that no
``dvc.yaml`` stage writes and the repository does not hold.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest
import yaml
from test_dvc_pipeline import stages

from tqa.core.params import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))

_NUMBER = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|twenty)"
_NOUN = r"(?:videos?|folds?|seeds?|identit(?:y|ies)|groups?)"
#: "about 18 videos", "5 folds", "3 test videos", "5-fold", "two seeds"
COUNT = re.compile(
    rf"\b{_NUMBER}(?:\s+[A-Za-z-]+)?\s+{_NOUN}\b|\b\d+-fold\b|\b{_NOUN}\s*[:=]\s*\d", re.I
)
#: a named part of a split: the protocol (k-fold or holdout) is rendered, not written down
SPLIT_PART = re.compile(r"\b(?:test|val|validation|holdout) split\b", re.I)
#: a backticked path: has a slash, or a file name's extension
PATH = re.compile(r"`([^`\s]*/[^`\s]*)`")
#: folders whose files are made by the pipeline, never committed sources
GENERATED = ("reports", "metrics", "data", "models", "scratch")


def stage_outputs() -> set[str]:
    """Every path a stage of ``dvc.yaml`` writes (outs, metrics, plots; foreach expanded,
    ``${...}`` resolved) and every top-level plot."""
    out = {o.rstrip("/") for stage in stages().values() for o in stage["outs"]}
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8")).get("plots") or []
    return out | {str(next(iter(p)) if isinstance(p, dict) else p) for p in plots}


def _params_path(token: str, params: dict) -> str:
    """``eval.results_dir/x.csv`` -> ``reports/studies/x.csv`` (a dotted params key first)."""
    head, _, rest = token.partition("/")
    if re.fullmatch(r"[a-z_]+(?:\.[a-z_]+)+", head):
        v = params
        try:
            for part in head.split("."):
                v = v[part]
        except (KeyError, TypeError):
            return token
        return f"{v}/{rest}" if rest else str(v)
    return token


def path_is_written(token: str, outputs: set[str], params: dict, root: Path = ROOT) -> bool:
    """A stage writes ``token``, a folder above it or a file below it, or the repository holds
    it as a source (outside the generated folders). ``<name>`` matches any one segment."""
    path = _params_path(token.strip().rstrip("/"), params)
    parts = path.split("/")
    segments = ["[^/]+" if re.search(r"<[^>]+>", p) else re.escape(p) for p in parts]
    for out in outputs:
        n = len(out.split("/"))
        if re.fullmatch("/".join(segments[:n]), out) or re.match("/".join(segments) + "/", out):
            return True
    if parts[0] not in GENERATED and "<" not in path and (root / path).exists():
        return True
    return False


def _string_literals(source: str) -> list[str]:
    """The literal text of every string in ``source`` (f-string parts included)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with IPython magics
        return []
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def prose_problems(markdown: list[str], code: list[str], outputs: set[str], params: dict):
    """Every stale-prone statement of a notebook: (kind, text)."""
    problems = []
    for text in markdown:
        for m in COUNT.finditer(text):
            problems.append(("count", m.group(0)))
        for m in SPLIT_PART.finditer(text):
            problems.append(("split", m.group(0)))
        for m in PATH.finditer(text):
            if not path_is_written(m.group(1), outputs, params):
                problems.append(("path", m.group(1)))
    for source in code:
        for text in _string_literals(source):
            for m in list(COUNT.finditer(text)) + list(SPLIT_PART.finditer(text)):
                problems.append(("caption", m.group(0)))
    return problems


def notebook_problems(path: Path, outputs: set[str], params: dict):
    nb = jupytext.read(path)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    return prose_problems(markdown, code, outputs, params)


@pytest.fixture(scope="module")
def outputs_and_params():
    return stage_outputs(), yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_checker_flags_todays_stale_prose(outputs_and_params) -> None:
    """The sentences that went stale before this test existed are each caught."""
    outputs, params = outputs_and_params
    stale = [
        "scored on the test split; its test split is small (about 18 videos), so",
        "and `reports/metrics.json` (DVC metrics)",
        "writes `reports/training/<strategy>/metrics.json` and figures",
        "Resumable (`eval.results_dir/strategy.csv`); 5 folds x 3 seeds, 24 identities.",
    ]
    kinds = [k for k, _ in prose_problems(stale, [], outputs, params)]
    assert kinds.count("split") == 2 and kinds.count("path") == 3
    assert kinds.count("count") == 4  # 18 videos, 5 folds, 3 seeds, 24 identities
    caption = 'save_table(t, "x", f"Agreement on the test split ({n} videos), 5-fold. {PROV}")'
    assert [k for k, _ in prose_problems([], [caption], outputs, params)] == ["caption"] * 2


def test_the_checker_accepts_what_stages_write_and_sources(outputs_and_params) -> None:
    outputs, params = outputs_and_params
    fine = [
        "Reads `reports/02_feature_extraction/` and `metrics/<task>.json` (`tqa/study/protocol.py`,"
        " `models/<strategy>/seed<k>/`); the chapter reduces 4237 → 367 dims; five scores.",
    ]
    assert prose_problems(fine, ['print(f"{len(ids)} videos")'], outputs, params) == []


def test_stage_outputs_come_from_dvc_yaml(outputs_and_params) -> None:
    outputs, _ = outputs_and_params
    assert "metrics" in outputs and "reports/06_strategy_comparison/tables" in outputs
    assert "reports/06_strategy_comparison/data" in outputs  # the DVC-cached CSVs
    assert "reports/05_training_gradnorm/training" in outputs  # the foreach stage, expanded
    assert "models/gradnorm" in outputs  # ${train.out_dir}/${item}, substituted
    assert "reports/metrics.json" not in outputs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_static_prose_names_no_count_split_or_unwritten_path(path, outputs_and_params) -> None:
    problems = notebook_problems(path, *outputs_and_params)
    assert not problems, f"{path.name}: stale-prone prose (render it from the run): {problems}"
