"""Training: schedule, determinism, end-to-end learning, artefacts, ablation switches."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from tqa.params import load_params, merged
from tqa.schedule import build_scheduler, warmup_cosine
from tqa.train import FitResult, fit, load_fit, planted_signal_data, predict, run_strategy

TINY = {
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "dim_feedforward": 32, "token_stride": 10},
    "train": {"epochs": 6, "batch_size": 16, "warmup_epochs": 1, "early_stopping_patience": 50, "lr": 0.003},
}


def _params(**over):
    p = merged(load_params(), TINY)
    return merged(p, over)


@pytest.fixture(scope="module")
def toy():
    return planted_signal_data(n=80, dims={"visual": 10, "audio": 8, "landmarks": 12, "au": 5}, n_frames=60, seed=3)


# ----------------------------------------------------------------------- schedule


def test_warmup_cosine_closed_form_anchors():
    W, S, r = 4, 20, 0.1
    assert [warmup_cosine(s, W, S, r) for s in range(W)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert warmup_cosine(W, W, S, r) == pytest.approx(1.0)
    assert warmup_cosine(W + 8, W, S, r) == pytest.approx(r + (1 - r) * 0.5)   # halfway through the cosine
    assert warmup_cosine(S, W, S, r) == pytest.approx(r)
    assert warmup_cosine(S + 5, W, S, r) == pytest.approx(r)
    s = 13
    assert warmup_cosine(s, W, S, r) == pytest.approx(r + (1 - r) * (1 + math.cos(math.pi * 9 / 16)) / 2)


def test_scheduler_scales_every_group():
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p1], "lr": 1.0}, {"params": [p2], "lr": 0.1}], lr=1.0)
    sch = build_scheduler(opt, 2, 10, 0.0)
    seen = []
    for _ in range(10):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sch.step()
    assert seen[0] == pytest.approx([0.5, 0.05])
    assert seen[1] == pytest.approx([1.0, 0.1])
    assert seen[6][0] / seen[6][1] == pytest.approx(10.0)


# ---------------------------------------------------------------------- training


def test_identical_runs_on_cpu(toy):
    fs, y, split = toy
    p = _params(train={"epochs": 2})
    a = fit(fs, y, split, p, strategy="gradnorm", seed=7, progress=False)
    b = fit(fs, y, split, p, strategy="gradnorm", seed=7, progress=False)
    cols = [c for c in a.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(a.history[cols], b.history[cols])
    np.testing.assert_array_equal(a.predict(fs), b.predict(fs))
    c = fit(fs, y, split, p, strategy="gradnorm", seed=8, progress=False)
    assert not np.array_equal(a.predict(fs), c.predict(fs))


def test_end_to_end_learns_and_beats_train_mean(toy):
    fs, y, split = toy
    p = _params(train={"epochs": 25, "early_stopping_patience": 100, "lr": 0.003})
    res = fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
    h = res.history
    assert h["train_loss"].iloc[-3:].mean() < 0.6 * h["train_loss"].iloc[:2].mean()
    held = split != "train"
    pred = res.predict(fs.subset([v for v, k in zip(fs.video_ids, held) if k]))
    yt, ytr = y[held], y[split == "train"]
    mean = np.array([ytr[:, k][ytr[:, k] != -1].mean() for k in range(5)])
    m = yt != -1
    mse_model = ((pred - yt) ** 2)[m].mean()
    mse_mean = ((mean[None, :] - yt) ** 2)[m].mean()
    assert mse_model < 0.8 * mse_mean
    assert pred.min() >= 1.0 and pred.max() <= 5.0


def test_artefacts_and_reload(tmp_path, toy):
    fs, y, split = toy
    p = _params(train={"epochs": 3})
    res = fit(fs, y, split, p, strategy="uncertainty", seed=1, out_dir=tmp_path, progress=False)
    assert isinstance(res, FitResult)
    for f in ("best.pt", "preprocess.joblib", "history.csv", "metrics.json"):
        assert (tmp_path / f).is_file(), f
    hist = pd.read_csv(tmp_path / "history.csv")
    assert {"epoch", "train_loss", "val_loss", "lr", "val_loss_overall", "weight_overall"} <= set(hist.columns)
    assert len(hist) == 3
    assert res.best_epoch == int(hist["val_loss"].idxmin()) + 1
    again = load_fit(tmp_path)
    np.testing.assert_allclose(again.predict(fs), res.predict(fs), rtol=1e-6)
    np.testing.assert_allclose(predict(again.model, again.preprocessor, fs), res.predict(fs), rtol=1e-6)
    met = json.loads((tmp_path / "metrics.json").read_text())
    val = split == "val"
    mse_overall = ((res.predict(fs)[val, 4] - y[val, 4]) ** 2)[y[val, 4] != -1].mean()
    assert met["val_mse_per_task"]["overall"] == pytest.approx(mse_overall, rel=1e-4)


@pytest.mark.parametrize("over", [
    {"model": {"drop_modalities": ["audio"]}},
    {"model": {"path_a": False}},
    {"model": {"path_b": False}},
    {"preprocess": {"pca": False}},
    {"preprocess": {"scale": False}},
    {"train": {"grad_accum_steps": 3, "grad_checkpointing": True, "label_smoothing": 0.0}},
    {"train": {"amp_cpu": True}},
    {"model": {"use_sync": False, "token_stride": 1}},
])
def test_ablation_switches_train(toy, over):
    fs, y, split = toy
    p = merged(_params(train={"epochs": 2}), over)
    res = fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
    assert res.predict(fs).shape == (len(fs.video_ids), 5)
    if "drop_modalities" in over.get("model", {}):
        assert "audio" not in res.input_dims and "audio" not in res.model.modalities
    if over.get("preprocess", {}).get("pca") is False:
        assert res.input_dims == {m: a.shape[-1] for m, a in fs.streams.items()}


def test_run_strategy_writes_reports(tmp_path, toy):
    fs, y, split = toy
    p = _params(train={"epochs": 2})
    res = run_strategy(fs, y, split, p, "gradnorm", seeds=[0, 1], models_dir=tmp_path / "models",
                       reports_dir=tmp_path / "reports", progress=False)
    assert len(res) == 2
    summary = json.loads((tmp_path / "reports" / "gradnorm" / "metrics.json").read_text())
    assert set(summary["per_seed"]) == {"seed0", "seed1"}
    vals = [summary["per_seed"][s]["test_mse"] for s in ("seed0", "seed1")]
    assert summary["mean"]["test_mse"] == pytest.approx(np.mean(vals))
    assert (tmp_path / "models" / "gradnorm" / "seed1" / "best.pt").is_file()
    w = res[0].history[[c for c in res[0].history.columns if c.startswith("weight_")]].to_numpy()
    np.testing.assert_allclose(w.sum(axis=1), 5.0, rtol=1e-5)


def test_bad_inputs(toy):
    fs, y, split = toy
    p = _params()
    with pytest.raises(ValueError):
        fit(fs, y[:, :4], split, p, strategy="fixed", seed=0, progress=False)
    with pytest.raises(ValueError):
        fit(fs, y, np.where(split == "val", "dev", split), p, strategy="fixed", seed=0, progress=False)
    with pytest.raises(KeyError):
        fit(fs, y, split, p, strategy="nope", seed=0, progress=False)


def test_cli_trains_from_cache_labels_and_split(tmp_path, toy):
    import yaml

    from tqa.features.cache import write_features
    from tqa.schema import TASKS
    from tqa.train import main

    fs, y, split = toy
    ids = fs.video_ids[:40]
    lab = pd.DataFrame(y[:40], columns=list(TASKS))
    lab.insert(0, "video_id", ids)
    (tmp_path / "data").mkdir()
    lab.to_csv(tmp_path / "data" / "labels.csv", index=False)
    sp = split[:40].copy()
    sp[:4] = ["train", "val", "test", "train"]
    pd.DataFrame({"video_id": ids, "split": sp}).to_csv(tmp_path / "split.csv", index=False)
    for i, v in enumerate(ids):
        write_features(tmp_path / "cache", v, {m: a[i] for m, a in fs.streams.items()}, fs.sync[i], {"toy": True})
    p = _params(train={"epochs": 2, "seeds": [0]})
    p["data"]["root"] = str(tmp_path / "data")
    p["split"]["out"] = str(tmp_path / "split.csv")
    p["features"]["cache_dir"] = str(tmp_path / "cache")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    rc = main(["--params", str(tmp_path / "params.yaml"), "--strategy", "fixed", "--out", str(tmp_path / "models"),
               "--reports", str(tmp_path / "reports"), "--no-progress"])
    assert rc == 0
    assert (tmp_path / "models" / "fixed" / "seed0" / "best.pt").is_file()
    summary = json.loads((tmp_path / "reports" / "fixed" / "metrics.json").read_text())
    assert summary["seeds"] == [0] and summary["mean"]["test_mse"] is not None


@pytest.mark.parametrize("name", ["03_pca", "04_model", "05_training"])
def test_notebook_executes_on_toy_data(tmp_path, name):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    papermill = Path(sys.executable).parent / "papermill"
    cmd = [str(papermill), "-k", "python3", "--cwd", str(root), str(root / "notebooks" / f"{name}.ipynb"),
           str(tmp_path / f"{name}.ipynb"), "-p", "toy_data", "True", "-p", "reports_dir", str(tmp_path / "reports"),
           "-y", json.dumps({"overrides": {"train.epochs": 2, "train.seeds": [0]}})]
    if name == "05_training":
        cmd += ["-p", "models_dir", str(tmp_path / "models"), "-p", "strategy", "gradnorm"]
    subprocess.run(cmd, check=True, cwd=root, capture_output=True, timeout=600)
    expected = {"03_pca": "figures/pca_explained_variance.png", "04_model": "tables/model_switches.csv",
                "05_training": "figures/learning_curves_gradnorm.png"}[name]
    assert (tmp_path / "reports" / expected).is_file()
    if name == "05_training":
        assert (tmp_path / "reports" / "training" / "gradnorm" / "metrics.json").is_file()


@pytest.mark.slow
def test_benchmark_script_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, str(root / "benchmarks" / "train.py"), "--part", "steps", "--steps", "1",
                    "--n-videos", "32", "--devices", "cpu", "--out", str(tmp_path)], check=True, timeout=600)
    res = json.loads((tmp_path / "train_cpu.json").read_text())
    assert len(res["steps"]) == 4 and all(r["step_s"] > 0 for r in res["steps"])
