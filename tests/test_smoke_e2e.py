"""End-to-end smoke test on the tiny corpus, through the `tqa` command line.

corpus (fixture) -> validate -> split -> extract -> train -> bundle -> score -> evaluate,
every artefact in a temporary folder, nothing written under the repository. This is the
one whole-pipeline test in the default `make test` run; each stage has its own tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tqa.cli import main as tqa
from tqa.core.params import load_params
from tqa.core.schema import TASKS


@pytest.fixture(scope="module")
def study(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("e2e")
    p = load_params()
    p["data"]["root"] = str(tiny_corpus)
    p["split"].update(method="random", out=str(tmp / "split.csv"))
    p["features"].update(
        cache_dir=str(tmp / "features"),
        workers=1,
        summary_path=str(tmp / "extraction_summary.json"),
    )
    p["train"].update(epochs=3, seeds=[0], out_dir=str(tmp / "models"), early_stopping_patience=3)
    p["eval"]["results_dir"] = str(tmp / "studies")
    # the stack bundle's pooled regressors at a tenth-to-fifth of their size: the same code
    # path, ~20 s less (each stage has its own tests at full size)
    p["eval"]["baselines"].update(
        rf_n_estimators=20, rfw_n_estimators=20, et_n_estimators=20, gb_max_iter=20
    )
    # gradient boosting without the raw landmark coordinates (415 pooled columns, not 3223):
    # its binning costs ~0.3 ms a column whatever the rows, 15 fits x 0.85 s on 8 videos
    p["eval"]["baselines"]["exclude_streams"]["gradient_boosting"] = ["landmarks"]
    p["score"].update(
        bundle_dir=str(tmp / "bundle"),
        bundle_strategy="uncertainty",
        bundle_seed=0,
        cache_dir=str(tmp / "score_cache"),
    )
    params_path = tmp / "params.yaml"
    params_path.write_text(yaml.safe_dump(p), encoding="utf-8")
    return {"tmp": tmp, "params": str(params_path), "root": tiny_corpus}


def test_pipeline_runs_end_to_end_from_the_cli(study: dict) -> None:
    tmp, pp, root = study["tmp"], study["params"], study["root"]
    labels = pd.read_csv(root / "labels.csv")
    n = len(labels)

    assert tqa(["validate", str(root), "--params", pp]) == 0
    assert tqa(["split", "--params", pp]) == 0
    split = pd.read_csv(tmp / "split.csv")
    assert sorted(split["video_id"]) == sorted(labels["video_id"])

    assert tqa(["extract", "--params", pp, "--no-progress"]) == 0
    summary = json.loads((tmp / "extraction_summary.json").read_text())
    assert len(list((tmp / "features").glob("*.npz"))) == n, summary

    assert (
        tqa(
            [
                "train",
                "--params",
                pp,
                "--strategy",
                "uncertainty",
                "--seed",
                "0",
                "--reports",
                str(tmp / "training"),
                "--no-progress",
            ]
        )
        == 0
    )
    fit_dir = tmp / "models" / "uncertainty" / "seed0"
    history = pd.read_csv(fit_dir / "history.csv")
    assert np.isfinite(history["train_loss"]).all()
    fit_metrics = json.loads((fit_dir / "metrics.json").read_text())

    assert tqa(["bundle", "--params", pp]) == 0
    out = tmp / "scores.csv"
    videos = sorted((root / "videos").glob("*.mp4"))[:2]
    assert (
        tqa(
            [
                "score",
                *map(str, videos),
                "--model",
                str(tmp / "bundle"),
                "--out",
                str(out),
                "--params",
                pp,
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    scores = pd.read_csv(out)
    assert len(scores) == 2 and (scores["status"] == "ok").all()
    s = scores[list(TASKS)].to_numpy()
    assert np.isfinite(s).all() and (s >= 1).all() and (s <= 5).all()

    # the scores of the CLI equal the bundle's predictions on the extraction cache
    from tqa.features.cache import load_feature_set
    from tqa.serve.bundle_load import load_bundle

    ids = [v.stem for v in videos]
    cached = load_bundle(tmp / "bundle").predict(load_feature_set(tmp / "features", ids))
    np.testing.assert_allclose(
        scores.set_index("video_id").loc[ids, list(TASKS)].to_numpy(), cached, atol=1e-4
    )

    # the bundle holds tqa's default model: the fit stacked with pooled-feature regressors
    from tqa.model.training import predict as transformer_predict

    bundle = load_bundle(tmp / "bundle")
    assert bundle.manifest["model"] == "tqa:stack" and bundle.stack is not None
    all_ids = list(labels["video_id"])
    fs_all = load_feature_set(tmp / "features", all_ids)
    stacked = bundle.predict(fs_all)
    assert np.isfinite(stacked).all() and (stacked >= 1).all() and (stacked <= 5).all()
    # the fit's metrics.json (masked MSE per task on its test rows) equals the MSE recomputed
    # from the bundled Transformer's predictions (the bundle packages that fit) and the labels
    pred_all = np.asarray(transformer_predict(bundle.model, bundle.preprocessor, fs_all), float)
    y = labels.set_index("video_id").loc[all_ids, list(TASKS)].to_numpy(float)
    on_test = (split.set_index("video_id").loc[all_ids, "split"] == "test").to_numpy()
    checked = 0
    for k, task in enumerate(TASKS):
        m = on_test & (y[:, k] != -1.0)
        got = fit_metrics["test_mse_per_task"][task]
        if m.any():
            assert got == pytest.approx(float(((pred_all[m, k] - y[m, k]) ** 2).mean()), rel=1e-4)
            checked += 1
        else:
            assert got is None
    assert checked >= 1

    preds = tmp / "preds.csv"
    pd.DataFrame(pred_all, columns=list(TASKS)).assign(video_id=all_ids).to_csv(preds, index=False)
    table_out = tmp / "eval.csv"
    assert (
        tqa(
            [
                "evaluate",
                "--params",
                pp,
                "--predictions",
                str(preds),
                "--splits",
                "all",
                "--bootstrap",
                "0",
                "--out",
                str(table_out),
            ]
        )
        == 0
    )
    table = pd.read_csv(table_out).set_index("task")
    assert set(table.index) == set(TASKS)
    # `tqa evaluate` agrees with numpy / scipy on the same predictions
    from scipy import stats

    for k, task in enumerate(TASKS):
        m = y[:, k] != -1.0
        rmse = float(np.sqrt(((pred_all[m, k] - y[m, k]) ** 2).mean()))
        assert table.loc[task, "rmse"] == pytest.approx(rmse, rel=1e-6)
        if np.std(y[m, k]) > 0 and np.std(pred_all[m, k]) > 0:
            r = stats.pearsonr(pred_all[m, k], y[m, k])[0]
            assert table.loc[task, "pearson"] == pytest.approx(r, abs=1e-6)
