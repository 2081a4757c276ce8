"""tqa.study.studies: run bookkeeping, resumability, ablation/grid configs, summaries."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tqa.core.schema import TASKS, FeatureSet
from tqa.study import studies as S
from tqa.study.inputs import load_inputs

N, T = 40, 6


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    streams = {
        "visual": rng.normal(size=(N, T, 4)).astype(np.float32),
        "audio": rng.normal(size=(N, T, 3)).astype(np.float32),
        "landmarks": rng.normal(size=(N, T, 6)).astype(np.float32),
        "au": rng.normal(size=(N, T, 2)).astype(np.float32),
    }
    fs = FeatureSet(
        [f"v{i:02d}" for i in range(N)], streams, rng.normal(size=(N, 3)).astype(np.float32)
    )
    labels = np.clip(3 + streams["visual"][:, :, :1].mean(axis=1).repeat(5, axis=1), 1, 5).astype(
        float
    )
    labels[rng.random((N, 5)) < 0.2] = -1.0
    split = np.array(["train"] * 28 + ["val"] * 4 + ["test"] * 8, dtype=object)
    return fs, labels, split


PARAMS = {
    "seed": 7,
    "data": {"root": "data/x", "score_min": 1.0, "score_max": 5.0},
    "features": {"visual": "nss"},
    "split": {"method": "group"},
    "preprocess": {"pca": True, "scale": True, "pca_variance": 0.95},
    "model": {
        "d_model": 16,
        "n_layers": 1,
        "n_heads": 2,
        "path_a": True,
        "path_b": True,
        "drop_modalities": [],
        "use_sync": True,
    },
    "train": {"epochs": 1, "seeds": [0, 1], "out_dir": "models"},
    "weighting": {"strategies": ["fixed", "uncertainty"]},
    "eval": {
        "class_bounds": [3.0, 4.0],
        "main_strategy": "uncertainty",
        "ablations": ["no_au", "path_a_only", "no_pca"],
        "ablation_seeds": [0],
        "config_seeds": [0],
        "config_grid_max_runs": None,
        "config_grid": {"d_model": [16, 18], "n_heads": [2, 4]},
    },
}


class FakeFit:
    """Counts calls; 'predicts' the labels plus seed/config-dependent noise."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, fs, labels, split, params, *, strategy, seed, out_dir=None, progress=True):
        self.calls.append(
            (strategy, seed, copy.deepcopy(params["model"]), copy.deepcopy(params["preprocess"]))
        )
        noise = 0.1 + 0.5 * (not params["preprocess"]["pca"])
        rng = np.random.default_rng(seed)

        class R:
            history = pd.DataFrame({"epoch": [0, 1], "train_loss": [1.0, 0.5]})

            def predict(self, f):
                base = np.where(labels == -1.0, 3.0, labels)
                return np.clip(base + rng.normal(0, noise, labels.shape), 1, 5)

        return R()


def test_strategy_comparison_is_resumable(tmp_path):
    fs, labels, split = _inputs()
    fit = FakeFit()
    rows = S.strategy_comparison(
        fs, labels, split, PARAMS, out_dir=tmp_path, fit_fn=fit, progress=False
    )
    assert len(fit.calls) == 4  # 2 strategies x 2 seeds
    assert len(rows) == 4 * len(TASKS)
    assert set(rows["config"]) == {"fixed", "uncertainty"} and set(rows["seed"]) == {0, 1}
    # metrics are on the test rows only: recompute one independently
    r = rows[(rows["config"] == "fixed") & (rows["seed"] == 0) & (rows["task"] == "overall")].iloc[
        0
    ]
    pred = pd.read_csv(tmp_path / "runs" / f"{r['run_key']}.csv").set_index("video_id")
    test = split == "test"
    keep = test & (labels[:, 4] != -1.0)
    assert r["n"] == keep.sum()
    assert r["pearson"] == pytest.approx(
        stats.pearsonr(labels[keep, 4], pred["overall"].to_numpy()[keep])[0]
    )
    # second call: nothing retrained, same rows
    again = S.strategy_comparison(
        fs, labels, split, PARAMS, out_dir=tmp_path, fit_fn=fit, progress=False
    )
    assert len(fit.calls) == 4
    # metrics are recomputed from the cached (text) predictions: an iterative fit such as
    # the logistic mapping behind rmse_logistic may move in the 6th digit
    pd.testing.assert_frame_equal(
        again.reset_index(drop=True),
        rows.reset_index(drop=True),
        check_dtype=False,
        check_exact=False,
        rtol=1e-4,
    )
    # one more seed: only the new runs train
    S.strategy_comparison(
        fs, labels, split, PARAMS, seeds=[0, 1, 2], out_dir=tmp_path, fit_fn=fit, progress=False
    )
    assert len(fit.calls) == 6
    # a changed training param invalidates the old runs
    p2 = copy.deepcopy(PARAMS)
    p2["train"]["epochs"] = 2
    S.strategy_comparison(
        fs,
        labels,
        split,
        p2,
        strategies=["fixed"],
        seeds=[0],
        out_dir=tmp_path,
        fit_fn=fit,
        progress=False,
    )
    assert len(fit.calls) == 7
    assert len(pd.read_csv(tmp_path / "strategy.csv")) == 7 * len(TASKS)


def test_interrupted_study_keeps_finished_runs(tmp_path):
    fs, labels, split = _inputs()
    fit = FakeFit()

    def flaky(*a, **k):
        if len(fit.calls) == 2:
            raise KeyboardInterrupt
        return fit(*a, **k)

    with pytest.raises(KeyboardInterrupt):
        S.strategy_comparison(
            fs, labels, split, PARAMS, out_dir=tmp_path, fit_fn=flaky, progress=False
        )
    assert len(pd.read_csv(tmp_path / "strategy.csv")) == 2 * len(TASKS)
    S.strategy_comparison(fs, labels, split, PARAMS, out_dir=tmp_path, fit_fn=fit, progress=False)
    assert len(fit.calls) == 4  # 2 before the interruption + the 2 missing ones


def test_ablations_apply_overrides(tmp_path):
    fs, labels, split = _inputs()
    fit = FakeFit()
    rows = S.ablations(fs, labels, split, PARAMS, out_dir=tmp_path, fit_fn=fit, progress=False)
    assert list(dict.fromkeys(rows["config"])) == ["full", "no_au", "path_a_only", "no_pca"]
    by_cfg = dict(zip(["full", "no_au", "path_a_only", "no_pca"], fit.calls))
    assert all(c[0] == "uncertainty" for c in fit.calls)
    assert by_cfg["no_au"][2]["drop_modalities"] == ["au"]
    assert (
        by_cfg["path_a_only"][2]["path_b"] is False and by_cfg["path_a_only"][2]["path_a"] is True
    )
    assert by_cfg["no_pca"][3]["pca"] is False and by_cfg["full"][3]["pca"] is True
    assert PARAMS["model"]["drop_modalities"] == []  # caller's params untouched
    # the strategy study's main-strategy run with seed 0 is the ablation's "full" run: reused
    S.strategy_comparison(
        fs, labels, split, PARAMS, seeds=[0], out_dir=tmp_path, fit_fn=fit, progress=False
    )
    assert len(fit.calls) == 5  # only "fixed" seed 0 trained
    summ = S.summarize(rows)
    rmse = summ[(summ["metric"] == "rmse") & (summ["task"] == "expression")].set_index("config")[
        "mean"
    ]
    assert rmse["no_pca"] > rmse["full"]  # FakeFit is noisier without PCA
    with pytest.raises(KeyError, match="unknown ablation"):
        S.ablation_configs(PARAMS, ["no_such"])


def test_grid_configs_drop_invalid_and_subsample():
    cfgs = S.grid_configs(PARAMS)
    names = [n for n, _ in cfgs]
    # 18 % 4 != 0 is dropped; the other three remain
    assert names == ["d_model=16,n_heads=2", "d_model=16,n_heads=4", "d_model=18,n_heads=2"]
    assert cfgs[2][1] == {"model": {"d_model": 18, "n_heads": 2}}
    p = copy.deepcopy(PARAMS)
    p["eval"]["config_grid"] = {
        "d_model": [16, 32],
        "n_layers": [1, 2],
        "pca_variance": [0.9, 0.95],
    }
    p["eval"]["config_grid_max_runs"] = 3
    sub = S.grid_configs(p)
    assert len(sub) == 3 and sub == S.grid_configs(p)  # deterministic
    assert any("preprocess" in ov for _, ov in sub) or all("model" in ov for _, ov in sub)
    p["eval"]["config_grid"] = {"nope": [1]}
    with pytest.raises(KeyError, match="nope"):
        S.grid_configs(p)


def test_summary_tables_and_main_predictions(tmp_path):
    fs, labels, split = _inputs()
    fit = FakeFit()
    rows = S.strategy_comparison(
        fs, labels, split, PARAMS, out_dir=tmp_path, fit_fn=fit, progress=False
    )
    summ = S.summarize(rows, metrics=["pearson", "rmse"])
    g = rows[(rows["config"] == "fixed") & (rows["task"] == "audio_quality")]["rmse"]
    s = summ[
        (summ["config"] == "fixed") & (summ["task"] == "audio_quality") & (summ["metric"] == "rmse")
    ].iloc[0]
    assert (
        s["mean"] == pytest.approx(g.mean())
        and s["std"] == pytest.approx(g.std(ddof=1))
        and s["n_seeds"] == 2
    )
    table = S.mean_std_table(summ, "rmse")
    assert list(table.columns) == ["config", *TASKS] and " ± " in table.iloc[0, 1]
    pred = S.main_model_predictions(fs, labels, split, PARAMS, out_dir=tmp_path, fit_fn=fit)
    assert len(fit.calls) == 4  # reused the strategy run: its recorded predictions
    main = rows[(rows["config"] == "uncertainty") & (rows["seed"] == 0)]["run_key"].iloc[0]
    stored = pd.read_csv(tmp_path / "runs" / f"{main}.csv").set_index("video_id")
    np.testing.assert_allclose(pred, stored.loc[fs.video_ids, list(TASKS)].to_numpy(), rtol=1e-6)
    base_rows, preds = S.baseline_comparison(
        fs,
        labels,
        split,
        {**PARAMS, "eval": {**PARAMS["eval"], "baselines": {"rf_n_estimators": 10}}},
        out_dir=tmp_path,
    )
    assert set(base_rows["config"]) == {
        "mean",
        "ridge",
        "detector_trees",
        "random_forest",
        "random_forest_wide",
        "extra_trees",
        "gradient_boosting",
        "svr",
        "sync_only",
    }
    assert (tmp_path / "baselines.csv").exists()
    # the mean baseline predicts each task's mean over the train + val rows (FIT_PARTS):
    # its test RMSE in closed form
    test = split == "test"
    assert (split == "val").any()
    for k, task in enumerate(TASKS):
        tr = ~test & (labels[:, k] != -1.0)
        te = test & (labels[:, k] != -1.0)
        rmse = np.sqrt(((labels[te, k] - labels[tr, k].mean()) ** 2).mean())
        got = base_rows[(base_rows["config"] == "mean") & (base_rows["task"] == task)]["rmse"]
        assert float(got.iloc[0]) == pytest.approx(rmse, rel=1e-6)


def test_real_fit_tiny_run(tmp_path):
    """One real training run through tqa.model.training.fit (1 epoch), scored on the test rows."""
    train = pytest.importorskip("tqa.model.training")
    from tqa.core.params import load_params, merged

    fs, labels, split = _inputs()
    base = load_params()
    p = merged(
        base,
        {
            "train": {"epochs": 1, "seeds": [0], "amp": False, "batch_size": 8},
            "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "dim_feedforward": 16},
            "preprocess": {"pca_variance": 0.9},
            "weighting": {"strategies": ["fixed"]},
        },
    )
    calls = []

    def counting_fit(*a, **k):
        calls.append(1)
        return train.fit(*a, **k)

    rows = S.strategy_comparison(
        fs, labels, split, p, out_dir=tmp_path, fit_fn=counting_fit, progress=False
    )
    assert len(calls) == 1 and len(rows) == len(TASKS)
    # oracle: the same fit again (CPU runs are deterministic), RMSE on the test rows by numpy
    pred = train.fit(fs, labels, split, p, strategy="fixed", seed=0, progress=False).predict(fs)
    for k, task in enumerate(TASKS):
        te = (split == "test") & (labels[:, k] != -1.0)
        rmse = np.sqrt(((pred[te, k] - labels[te, k]) ** 2).mean())
        assert rows.set_index("task").loc[task, "rmse"] == pytest.approx(rmse, rel=1e-5)
    S.strategy_comparison(
        fs, labels, split, p, out_dir=tmp_path, fit_fn=counting_fit, progress=False
    )
    assert len(calls) == 1


# --------------------------------------------------------------------------- notebooks (slow)
def make_tiny_study(root, n: int = 36, t: int = 12, seed: int = 0) -> dict:
    """A tiny dataset on disk (labels.csv, degradations.csv, split.csv, feature cache);
    returns papermill overrides pointing params.yaml at it."""
    from pathlib import Path

    from tqa.core.params import load_params
    from tqa.features.cache import write_features
    from tqa.features.config import config_hash_from_params

    root = Path(root)
    rng = np.random.default_rng(seed)
    chash = config_hash_from_params(
        load_params()
    )  # the overrides below leave the features section as is
    data, cache = root / "data", root / "features"
    data.mkdir(parents=True)
    ids = [f"vid{i:03d}" for i in range(n)]
    blur = rng.uniform(0, 2, n)
    offset = rng.integers(-5, 6, n)
    dims = {"visual": 5, "audio": 4, "landmarks": 6, "au": 3}
    for i, v in enumerate(ids):
        streams = {m: rng.normal(0, 1, (t, d)).astype(np.float32) for m, d in dims.items()}
        streams["visual"][:, 0] -= blur[i]
        sync = np.array([offset[i], 7.0, 6.0 - 0.5 * abs(offset[i])], np.float32)
        write_features(
            cache,
            v,
            streams,
            sync,
            {
                "names": {m: [f"{m}_{j}" for j in range(d)] for m, d in dims.items()},
                "extractors": {"visual": "test"},
                "config_hash": chash,
            },
        )
    lab = pd.DataFrame({"video_id": ids})
    lab["lip_sync"] = np.clip(5 - 0.3 * np.abs(offset), 1, 5)
    for task in TASKS[1:]:
        lab[task] = np.clip(4.2 - blur + rng.normal(0, 0.3, n), 1, 5).round(2)
        lab.loc[rng.random(n) < 0.2, task] = -1.0
    lab["group"] = [f"id{i % 6}" for i in range(n)]
    lab["generator"] = rng.choice(["wav2lip", "sadtalker"], n)
    lab.to_csv(data / "labels.csv", index=False)
    pd.DataFrame({"video_id": ids, "blur_sigma": blur, "av_offset_frames": offset}).to_csv(
        data / "degradations.csv", index=False
    )
    sp = np.array(["train"] * (n - 12) + ["val"] * 4 + ["test"] * 8)
    pd.DataFrame({"video_id": ids, "split": sp}).to_csv(root / "split.csv", index=False)
    return {
        "data.root": str(data),
        "split.out": str(root / "split.csv"),
        "features.cache_dir": str(cache),
        "eval.results_dir": str(root / "studies"),
        "train.epochs": 1,
        "train.seeds": [0, 1],
        "train.amp": False,
        "train.batch_size": 8,
        "model.d_model": 16,
        "model.n_layers": 1,
        "model.n_heads": 2,
        "model.dim_feedforward": 16,
        "weighting.strategies": ["fixed", "uncertainty"],
        "eval.main_strategy": "uncertainty",
        "eval.bootstrap": 20,
        "eval.ablations": ["no_au", "path_a_only"],
        "eval.config_grid": {"d_model": [16], "n_heads": [2, 4]},
        "eval.config_grid_max_runs": 2,
        "eval.baselines.rf_n_estimators": 10,
    }


def test_load_inputs_aligns_and_drops(tmp_path):
    from tqa.core.params import load_params

    ov = make_tiny_study(tmp_path)
    (tmp_path / "features" / "vid000.npz").unlink()  # one video without features
    inp = load_inputs(load_params(None, ov), progress=False)
    assert len(inp.features.video_ids) == 35 and inp.features.video_ids[0] == "vid001"
    lab = pd.read_csv(tmp_path / "data" / "labels.csv").set_index("video_id")
    np.testing.assert_allclose(inp.labels, lab.loc[inp.features.video_ids, list(TASKS)].to_numpy())
    assert list(inp.meta["video_id"]) == inp.features.video_ids and "generator" in inp.meta


@pytest.mark.slow
def test_study_notebooks_run_with_papermill(tmp_path):
    """Notebooks 08, 07, 06, 09 on a tiny on-disk study (1 epoch), split.protocol: holdout."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("tqa.model.training")
    from tqa.core.params import ROOT

    ov = {**make_tiny_study(tmp_path), "split.protocol": "holdout"}
    reports = tmp_path / "reports"
    pm = Path(sys.executable).parent / "papermill"
    for nb in (
        "06_strategy_comparison",
        "08_error_analysis",
        "07_ablations",
        "09_config_comparison",
    ):
        cmd = [
            str(pm),
            "-k",
            "python3",
            f"notebooks/{nb}.ipynb",
            str(tmp_path / f"{nb}.out.ipynb"),
            "-p",
            "params_path",
            "params.yaml",
            "-p",
            "reports_dir",
            str(reports),
            "-y",
            json.dumps({"overrides": ov}),
        ]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((reports / "data" / "strategy_metrics.json").read_text())
    assert metrics["main_model"]["strategy"] == "uncertainty" and "ridge" in metrics["baselines"]
    # the DVC headline: one small file per task, the main model's Pearson and the best baseline
    for task in TASKS:
        head = json.loads((reports / "metrics" / f"{task}.json").read_text())
        assert sorted(head) == sorted(["tqa_r", "ci_lo", "ci_hi", "base_r", "base"])
        if head["base"] is not None:
            assert head["base"] in metrics["baselines"]
            assert head["base_r"] == pytest.approx(
                max(
                    v[task]["pearson"]
                    for v in metrics["baselines"].values()
                    if v.get(task, {}).get("pearson") is not None
                ),
                abs=0.006,  # headline values are rounded to 2 decimals
            )
    from tqa.core.params import load_params
    from tqa.study.evaluation import write_reports_index

    write_reports_index(load_params(overrides=ov), reports)
    for name in (
        "strategy_comparison_pearson",
        "residual_hist",
        "bland_altman",
        "ablation_pearson",
        "config_comparison_pearson",
        "prediction_vs_degradation",
    ):
        assert (reports / "figures" / f"{name}.png").exists(), name
        assert (reports / "figures" / f"{name}.txt").read_text().strip()
    for name in (
        "model_vs_baselines_pearson",
        "worst_videos",
        "error_vs_degradation",
        "agreement",
        "ablation_delta_pearson",
        "config_comparison",
        "error_by_generator",
        "error_by_group",
    ):
        assert (reports / "data" / f"{name}.csv").exists() and (
            reports / "tables" / f"{name}.md"
        ).exists(), name
    mvb = (reports / "tables" / "model_vs_baselines_pearson.md").read_text()
    assert "not reproduced here" in mvb
    index = (reports / "README.md").read_text()
    assert "worst_videos.csv" in index and "bland_altman.png" in index and "Data: " in index
    # the strategy store was reused by 07: 2 strategies x 2 seeds trained once each
    assert len(pd.read_csv(tmp_path / "studies" / "strategy.csv")) == 4 * len(TASKS)


def test_reused_runs_are_rescored_with_current_eval_params(tmp_path):
    fs, labels, split = _inputs()
    fit = FakeFit()
    a = S.strategy_comparison(
        fs, labels, split, PARAMS, seeds=[0], out_dir=tmp_path, fit_fn=fit, progress=False
    )
    p2 = copy.deepcopy(PARAMS)
    p2["eval"]["class_bounds"] = [2.0, 2.5]
    b = S.strategy_comparison(
        fs, labels, split, p2, seeds=[0], out_dir=tmp_path, fit_fn=fit, progress=False
    )
    assert len(fit.calls) == 2  # no retraining for an eval-only change
    np.testing.assert_allclose(a["pearson"], b["pearson"])
    assert not np.allclose(a["accuracy_3class"], b["accuracy_3class"])


# --------------------------------------------------------------------------- run keys
def test_run_key_sees_feature_values_not_only_ids_and_widths():
    fs, labels, split = _inputs()
    other = FeatureSet(
        list(fs.video_ids), {m: a.copy() for m, a in fs.streams.items()}, fs.sync.copy()
    )
    assert S.inputs_hash(other, labels, split) == S.inputs_hash(fs, labels, split)
    k = S.run_key(PARAMS, S.inputs_hash(fs, labels, split), "fixed", 0)
    # a re-extraction with another extractor gives other values under the same ids and widths
    other.streams["audio"] = other.streams["audio"] * 2.0 + 1.0
    assert S.run_key(PARAMS, S.inputs_hash(other, labels, split), "fixed", 0) != k
    other2 = FeatureSet(
        list(fs.video_ids), {m: a.copy() for m, a in fs.streams.items()}, fs.sync.copy()
    )
    other2.sync[5, 1] += 0.5
    assert S.inputs_hash(other2, labels, split) != S.inputs_hash(fs, labels, split)
    # a different feature table under the same params (byo) is another run too
    byo = copy.deepcopy(PARAMS)
    byo["byo"] = {"features_table": "my_features.csv"}
    assert S.run_key(byo, S.inputs_hash(fs, labels, split), "fixed", 0) != k


def test_run_key_sees_one_value_changed_in_one_frame():
    """The old key (per-column means to 6 decimals) missed a change this small (1e-5 in one
    of 240 values) and reused runs trained on another feature cache (docs/evaluation.md,
    2026-12-06)."""
    fs, labels, split = _inputs()
    m = sorted(fs.streams)[0]
    other = FeatureSet(
        list(fs.video_ids), {k: a.copy() for k, a in fs.streams.items()}, fs.sync.copy()
    )
    other.streams[m][1, 2, 0] += 1e-5
    col_means = [np.nanmean(s[..., 0]).round(6) for s in (fs.streams[m], other.streams[m])]
    assert col_means[0] == col_means[1]  # what the old fingerprint compared
    assert S.inputs_hash(other, labels, split) != S.inputs_hash(fs, labels, split)


def test_run_key_reads_values_not_their_bit_patterns():
    """-0.0 and 0.0, and NaNs of any payload, are the same value (and the same key)."""
    fs, labels, split = _inputs()
    m = sorted(fs.streams)[0]
    a = fs.streams[m].astype(np.float32)
    a[0, 0, 0], a[0, 1, 0] = 0.0, np.nan
    b = a.copy()
    b[0, 0, 0] = -0.0
    b.view(np.uint32)[0, 1, 0] = 0x7FC00001  # another quiet NaN payload
    fa = FeatureSet(list(fs.video_ids), {**fs.streams, m: a}, fs.sync)
    fb = FeatureSet(list(fs.video_ids), {**fs.streams, m: b}, fs.sync)
    assert np.isnan(b[0, 1, 0]) and np.signbit(b[0, 0, 0])
    assert S.inputs_hash(fa, labels, split) == S.inputs_hash(fb, labels, split)


def test_run_key_hashes_only_the_chosen_strategy_and_result_relevant_train_keys():
    fs, labels, split = _inputs()
    ih = S.inputs_hash(fs, labels, split)
    p = copy.deepcopy(PARAMS)
    p["weighting"] = {"strategies": ["fixed"], "fixed": {"weights": [1, 1, 1, 1, 1]}}
    k = S.run_key(p, ih, "fixed", 0)
    q = copy.deepcopy(p)
    q["weighting"]["strategies"].append("gradnorm")
    q["weighting"]["gradnorm"] = {"alpha": 1.5}
    q["train"].update(device="cuda", num_threads=3, seeds=[0, 1, 2], out_dir="elsewhere")
    assert S.run_key(q, ih, "fixed", 0) == k  # adding a strategy does not retrain the others
    q["weighting"]["fixed"]["weights"] = [2, 1, 1, 1, 1]
    assert S.run_key(q, ih, "fixed", 0) != k  # its own section does count
    r = copy.deepcopy(p)
    r["train"]["epochs"] = 2
    assert S.run_key(r, ih, "fixed", 0) != k


def test_record_fit_is_reused_by_the_strategy_comparison(tmp_path):
    """A fit recorded by tqa.model.training (record_fit) has run_one's key: nothing retrained."""
    fs, labels, split = _inputs()
    p = copy.deepcopy(PARAMS)
    p["eval"]["results_dir"] = str(tmp_path)
    p["weighting"] = {
        "strategies": ["fixed", "uncertainty"],
        "fixed": {"weights": [1] * 5},
        "uncertainty": {"init_log_var": 0.0},
    }
    fit = FakeFit()
    for strategy in ("fixed", "uncertainty"):
        for seed in (0, 1):
            res = fit(fs, labels, split, p, strategy=strategy, seed=seed)
            res.strategy, res.seed = strategy, seed
            S.record_fit(res, fs, labels, split, p)
    calls: list = []

    def counting_fit(*a, **k):
        calls.append(k["strategy"])
        return fit(*a, **k)

    rows = S.strategy_comparison(
        fs, labels, split, p, out_dir=tmp_path, fit_fn=counting_fit, progress=False
    )
    assert calls == [] and len(rows) == 4 * len(TASKS)


@pytest.mark.slow
def test_study_notebooks_kfold_protocol(tmp_path):
    """The same notebooks under split.protocol: kfold (3 folds by identity, one seed):
    comparison tables with CIs, tests and verdicts, verdicts.md, out-of-fold error analysis;
    06's fits are reused by 07/08/09 (the run cache grows only by the new variants)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("tqa.model.training")
    from tqa.core.params import ROOT, load_params

    ov = {
        **make_tiny_study(tmp_path),
        "cv.folds": 3,
        "cv.bootstrap": 50,
        "eval.kfold.seeds": [0],
        "eval.kfold.ablations": ["no_au", "path_a_only"],
        "eval.selection.grid": [{}, {"dropout": 0.3}, {"path_b": False}],
        # the tiny study is "small data" (eval.stack.small_data_values); count the stack's
        # inner fits with the count the corpus study runs
        "eval.stack.small_data_values": 0,
    }
    reports = tmp_path / "reports"
    pm = Path(sys.executable).parent / "papermill"
    runs = tmp_path / "studies" / "runs"

    def run(nb: str) -> None:
        cmd = [str(pm), "-k", "python3", f"notebooks/{nb}.ipynb", str(tmp_path / f"{nb}.out.ipynb"),
               "-p", "params_path", "params.yaml", "-p", "reports_dir", str(reports),
               "-y", json.dumps({"overrides": ov})]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]

    def model_runs() -> int:  # the run cache also keeps baseline predictions ("baseline" key)
        return sum("strategy" in json.loads(p.read_text()) for p in runs.glob("*.json"))

    run("06_strategy_comparison")
    after_06 = model_runs()
    # 2 strategies + 2 selection variants, x 3 folds (the main strategy is the chapter config),
    # + the default stack's inner fits: eval.stack.inner_folds per outer fold
    inner = int(load_params()["eval"]["stack"]["inner_folds"])
    assert after_06 == (2 + 2) * 3 + inner * 3
    for nb in ("08_error_analysis", "07_ablations", "09_config_comparison"):
        run(nb)
    # 07 adds only no_au (path_a_only = the grid's path_b: false); 08 and 09 add nothing
    assert model_runs() == after_06 + 3
    tables, data = reports / "tables", reports / "data"
    for stem in ("strategy", "ablation", "config", "model_vs_baselines"):
        t = pd.read_csv(data / f"{stem}_comparison.csv")
        assert {"mean", "ci_low", "ci_high", "delta", "p_value", "test", "verdict"} <= set(
            t.columns
        )
        verdicts = {"reference", "better", "worse", "no detectable difference", "n/a"}
        assert set(t["verdict"].fillna("n/a")) <= verdicts
        assert (tables / f"{stem}_comparison.md").read_text().count("|") > 10
    mvb = pd.read_csv(data / "model_vs_baselines_comparison.csv")
    want = {
        "tqa:stack",
        "tqa:uncertainty",
        "tqa:selected",
        "ridge",
        "gradient_boosting",
        "generator_mean",
    }
    assert want <= set(mvb["method"])
    assert mvb["test"].dropna().str.startswith("paired bootstrap").any()
    assert "Where the model loses to a baseline" in (tables / "verdicts.md").read_text()
    from tqa.core.params import load_params
    from tqa.study.evaluation import write_reports_index

    index = write_reports_index(load_params(overrides=ov), reports).read_text()
    assert "## Where the model loses to a baseline" in index  # reports/README.md opens with it
    choices = pd.read_csv(data / "selection_choices.csv")
    assert choices["chosen"].sum() == 3  # one configuration per outer fold
    worst = pd.read_csv(data / "worst_videos.csv")
    assert len(worst) == 10  # out-of-fold: every video can be among the worst, not only test rows
    metrics = json.loads((data / "strategy_metrics.json").read_text())
    assert metrics["main_model"]["strategy"] == "uncertainty"


def test_run_key_follows_the_model_source(monkeypatch):
    """The persistent run cache is keyed on the model code too: the fingerprint is the SHA-1
    of tqa/model's .py files (path + bytes, sorted; recomputed here with hashlib), and a
    different fingerprint gives a different run key for the same params."""
    import hashlib
    from pathlib import Path

    import tqa
    from tqa.core import version
    from tqa.core.params import load_params

    root = Path(tqa.__file__).resolve().parent
    h = hashlib.sha1()
    for f in sorted((root / "model").rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    assert version.code_fingerprint("tqa.model") == h.hexdigest()[:16]
    p = load_params()
    key = S.run_key(p, "inputs", "fixed", 0)
    from tqa.study import run_cache

    monkeypatch.setattr(run_cache, "code_fingerprint", lambda *m: "edited-model-code")
    assert S.run_key(p, "inputs", "fixed", 0) != key


def test_cached_run_predictions_round_trip_bit_exactly(tmp_path):
    """A reused run must be scored on exactly the predictions the fresh run had: float32 model
    outputs widened to float64 come back from the run cache's CSV bit for bit (pandas' default
    parser was off by one ulp on ~15 % of such values)."""
    from tqa.study.run_cache import ResultsStore

    rng = np.random.default_rng(0)
    pred = rng.uniform(1, 5, (2000, len(TASKS))).astype(np.float32).astype(float)
    ids = [f"v{i}" for i in range(len(pred))]
    store = ResultsStore(tmp_path, "strategy")
    store.save_run("k", ids, np.full(len(ids), "test"), pred, {"epochs": 1})
    back, info = store.load_run("k", ids)
    assert np.array_equal(back, pred) and info == {"epochs": 1}


def test_prune_unused_keeps_exactly_what_this_run_used(tmp_path):
    """A stage's run cache is a DVC output: after a second, different study only its runs
    and rows remain, in the order it appended them, and the table reads back bit-exactly."""
    import tqa.study.run_cache as RC

    fs, labels, split = _inputs()
    fit = FakeFit()
    S.strategy_comparison(fs, labels, split, PARAMS, seeds=[0, 1], out_dir=tmp_path, fit_fn=fit,
                          progress=False)  # fmt: skip
    (tmp_path / "runs" / ".x.csv.tmp").write_text("half")  # a killed write's leftover
    RC._USED_RUNS.clear()
    RC._USED_ROWS.clear()  # a new process (the next `dvc repro`)
    rows = S.strategy_comparison(fs, labels, split, PARAMS, seeds=[1], out_dir=tmp_path,
                                 fit_fn=fit, progress=False)  # fmt: skip
    table = tmp_path / "strategy.csv"
    before = pd.read_csv(table, dtype={"run_key": str})
    assert len(before) == 2 * len(rows)  # seed 0's rows are still there
    assert S.prune_unused(tmp_path) == (2, len(rows))  # 2 strategies x seed 0
    kept = {p.stem for p in (tmp_path / "runs").glob("*.json")}
    assert kept == set(rows["run_key"]) and len(kept) == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        [f"{k}.csv" for k in kept] + [f"{k}.json" for k in kept]
    )
    after = pd.read_csv(table, dtype={"run_key": str}, float_precision="round_trip")
    pd.testing.assert_frame_equal(
        after.reset_index(drop=True),
        rows.reset_index(drop=True)[list(after.columns)]
        .round(RC.TABLE_DECIMALS)
        .round(RC.FIT_METRIC_DECIMALS),
        check_dtype=False,
        check_exact=True,
    )
    assert S.prune_unused(tmp_path) == (0, 0)  # idempotent
