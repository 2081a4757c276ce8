"""The k-fold study protocol (tqa.study.protocol) on planted data with fake fits.

Oracles: a planted score that is exactly a function of the generator (so generator_mean
must beat a noisy model and the verdicts must say so in words), the fake fit's record of
the overrides each method asked for, pandas group means for the per-video OOF mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from study_fakes import FitResult, overall_labels, visual_only

from tqa.core.params import load_params, merged
from tqa.core.schema import TASKS
from tqa.study import protocol as P
from tqa.study.selection import SELECTED
from tqa.study.studies import ResultsStore

OVERALL, LIP = TASKS.index("overall"), TASKS.index("lip_sync")


def _inputs():
    rng = np.random.default_rng(0)
    ids = [f"g{g}_{gen}" for g in range(15) for gen in ("a", "b", "c")]
    n = len(ids)
    gen = [i.split("_")[1] for i in ids]
    fs = visual_only(ids, rng.normal(size=(n, 4, 2)), rng.normal(size=(n, 3)))
    labels = overall_labels(
        pd.Series(gen).map({"a": 2.0, "b": 3.0, "c": 4.0}) + rng.normal(0, 0.1, n)
    )
    labels[:, LIP] = 4.76 + rng.normal(0, 0.01, n)  # near-constant task
    meta = pd.DataFrame(
        {"video_id": ids, "group": [i.split("_")[0] for i in ids], "generator": gen}
    )
    return fs, labels, meta


class _NoisyFit:
    """Predicts the labels plus large noise (a model that learned little); records overrides."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, fs, labels, split, params, *, strategy, seed, out_dir, progress):
        m = params["model"]
        self.calls.append((strategy, tuple(m["drop_modalities"]), m["d_model"], m["path_b"]))
        rng = np.random.default_rng(seed + len(self.calls))
        pred = np.where(labels == -1.0, 3.0, labels) + rng.normal(0, 1.0, labels.shape)
        return FitResult(pred, {"epoch": [0]})


def _params():
    return merged(
        load_params(),
        {
            "cv": {"folds": 3},
            "eval": {
                "kfold": {"seeds": [0, 1], "ablations": ["no_au", "path_a_only"]},
                "selection": {"grid": [{}, {"d_model": 32}]},
                "baselines": {"names": ["mean", "ridge"]},
                "stack": {"components": ["transformer", "ridge"], "inner_folds": 2},
                "table_metrics": ["pearson", "rmse"],
            },
        },
    )


def test_protocol_studies_tables_and_verdicts(tmp_path):
    fs, labels, meta = _inputs()
    params = _params()
    store = ResultsStore(tmp_path, "kfold")
    fit = _NoisyFit()
    main = P.main_method(params)
    kw = {"store": store, "fit_fn": fit, "progress": False}

    _, strat = P.strategy_comparison(fs, labels, meta, params, **kw)
    assert set(strat["method"]) == {f"tqa:{s}" for s in params["weighting"]["strategies"]}
    assert (strat.loc[strat["method"] == main, "verdict"] == "reference").all()

    n = len(fit.calls)
    _, abl = P.ablations(fs, labels, meta, params, **kw)
    assert set(abl["method"]) == {main, f"{main}/no_au", f"{main}/path_a_only"}
    new = fit.calls[n:]  # the full model was reused from the strategy comparison
    assert sorted(set(new)) == sorted({(main[4:], ("au",), 64, True), (main[4:], (), 64, False)})

    sel_oof, cfg, choices = P.model_selection(fs, labels, meta, params, **kw)
    assert set(cfg["method"]) == {main, f"{main}/d_model=32", SELECTED}
    assert len(choices) == 2 * 3 * 2  # configs x folds x seeds

    oof, table = P.model_vs_baselines(fs, labels, meta, params, selection_oof=sel_oof, **kw)
    stack = P.default_method(params)
    assert set(table["method"]) == {stack, main, SELECTED, "mean", "ridge", "generator_mean"}
    assert (table.loc[table["method"] == stack, "verdict"] == "reference").all()
    weights = oof.attrs["blends"]  # the stack's blend per (seed, fold, task): 2 x 3 folds
    n_tasks = int(((labels != -1.0).sum(axis=0) >= 2).sum())  # tasks with training labels
    assert len(weights[weights["component"] == "intercept"]) == 2 * 3 * n_tasks
    assert (weights.loc[weights["component"] != "intercept", "weight"] >= 0).all()
    t = table.set_index(["method", "task", "metric"])
    # planted: overall is the generator's level + small noise, the model is noisy
    assert t.loc[("generator_mean", "overall", "rmse"), "verdict"] == "better"
    assert t.loc[("generator_mean", "overall", "pearson"), "verdict"] == "better"
    assert t.loc[("mean", "overall", "pearson"), "note"] != ""  # constant prediction
    assert t.loc[("mean", "lip_sync", "rmse"), "note"].startswith("labels near-constant")
    assert table["task"].tolist()[-1] == "lip_sync"  # near-constant tasks listed apart, last

    md = P.verdicts_markdown(table, stack, P.baseline_names(params, meta))
    loses = md.split("## Where the model loses to a baseline")[1].split("##")[0]
    assert "**overall**, rmse: generator_mean" in loses
    assert "lip_sync" not in loses and "Not comparable" in md and "lip_sync" in md

    P.write_comparison(table, "model_vs_baselines", "Model vs baselines", main, str(tmp_path))
    back = pd.read_csv(tmp_path / "model_vs_baselines_comparison.csv")
    assert len(back) == len(table)
    assert "generator_mean" in (tmp_path / "model_vs_baselines_comparison.md").read_text()

    mean = P.oof_mean_predictions(oof, main, fs.video_ids)
    want = oof[(oof["method"] == main) & (oof["task"] == "overall")].groupby("video_id")["pred"]
    np.testing.assert_allclose(mean[:, OVERALL], want.mean().reindex(fs.video_ids))
    assert np.isnan(mean[:, TASKS.index("expression")]).all()

    rows = P.oof_rows(oof, labels, fs.video_ids, params, "kfold")
    r = rows.set_index(["config", "seed", "task"])
    for seed in (0, 1):
        g = oof[(oof["method"] == "ridge") & (oof["seed"] == seed) & (oof["task"] == "overall")]
        want = stats.pearsonr(g["y"], g["pred"])[0]  # pooled over the folds of that seed
        assert r.loc[("ridge", seed, "overall"), "pearson"] == pytest.approx(want)
    assert set(rows["config"]) == {
        stack[4:],
        main[4:],
        SELECTED[4:],
        "mean",
        "ridge",
        "generator_mean",
    }
    assert (rows.loc[rows["config"] == main[4:], "strategy"] == main[4:]).all()


def test_near_constant_tasks_of():
    _, labels, _ = _inputs()
    got = P.near_constant_tasks_of(labels, load_params())
    assert got == [t for t in TASKS if t != "overall"]  # lip_sync std 0.01; others unlabelled


def test_protocol_value_is_checked():
    assert P.protocol(load_params()) == "kfold"
    assert P.protocol(merged(load_params(), {"split": {"protocol": "holdout"}})) == "holdout"
    with pytest.raises(ValueError, match="split.protocol"):
        P.protocol(merged(load_params(), {"split": {"protocol": "kfolds"}}))


def test_with_defects_adds_the_injected_levels_row_aligned(tmp_path):
    """The oracle's inputs: every neutral-set column of degradations.csv, aligned to meta's
    order; nothing added for a file of other videos (real data beside a stale file)."""
    deg = pd.DataFrame({"video_id": ["b", "a", "c"], "blur_sigma": [2.0, 1.0, 3.0],
                        "av_offset_frames": [0, 5, -3], "pitch": [40, 50, 60]})  # fmt: skip
    deg.to_csv(tmp_path / "degradations.csv", index=False)
    params = {"data": {"root": str(tmp_path)}}
    meta = pd.DataFrame({"video_id": ["a", "b"], "group": ["g1", "g2"]})
    out = P.with_defects(meta, params)
    assert list(out["defect__blur_sigma"]) == [1.0, 2.0]
    assert list(out["defect__av_offset_frames"]) == [5, 0]
    assert "defect__pitch" not in out.columns  # a descriptor, not an injected defect
    assert P.oracle_methods(out) == ["oracle_defects"] and P.oracle_methods(meta) == []
    other = pd.DataFrame({"video_id": ["a", "zz"]})
    assert list(P.with_defects(other, params).columns) == ["video_id"]
    assert P.with_defects(meta, {"data": {"root": str(tmp_path / "none")}}) is meta
