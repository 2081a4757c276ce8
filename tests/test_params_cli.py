"""One override syntax for every command (-S key=value, as dvc exp run -S) and the path rules."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from tqa.cli import COMMANDS
from tqa.core.params import (
    ROOT,
    ParamsError,
    add_params_arguments,
    params_from_args,
    parse_set,
)


def _args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    add_params_arguments(ap)
    return ap.parse_args(argv)


def test_parse_set_reads_values_as_yaml():
    items = ["train.epochs=2", "model.path_b=false", "train.seeds=[0, 1]"]
    items += ["byo.features_table=null", "weighting.strategies=[fixed]", "a.b=x=y"]
    got = parse_set(items)
    assert got == {
        "train.epochs": 2,
        "model.path_b": False,
        "train.seeds": [0, 1],
        "byo.features_table": None,
        "weighting.strategies": ["fixed"],
        "a.b": "x=y",
    }
    with pytest.raises(ParamsError, match="KEY=VALUE"):
        parse_set(["train.epochs"])


def test_overrides_apply_on_top_of_the_params_file_and_unknown_keys_fail():
    p = params_from_args(_args(["-S", "train.epochs=3", "-S", "model.d_model=8"]))
    assert p["train"]["epochs"] == 3 and p["model"]["d_model"] == 8
    assert p["data"]["root"] == "data/sample"  # the repository's params keep repo-relative paths
    with pytest.raises(ParamsError, match="train.epohcs"):
        params_from_args(_args(["-S", "train.epohcs=3"]))


def test_path_rules_params_file_folder_and_current_folder(tmp_path, monkeypatch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["root"] = "mydata"
    params["byo"]["features_table"] = ["t1.csv", "/abs/t2.csv"]
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "params.yaml").write_text(yaml.safe_dump(params))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    p = params_from_args(_args(["--params", "../cfg/params.yaml", "-S", "split.out=s.csv"]))
    assert Path(p["data"]["root"]) == cfg / "mydata"  # params-file paths: its folder
    assert p["byo"]["features_table"] == [str(cfg / "t1.csv"), "/abs/t2.csv"]
    assert Path(p["split"]["out"]) == here / "s.csv"  # -S paths: the current folder
    assert Path(p["train"]["out_dir"]) == cfg / "models"
    with pytest.raises(ParamsError, match="missing.yaml"):
        params_from_args(_args(["--params", "missing.yaml"]))


@pytest.mark.parametrize(
    "cmd",
    [
        "validate",
        "import-thqa",
        "split",
        "train",
        "cv",
        "bundle",
        "score",
        "extract",
        "corpus",
        "evaluate",
    ],
)
def test_every_command_takes_params_and_set(cmd, capsys):
    import importlib

    module = importlib.import_module(COMMANDS[cmd][0])
    entry = getattr(module, "main_" + cmd.replace("-", "_"), None) or module.main
    with pytest.raises(SystemExit) as done:
        entry(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--params" in text and "-S KEY=VALUE" in text
