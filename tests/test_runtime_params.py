"""The ``runtime`` section of params.yaml: one definition of machine knobs, ignored by every hash.

A runtime knob (workers, device, engine, weight files, batch sizes, caches) changes where and
how fast work runs, never what it computes; so changing one must change neither the feature
cache key, nor a study run key, nor a saved bundle, nor a fit's checkpoint hash, while a
real model parameter (``model.d_model``) must change the run key.
"""

from __future__ import annotations

import difflib
import json
import shutil

import numpy as np
import pytest
import yaml

from tqa.core.params import ROOT, RUNTIME, load_params, runtime_keys, without_runtime
from tqa.core.schema import TASKS, FeatureSet
from tqa.features.config import config_hash_from_params
from tqa.model.training import fit_params_hash
from tqa.serve.bundle_save import save_bundle
from tqa.study import studies

RAW = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
KNOBS = [(section, key) for section, knobs in RAW[RUNTIME].items() for key in (knobs or {}).keys()]
#: a value of each knob that differs from the default
OTHER = {"workers": 7, "engine": "dask", "device": "cpu", "batch_frames": 3, "num_threads": 2}


def _changed(section: str, key: str) -> dict:
    base = load_params()
    value = OTHER.get(key, "elsewhere")
    if key == "weights":
        value = {k: f"/nowhere/{k}.pth" for k in base[section][key]}
    assert value != base[section][key]
    return load_params(overrides={f"{RUNTIME}.{section}.{key}": value})


def test_runtime_knobs_are_defined_once_and_read_where_they_apply() -> None:
    assert {"workers", "device", "engine", "batch_frames"} <= runtime_keys("features")
    assert {"device", "num_threads"} <= runtime_keys("train")
    params = load_params()
    for section, key in KNOBS:
        assert key not in (RAW.get(section) or {}), f"{section}.{key} is also outside runtime:"
        assert params[section][key] == RAW[RUNTIME][section][key]
        assert key not in without_runtime(params)[section]
    assert RUNTIME not in without_runtime(params)
    # an override of the knob reaches the code reading it in its section
    assert load_params(overrides={"runtime.features.workers": 5})["features"]["workers"] == 5


def test_no_stage_declares_the_runtime_section() -> None:
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    for name, stage in dvc["stages"].items():
        stage = stage.get("do", stage)
        for entry in stage.get("params", []):
            keys = entry if isinstance(entry, str) else next(iter(entry.values()), [])
            for key in [keys] if isinstance(keys, str) else keys:
                assert str(key).split(".")[0] != RUNTIME, f"stage {name} declares {key}"


@pytest.mark.parametrize("section,key", KNOBS)
def test_runtime_knob_changes_no_hash(section: str, key: str) -> None:
    base, other = load_params(), _changed(section, key)
    assert config_hash_from_params(other) == config_hash_from_params(base)
    assert studies.run_key(other, "inputs", "fixed", 0) == studies.run_key(
        base, "inputs", "fixed", 0
    )
    assert fit_params_hash(other, "gradnorm") == fit_params_hash(base, "gradnorm")


def test_real_params_change_the_keys() -> None:
    base = load_params()
    wide = load_params(overrides={"model.d_model": 128})
    assert studies.run_key(wide, "inputs", "fixed", 0) != studies.run_key(
        base, "inputs", "fixed", 0
    )
    assert fit_params_hash(wide, "fixed") != fit_params_hash(base, "fixed")
    edges = load_params(overrides={"features.n_mels": 20})
    assert config_hash_from_params(edges) != config_hash_from_params(base)
    # a strategy's fit hash sees only its own weighting params
    alpha = load_params(overrides={"weighting.gradnorm.alpha": 0.5})
    assert fit_params_hash(alpha, "gradnorm") != fit_params_hash(base, "gradnorm")
    assert fit_params_hash(alpha, "fixed") == fit_params_hash(base, "fixed")
    assert fit_params_hash(alpha, "uncertainty") == fit_params_hash(base, "uncertainty")


def test_bundle_bytes_ignore_runtime_knobs(tmp_path) -> None:
    train = pytest.importorskip("tqa.model.training")
    rng = np.random.default_rng(0)
    n = 16
    descs = {
        "visual": {"name": "nss", "modality": "visual", "version": "2", "dim": 4},
        "sync": {"name": "correlation", "modality": "sync", "version": "1", "dim": 3},
    }
    fs = FeatureSet(
        [f"v{i}" for i in range(n)],
        {"visual": rng.normal(size=(n, 20, 4)).astype(np.float32)},
        rng.normal(size=(n, 3)).astype(np.float32),
        meta={"extractors": descs},
    )
    labels = rng.uniform(1, 5, size=(n, len(TASKS))).astype(np.float32)
    split = np.array(["train"] * 12 + ["val"] * 2 + ["test"] * 2)
    tiny = {
        "train.epochs": 1,
        "train.warmup_epochs": 0,
        "train.amp": False,
        "model.d_model": 8,
        "model.n_layers": 1,
        "model.n_heads": 2,
        "model.dim_feedforward": 16,
        "model.max_frames": 20,
        "runtime.train.device": "cpu",
    }
    params = load_params(overrides=tiny)
    fit = train.fit(fs, labels, split, params, strategy="fixed", seed=0, progress=False)
    a = save_bundle(fit, params, fs, tmp_path / "a")
    other = load_params(
        overrides={**tiny, "runtime.features.workers": 9, "runtime.features.device": "cpu"}
    )
    b = save_bundle(fit, other, fs, tmp_path / "b")
    assert (a / "bundle.json").read_bytes() == (b / "bundle.json").read_bytes()
    man = json.loads((a / "bundle.json").read_text())
    assert "workers" not in man["params"]["features"]


def test_dvc_set_param_rewrites_only_the_value(tmp_path) -> None:
    """``dvc exp run -S key=value`` goes through DVC's own YAML writer: params.yaml is kept
    in the style that writer produces, so the edit is one line and comments survive."""
    hydra = pytest.importorskip("dvc.utils.hydra", reason="dvc not installed")
    copy = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", copy)
    before = copy.read_text(encoding="utf-8").splitlines()
    hydra.apply_overrides(copy, ["train.epochs=5", "weighting.gradnorm.alpha=2.0"])
    after = copy.read_text(encoding="utf-8").splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 4, "\n".join(changed)
    stripped = sorted(line[0] + line[1:].split("#")[0].strip() for line in changed)
    assert stripped[:2] == ["+alpha: 2.0", "+epochs: 5"], stripped
    assert [x.split(":")[0] for x in stripped[2:]] == ["-alpha", "-epochs"], stripped
