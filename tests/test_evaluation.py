"""tqa.study.evaluation helpers against sklearn / hand formulas / planted degradations; plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from tqa.core.schema import TASKS
from tqa.study import evaluation as E
from tqa.study import plots


def _data(n: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"v{i:02d}" for i in range(n)]
    blur = rng.uniform(0, 3, n)  # planted degradation: error grows with blur
    snr = rng.uniform(5, 40, n)  # irrelevant to the error
    true = np.clip(rng.uniform(1, 5, (n, 5)), 1, 5)
    pred = np.clip(
        true + rng.normal(0, 0.05, (n, 5)) + blur[:, None] * rng.choice([-1, 1], (n, 5)) * 0.4, 1, 5
    )
    true[rng.random((n, 5)) < 0.2] = -1.0
    deg = pd.DataFrame(
        {
            "video_id": ids,
            "blur_sigma": blur,
            "noise_snr_db": snr,
            "generator": rng.choice(["wav2lip", "sadtalker"], n),
            "constant": 1.0,
        }
    )
    meta = pd.DataFrame(
        {
            "video_id": ids,
            "group": rng.choice(["id0", "id1", "id2"], n),
            "generator": deg["generator"],
        }
    )
    return ids, true, pred, deg, meta


def test_residuals_and_summary():
    ids, true, pred, _, _ = _data()
    res = E.residuals(true, pred, ids)
    for k, t in enumerate(TASKS):
        keep = true[:, k] != -1.0
        r = res[res["task"] == t]
        assert len(r) == keep.sum()
        np.testing.assert_allclose(r["residual"].to_numpy(), pred[keep, k] - true[keep, k])
    summ = E.residual_summary(res).set_index("task")
    r = res[res["task"] == "overall"]["residual"]
    assert summ.loc["overall", "std"] == pytest.approx(np.std(r, ddof=1))
    assert summ.loc["overall", "share_abs_gt_0.5"] == pytest.approx(np.mean(np.abs(r) > 0.5))


def test_confusion_matrices_match_sklearn():
    _, true, pred, _, _ = _data()
    cms = E.confusion_matrices(true, pred, {"class_bounds": [3.0, 4.0]})
    for k, t in enumerate(TASKS):
        keep = true[:, k] != -1.0
        ct = np.digitize(true[keep, k], [3.0, 4.0])
        cp = np.digitize(pred[keep, k], [3.0, 4.0])
        np.testing.assert_array_equal(cms[t], confusion_matrix(ct, cp, labels=[0, 1, 2]))
    assert E.class_labels({"class_bounds": [3.0, 4.0]}) == ["[1,3)", "[3,4)", "[4,5]"]


def test_bland_altman_hand_formula_and_agreement():
    _, true, pred, _, _ = _data()
    t, p = true[:, 2], pred[:, 2]
    keep = t != -1.0
    d = p[keep] - t[keep]
    ba = E.bland_altman(t, p)
    assert ba["bias"] == pytest.approx(d.mean())
    assert ba["loa_high"] - ba["loa_low"] == pytest.approx(2 * 1.96 * np.std(d, ddof=1))
    # a pure shift: bias = shift, zero-width limits
    shifted = E.bland_altman([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert shifted["bias"] == pytest.approx(0.5) and shifted["sd"] == pytest.approx(0.0)
    agr = E.agreement_table(true, pred, {"class_bounds": [3.0, 4.0]}).set_index("task")
    ct, cp = np.digitize(t[keep], [3.0, 4.0]), np.digitize(p[keep], [3.0, 4.0])
    assert agr.loc["audio_quality", "qwk"] == pytest.approx(
        cohen_kappa_score(ct, cp, weights="quadratic", labels=[0, 1, 2])
    )
    assert agr.loc["audio_quality", "pearson"] == pytest.approx(stats.pearsonr(t[keep], p[keep])[0])


def test_error_tracks_planted_degradation_and_worst_k():
    ids, true, pred, deg, meta = _data(n=80)
    res = E.residuals(true, pred, ids)
    ev = E.error_vs_degradation(res, deg)
    assert set(ev["parameter"]) == {"blur_sigma", "noise_snr_db"}  # non-numeric / constant dropped
    deg2 = deg.assign(render_seed=np.arange(len(deg)))
    assert "render_seed" in set(E.error_vs_degradation(res, deg2)["parameter"])
    assert "render_seed" not in set(E.error_vs_degradation(res, deg2, ["render_seed"])["parameter"])
    blur = ev[ev["parameter"] == "blur_sigma"]["spearman_abs_error"]
    snr = ev[ev["parameter"] == "noise_snr_db"]["spearman_abs_error"]
    assert (blur > 0.6).all() and (snr.abs() < 0.4).all()
    # oracle for one task
    g = res[res["task"] == "expression"]
    x = deg.set_index("video_id").loc[g["video_id"], "blur_sigma"]
    assert ev[(ev["task"] == "expression") & (ev["parameter"] == "blur_sigma")][
        "spearman_abs_error"
    ].iloc[0] == pytest.approx(stats.spearmanr(x, g["abs_error"])[0])
    worst = E.worst_k(res, 5, deg, meta)
    assert len(worst) == 5 and worst["mean_abs_error"].is_monotonic_decreasing
    assert {"blur_sigma", "group", "generator", "residual_overall"} <= set(worst.columns)
    assert worst["blur_sigma"].mean() > deg["blur_sigma"].mean()
    top = res.groupby("video_id")["abs_error"].mean().sort_values(ascending=False).index[:5]
    assert list(worst["video_id"]) == list(top)


def test_prediction_vs_degradation_and_groups():
    ids, true, _, deg, meta = _data(n=60)
    pred = np.tile((5 - deg["blur_sigma"].to_numpy())[:, None], (1, 5))  # score falls with blur
    pvd = E.prediction_vs_degradation(pred, ids, deg)
    assert np.allclose(pvd[pvd["parameter"] == "blur_sigma"]["spearman"], -1.0)
    res = E.residuals(true, pred, ids)
    by = E.error_by_group(res, meta, "group")
    one = by[(by["group"] == "id1") & (by["task"] == "overall")].iloc[0]
    sel = res[
        (res["task"] == "overall") & res["video_id"].isin(meta[meta["group"] == "id1"]["video_id"])
    ]
    assert one["mae"] == pytest.approx(sel["abs_error"].mean()) and one["n"] == len(sel)
    with pytest.raises(KeyError, match="nope"):
        E.error_by_group(res, meta, "nope")


def test_degradations_loader(tmp_path):
    assert E.load_degradations(tmp_path) is None
    pd.DataFrame({"video_id": ["a"], "x": [1]}).to_csv(tmp_path / "degradations.csv", index=False)
    assert list(E.load_degradations(tmp_path).columns) == ["video_id", "x"]
    pd.DataFrame({"vid": ["a"]}).to_csv(tmp_path / "degradations.csv", index=False)
    with pytest.raises(ValueError, match="degradations.csv"):
        E.load_degradations(tmp_path)


def test_plots_and_reports_index(tmp_path):
    from tqa.study.reporting import save_figure, save_table
    from tqa.study.studies import summarize

    ids, true, pred, _, _ = _data(n=30)
    res = E.residuals(true, pred, ids)
    figs = [
        plots.scatter_pred_true(true, pred),
        plots.residual_hist(res),
        plots.confusion_grid(E.confusion_matrices(true, pred), E.class_labels()),
        plots.bland_altman_grid(true, pred),
        plots.heatmap(pd.DataFrame([[0.5, np.nan]], index=["a"], columns=["x", "y"])),
    ]
    rows = pd.DataFrame(
        [
            {"config": c, "seed": s, "task": t, "pearson": 0.1 * s}
            for c in ("a", "b")
            for s in (0, 1)
            for t in TASKS
        ]
    )
    figs.append(
        plots.bar_with_error(summarize(rows, ["pearson"]), "pearson", reference={"overall": 0.2})
    )
    params = {"data": {"root": "data/sample"}, "features": {"visual": "nss"}}
    figs_caps = [f"caption {i}" for i in range(len(figs))]
    figs_caps[0] += " " + __import__("tqa.study.reporting", fromlist=["x"]).provenance(params)
    for i, f in enumerate(figs):
        save_figure(f, f"fig{i}", figs_caps[i], reports_dir=tmp_path)
    save_table(pd.DataFrame({"a": [1]}), "tab", "My table caption", reports_dir=tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({}))
    out = E.write_reports_index(params, reports_dir=tmp_path)
    text = out.read_text()
    assert "caption 3" in text and "My table caption" in text and "not EmotionTalk" in text
    assert text.count("](figures/fig") == len(figs)
    # grouped by notebook / research question, linking executed notebooks and every file
    for stem in ("06_strategy_comparison", "01_data_analysis"):
        save_table(pd.DataFrame({"a": [2]}), f"t_{stem}", f"table of {stem}", tmp_path / stem)
        (tmp_path / "notebooks").mkdir(exist_ok=True)
        (tmp_path / "notebooks" / f"{stem}.ipynb").write_text("{}")
    (tmp_path / "05_training_fixed" / "training" / "fixed").mkdir(parents=True)
    (tmp_path / "05_training_fixed" / "training" / "fixed" / "history_seed0.csv").write_text(
        "e\n1\n"
    )
    (tmp_path / "data_card.md").write_text("card")
    (tmp_path / "benchmarks.md").write_text("bench")
    text = E.write_reports_index(params, reports_dir=tmp_path).read_text()
    pos = [
        text.index(h) for h in ("## The data", "## 01 Data analysis", "## 05 Training", "## 06 ")
    ]
    assert pos == sorted(pos)
    for link in (
        "(notebooks/01_data_analysis.ipynb)",
        "(06_strategy_comparison/data/t_06_strategy_comparison.csv)",
        "([md](06_strategy_comparison/tables/t_06_strategy_comparison.md))",
        "(05_training_fixed/training/fixed/history_seed0.csv)",
        "(data_card.md)",
        "(benchmarks.md)",
    ):
        assert link in text, link
    assert text.index("t_01_data_analysis.csv") < text.index("t_06_strategy_comparison.csv")
    assert text.count("not EmotionTalk") == 1  # provenance once at the top, stripped from captions


def test_metrics_json_payload_is_json_safe():
    from tqa.study.studies import summarize

    rows = pd.DataFrame(
        [
            {
                "config": "fixed",
                "seed": s,
                "task": t,
                "pearson": np.nan if t == "lip_sync" else 0.5,
                "rmse": 0.4,
            }
            for s in (0, 1)
            for t in TASKS
        ]
    )
    base = pd.DataFrame(
        [{"config": "mean", "task": t, "pearson": np.nan, "rmse": 0.6} for t in TASKS]
    )
    params = {"data": {"root": "data/sample"}, "features": {"visual": "nss", "audio": "spectral"}}
    rows2 = rows.assign(config="gradnorm", rmse=0.3)
    payload = E.metrics_json_payload(
        params,
        summarize(pd.concat([rows, rows2]), ["pearson", "rmse"]),
        base,
        "fixed",
        2,
        metrics=["pearson", "rmse"],
    )
    txt = json.dumps(payload, allow_nan=False)
    assert payload["main_model"]["tasks"]["overall"]["pearson"] == pytest.approx(0.5)
    assert payload["main_model"]["tasks"]["lip_sync"]["pearson"] is None
    assert payload["main_model"]["tasks"]["overall"]["rmse"] == pytest.approx(0.4)
    assert payload["strategies"]["gradnorm"]["overall"]["rmse"] == pytest.approx(0.3)
    assert (
        payload["baselines"]["mean"]["overall"]["rmse"] == pytest.approx(0.6)
        and "EmotionTalk" in txt
    )


def test_cli_scores_a_predictions_file(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_studies import make_tiny_study

    ov = make_tiny_study(tmp_path)
    lab = pd.read_csv(tmp_path / "data" / "labels.csv")
    pred = lab[["video_id", *TASKS]].copy()
    pred[list(TASKS)] = np.where(
        pred[list(TASKS)] == -1.0, 3.0, pred[list(TASKS)] + 0.25
    )  # pure shift
    pred.to_csv(tmp_path / "pred.csv", index=False)
    args = [a for k in ("data.root", "split.out") for a in ("--set", f"{k}={ov[k]}")]
    out = tmp_path / "m.csv"
    assert (
        E.main(
            [
                *args,
                "--predictions",
                str(tmp_path / "pred.csv"),
                "--bootstrap",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out).set_index("task")
    assert np.allclose(table["mae"], 0.25) and np.allclose(table["rmse"], 0.25)
    assert np.allclose(table["pearson"].dropna(), 1.0) and (table["ccc"].dropna() < 1.0).all()
    sp = pd.read_csv(tmp_path / "split.csv")
    assert table.loc["lip_sync", "n"] == (sp["split"] == "test").sum()
    bad = pred.assign(video_id="nope")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="not in labels"):
        E.main([*args, "--predictions", str(tmp_path / "bad.csv")])
