"""dvc.yaml declares precise dependencies: which stages a params edit makes stale.

A small re-implementation of DVC's staleness rule over dvc.yaml (foreach expanded, ``${...}``
resolved from params.yaml): a stage is stale when it declares the edited key (or a section
containing it), or when one of its deps is (inside) an output of a stale stage. It
over-approximates DVC, which also compares output hashes; the real ``dvc status`` is run on a
tiny pipeline of the same shape at the end.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tqa.core.params import ROOT

RAW_PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def _lookup(dotted: str, item: str | None) -> str:
    if dotted == "item":
        return str(item)
    node = RAW_PARAMS
    for part in dotted.split("."):
        node = node[part]
    return str(node)


def _sub(text: str, item: str | None) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: _lookup(m.group(1).strip(), item), str(text))


def _paths(entries: list) -> list[str]:
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def stages() -> dict[str, dict[str, list[str]]]:
    """name -> {params, deps, outs} with foreach expanded and ${} resolved."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    out: dict[str, dict[str, list[str]]] = {}
    for name, stage in dvc["stages"].items():
        if "foreach" in stage:
            items = [_sub(i, None) for i in RAW_PARAMS_list(stage["foreach"])]
            expanded = {f"{name}@{i}": (stage["do"], i) for i in items}
        else:
            expanded = {name: (stage, None)}
        for sname, (body, item) in expanded.items():
            outs = [
                *_paths(body.get("outs")),
                *_paths(body.get("metrics")),
                *_paths(body.get("plots")),
            ]
            out[sname] = {
                "params": [_sub(p, item) for p in _paths(body.get("params"))],
                "deps": [_sub(d, item) for d in _paths(body.get("deps"))],
                "outs": [_sub(o, item) for o in outs],
            }
    return out


def RAW_PARAMS_list(expr: str) -> list[str]:  # noqa: N802 - a `${list}` of params.yaml
    m = re.fullmatch(r"\$\{([^}]+)\}", expr.strip())
    node = RAW_PARAMS
    for part in m.group(1).strip().split("."):
        node = node[part]
    return list(node)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def stale_after_edit(key: str) -> tuple[set[str], set[str]]:
    """(stages declaring ``key``, those plus every stage downstream of them)."""
    st = stages()
    direct = {
        name
        for name, s in st.items()
        if any(key == p or key.startswith(p + ".") for p in s["params"])
    }
    stale = set(direct)
    changed = True
    while changed:
        changed = False
        outs = [o for name in stale for o in st[name]["outs"]]
        for name, s in st.items():
            if name not in stale and any(
                _within(d, o) or _within(o, d) for d in s["deps"] for o in outs
            ):
                stale.add(name)
                changed = True
    return direct, stale


STUDY_DOWNSTREAM = {
    "strategy_comparison",
    "error_analysis",
    "ablations",
    "config_comparison",
    "reports_index",
}


def test_a_strategy_param_stales_only_that_strategy_and_its_readers() -> None:
    direct, stale = stale_after_edit("weighting.gradnorm.alpha")
    # strategy_comparison compares every strategy; the other studies read only the main one
    assert direct == {"train@gradnorm", "strategy_comparison"}
    # the bundle quotes the k-fold study's scores of the default model (bundle.json
    # cv_scores), so it is repackaged after the study, never because of the strategy itself
    assert stale == {"train@gradnorm", *STUDY_DOWNSTREAM, "bundle", "score_examples"}
    assert not {"train@fixed", "train@uncertainty", "bundle"} & direct
    assert not {"train@fixed", "train@uncertainty"} & stale


def test_runtime_knobs_stale_nothing() -> None:
    for section, knobs in RAW_PARAMS["runtime"].items():
        for key in knobs:
            assert stale_after_edit(f"runtime.{section}.{key}") == (set(), set())


def test_eval_keys_are_read_where_they_apply() -> None:
    assert stale_after_edit("eval.bootstrap")[0] == {"strategy_comparison"}
    assert stale_after_edit("eval.ablations")[0] == {"ablations"}
    assert stale_after_edit("eval.worst_k")[0] == {"error_analysis"}
    # byo (a feature table instead of the extraction cache) is declared where it is read
    assert {"train@fixed", "strategy_comparison", "bundle"} <= stale_after_edit(
        "byo.features_table"
    )[0]


def test_every_output_has_one_writer_and_commands_do_not_need_path() -> None:
    st = stages()
    owners: dict[str, str] = {}
    for name, s in st.items():
        for o in s["outs"]:
            for other, by in owners.items():
                assert not (_within(o, other) or _within(other, o)), f"{o}: {name} and {by}"
            owners[o] = name
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    for name, stage in dvc["stages"].items():
        cmd = str(stage.get("do", stage)["cmd"])
        assert cmd.startswith("bin/tqa-py "), f"{name}: {cmd[:40]} depends on PATH"
        notebook = re.search(r"(notebooks/\S+)", cmd)
        if notebook:  # the reviewed .py is the dependency, not the .ipynb JupyterLab saves
            assert notebook.group(1).endswith(".py")
            assert notebook.group(1) in _paths(stage.get("do", stage)["deps"])
    assert (ROOT / "bin" / "tqa-py").stat().st_mode & 0o111


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_real_dvc_status_after_edits(tmp_path: Path) -> None:
    """The declaration style of dvc.yaml (``weighting.${item}``, no runtime section), checked
    with the real ``dvc status`` on a tiny pipeline."""
    pytest.importorskip("dvc")
    (tmp_path / "params.yaml").write_text(
        "weighting:\n  strategies:\n  - fixed\n  - gradnorm\n  fixed:\n    w: 1\n"
        "  gradnorm:\n    alpha: 1.5\nruntime:\n  features:\n    workers: 2\n"
    )
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  train:\n    foreach: ${weighting.strategies}\n    do:\n"
        "      cmd: echo ${item} > out_${item}.txt\n      params:\n"
        "      - weighting.${item}\n      outs:\n      - out_${item}.txt\n"
    )
    dvc = [sys.executable, "-m", "dvc"]

    def run(*args: str) -> str:
        proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    run("git", "init", "-q")
    run(*dvc, "init", "-q")
    run(*dvc, "repro", "-q")
    assert "up to date" in run(*dvc, "status")
    params = tmp_path / "params.yaml"
    params.write_text(params.read_text().replace("workers: 2", "workers: 7"))
    assert "up to date" in run(*dvc, "status")
    params.write_text(params.read_text().replace("alpha: 1.5", "alpha: 2.0"))
    status = run(*dvc, "status")
    assert "train@gradnorm" in status and "train@fixed" not in status
