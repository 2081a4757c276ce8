"""tqa's default model, the stack (tqa.study.blend, tqa.study.stacking).

Oracles: scikit-learn's ``LinearRegression(positive=True)`` for the non-negative blend
weights, set algebra on the inner folds, and a leak test (the outer test labels are
changed and the stack's predictions must not move).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from test_crossval import OVERALL, _FakeFit, _inputs

from tqa.core.params import load_params
from tqa.core.schema import TASKS
from tqa.study.baselines import score_bounds
from tqa.study.blend import fit_blend
from tqa.study.crossval import fold_split, kfold_assignments, run_cv
from tqa.study.stacking import (
    STACK,
    TRANSFORMER,
    blend_table,
    feature_values,
    inner_splits,
    stack_params,
    stacked_predictions,
)
from tqa.study.studies import ResultsStore, main_strategy


def test_fit_blend_matches_sklearn_positive_least_squares():
    rng = np.random.default_rng(0)
    p = rng.normal(3.0, 1.0, (200, 3))
    y = 0.2 + 0.6 * p[:, 0] + 0.3 * p[:, 2] - 0.2 * p[:, 1] + rng.normal(0, 0.1, 200)
    blend = fit_blend(p, y, ["a", "b", "c"])
    ref = LinearRegression(positive=True).fit(p, y)
    np.testing.assert_allclose(blend.weights, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(blend.intercept, ref.intercept_, atol=1e-6)
    assert blend.weights[1] == 0.0  # a component that hurts gets no weight, never a negative one
    np.testing.assert_allclose(blend.predict(p), ref.predict(p), atol=1e-6)


def test_fit_blend_nan_component_and_useless_components():
    rng = np.random.default_rng(1)
    y = rng.normal(3, 1, 50)
    p = np.column_stack([y + rng.normal(0, 0.1, 50), np.full(50, np.nan)])
    blend = fit_blend(p, y, ["good", "never_trained"])
    assert blend.weights[1] == 0.0 and blend.weights[0] > 0.9
    assert np.isfinite(blend.predict(p)).all()  # a zero-weight NaN component is not read
    anti = fit_blend(-y[:, None], y, ["anti"])  # only anti-correlated: predict the mean
    assert anti.weights == (0.0,)
    assert anti.intercept == pytest.approx(y.mean())
    with pytest.raises(ValueError, match="at least 2"):
        fit_blend(np.ones((2, 1)), np.array([1.0, np.nan]), ["x"])


def test_fit_blend_average_is_the_calibrated_mean_of_the_usable_components():
    """``average``: equal weights on the finite components, their common scale and the
    intercept those of an ordinary least-squares line through their row mean (oracle:
    numpy's polyfit); a NaN component gets no weight; an anti-correlated mean, the mean."""
    rng = np.random.default_rng(4)
    p = rng.normal(3.0, 1.0, (120, 3))
    y = 0.5 + 0.8 * p.mean(axis=1) + rng.normal(0, 0.2, 120)
    with_nan = np.column_stack([p, np.full(120, np.nan)])
    blend = fit_blend(with_nan, y, ["a", "b", "c", "untrained"], average=True)
    slope, intercept = np.polyfit(p.mean(axis=1), y, 1)
    assert blend.choice == "mean" and blend.weights[3] == 0.0
    np.testing.assert_allclose(blend.weights[:3], [slope / 3] * 3, rtol=1e-9)
    assert blend.intercept == pytest.approx(intercept, rel=1e-9)
    np.testing.assert_allclose(blend.predict(with_nan), intercept + slope * p.mean(axis=1))
    anti = fit_blend(-p, y, ["a", "b", "c"], average=True)
    assert anti.weights == (0.0, 0.0, 0.0) and anti.intercept == pytest.approx(y.mean())


def test_fit_blend_bagged_is_the_mean_of_sklearn_fits_on_the_same_resamples():
    """``bags``: the mean of the positive least-squares weights (oracle: sklearn's
    ``LinearRegression(positive=True)``) over bootstrap resamples drawn as the blend draws
    them (``BAG_SEED``), the intercept refitted on all rows; the same rows give the same
    blend, and two equally good copies of a signal share its weight where one NNLS fit
    gives it all to one of them."""
    from tqa.study.blend import BAG_SEED

    rng = np.random.default_rng(5)
    n = 80
    y = rng.normal(3, 1, n)
    signal = y + rng.normal(0, 0.5, n)
    p = np.column_stack([signal, signal + rng.normal(0, 0.05, n), rng.normal(3, 1, n)])
    names = ["a", "a_copy", "noise"]
    blend = fit_blend(p, y, names, bags=20)
    draw = np.random.default_rng(BAG_SEED)
    want = np.zeros(3)
    for _ in range(20):
        rows = draw.integers(0, n, n)
        want += LinearRegression(positive=True).fit(p[rows], y[rows]).coef_
    want /= 20
    np.testing.assert_allclose(blend.weights, want, atol=1e-8)
    assert blend.choice == "bagged"
    assert blend.intercept == pytest.approx(y.mean() - p.mean(axis=0) @ want, rel=1e-9)
    assert fit_blend(p, y, names, bags=20) == blend
    one = fit_blend(p, y, names)
    assert min(one.weights[:2]) < 0.1 * max(one.weights[:2])  # one fit: one copy takes most
    assert min(blend.weights[:2]) > 0.2 * max(blend.weights[:2])  # bagged: both keep a share


def test_fit_blend_select_is_the_candidate_sklearn_cross_validates_best():
    """With inner folds, the blend is the candidate (all components, or one alone) with the
    lowest cross-validated MSE; the oracle recomputes every candidate with sklearn."""
    rng = np.random.default_rng(3)
    n, folds = 60, np.repeat(np.arange(3), 20)
    y = rng.normal(3, 1, n)
    signal = y + rng.normal(0, 0.8, n)
    noise = rng.normal(3, 1, (n, 6))
    p = np.column_stack([signal, noise])
    names = ["signal"] + [f"noise{i}" for i in range(6)]

    def cv_mse(cols):
        err = []
        for f in range(3):
            tr, te = folds != f, folds == f
            m = LinearRegression(positive=True).fit(p[tr][:, cols], y[tr])
            err.append((m.predict(p[te][:, cols]) - y[te]) ** 2)
        return float(np.concatenate(err).mean())

    cands = {"nnls": list(range(7)), **{names[c]: [c] for c in range(7)}}
    scores = {k: cv_mse(v) for k, v in cands.items()}
    blend = fit_blend(p, y, names, folds)
    assert blend.choice == min(scores, key=scores.get)
    assert blend.choice == "signal"  # the noise components overfit the all-component blend
    chosen = [c for c, w in zip(names, blend.weights, strict=True) if w > 0]
    assert chosen == ["signal"]
    ref = LinearRegression(positive=True).fit(p[:, [0]], y)
    np.testing.assert_allclose(blend.weights[0], ref.coef_[0], atol=1e-6)
    assert fit_blend(p, y, names).choice == "nnls"  # no folds: the blend of all


def test_inner_splits_cover_the_training_part_once_and_keep_groups_and_test_apart():
    fs, labels, meta, _ = _inputs(n_groups=12)
    ids, groups = list(fs.video_ids), meta["portrait"].tolist()
    outer = fold_split(kfold_assignments(ids, groups, 4, 0), 1, 0.1, 0)
    inner = list(inner_splits(ids, groups, outer, 3, 0.1, 0))
    assert len(inner) == 3
    training = outer != "test"
    seen = np.zeros(len(ids), dtype=int)
    g = np.asarray(groups)
    for s in inner:
        assert (s[~training] == "test").all()  # the outer test fold is never fitted on
        inner_test = (s == "test") & training
        seen += inner_test
        assert not set(g[inner_test]) & set(g[s != "test"])  # no group on both sides
        assert (s[training] == "val").any()  # each inner fit has its own validation part
    assert (seen[training] == 1).all() and (seen[~training] == 0).all()
    one_group = np.where(g == g[0], "train", "test")
    with pytest.raises(ValueError, match=">= 2 training groups"):
        list(inner_splits(ids, groups, one_group, 3, 0.1, 0))


def _component_fns(truth: np.ndarray, calls: list):
    """A Transformer that predicts noise and a pooled 'oracle' that predicts the truth."""
    rng = np.random.default_rng(5)
    noise = rng.normal(3, 1, (len(truth), len(TASKS)))

    def model_fn(split, label):
        calls.append(label)
        return noise

    def pooled_fn(names, split):
        return {n: np.repeat(truth[:, None], len(TASKS), axis=1) for n in names}

    return model_fn, pooled_fn


def test_stacked_predictions_weight_the_informative_component_and_never_read_test_labels():
    fs, labels, meta, truth = _inputs(n_groups=12)
    ids, groups = list(fs.video_ids), meta["portrait"].tolist()
    outer = fold_split(kfold_assignments(ids, groups, 4, 0), 0, 0.1, 0)
    inner = list(inner_splits(ids, groups, outer, 3, 0.1, 0))
    calls: list = []
    model_fn, pooled_fn = _component_fns(truth, calls)
    comps = [TRANSFORMER, "oracle"]
    pred, blends = stacked_predictions(labels, outer, inner, comps, model_fn, pooled_fn)
    assert calls == ["inner0", "inner1", "inner2", "outer"]
    b = blends[OVERALL]
    assert b.weights[0] < 0.05 and b.weights[1] > 0.95
    test = outer == "test"
    np.testing.assert_allclose(pred[test, OVERALL], truth[test], atol=0.1)
    assert all(blends[k] is None for k in range(len(TASKS)) if k != OVERALL)  # no labels
    leaked = labels.copy()
    leaked[test, OVERALL] = 5.0 - leaked[test, OVERALL]  # change every outer test label
    pred2, _ = stacked_predictions(leaked, outer, inner, comps, model_fn, pooled_fn)
    np.testing.assert_array_equal(pred, pred2)
    # blend: bagged passes its resample count on (eval.stack.bags): the blend fit_blend gives
    _, bagged = stacked_predictions(labels, outer, inner, comps, model_fn, pooled_fn,
                                    blend="bagged", bags=7)  # fmt: skip
    assert bagged[OVERALL].choice == "bagged"
    assert bagged[OVERALL] != b  # other weights than the plain NNLS blend's
    _, bagged8 = stacked_predictions(labels, outer, inner, comps, model_fn, pooled_fn,
                                     blend="bagged", bags=8)  # fmt: skip
    assert bagged8[OVERALL].weights != bagged[OVERALL].weights  # the count reaches fit_blend


def test_stacked_predictions_are_clipped_to_the_score_range():
    """A component whose outer fit predicts beyond the scale (the blend follows it with its
    inner weight) is clipped to ``bounds``, as each baseline is; without bounds it is not."""
    fs, labels, meta, truth = _inputs(n_groups=12)
    ids, groups = list(fs.video_ids), meta["portrait"].tolist()
    outer = fold_split(kfold_assignments(ids, groups, 4, 0), 0, 0.1, 0)
    inner = list(inner_splits(ids, groups, outer, 3, 0.1, 0))
    model_fn, pooled_fn = _component_fns(truth, [])

    def wild(names, split):  # the inner fits are sane, the outer fit is not
        scale = 4.0 if (split == "test").sum() < len(split) / 3 else 1.0
        return {n: (p - 3.0) * scale + 3.0 for n, p in pooled_fn(names, split).items()}

    comps = [TRANSFORMER, "oracle"]
    free, _ = stacked_predictions(labels, outer, inner, comps, model_fn, wild)
    assert np.nanmax(free[:, OVERALL]) > 5.0 or np.nanmin(free[:, OVERALL]) < 1.0
    clipped, _ = stacked_predictions(labels, outer, inner, comps, model_fn, wild, bounds=(1, 5))
    np.testing.assert_array_equal(clipped, np.clip(free, 1, 5))
    assert score_bounds({}) == (1.0, 5.0)
    assert score_bounds({"data": {"score_min": 0, "score_max": 100}}) == (0.0, 100.0)


def _two_component_params() -> dict:
    """params.yaml with a stack of the Transformer and ridge over 2 inner folds."""
    return load_params(
        overrides={
            "eval.stack.components": [TRANSFORMER, "ridge"],
            "eval.stack.inner_folds": 2,
            "eval.stack.small_data_values": 0,
        }  # fmt: skip
    )


def test_run_cv_stack_is_out_of_fold_resumable_and_reports_weights(tmp_path):
    fs, labels, meta, truth = _inputs(n_groups=12)
    params = _two_component_params()
    chapter = "tqa:" + main_strategy(params)  # the stack's Transformer is this method's fit
    store = ResultsStore(tmp_path, "cv_runs")
    fake = _FakeFit(truth)
    _FakeFit.calls = 0
    blends: dict = {}
    oof = run_cv(
        fs, labels, meta, params, [STACK, chapter], [0], store,
        k=3, group_column="portrait", fit_fn=fake, progress=False, blends_out=blends,
    )  # fmt: skip
    # the chapter method's 3 outer fits are the stack's outer Transformer: 3 + 3 folds x 2 inner
    assert _FakeFit.calls == 9
    stack = oof[oof["method"] == STACK]
    assert sorted(stack["video_id"]) == sorted(fs.video_ids)
    assert np.isfinite(stack["pred"]).all()
    weights = blend_table(blends)
    assert set(weights["component"]) == {TRANSFORMER, "ridge", "intercept"}
    assert len(blends) == 3 and set(weights["task"]) == {"overall"}
    # the fake Transformer predicts the truth (+ noise): it must carry the blend
    w = weights[weights["component"] != "intercept"].groupby("component")["weight"].mean()
    assert w[TRANSFORMER] > w["ridge"]
    again = run_cv(
        fs, labels, meta, params, [STACK, chapter], [0], store,
        k=3, group_column="portrait", fit_fn=fake, progress=False,
    )  # fmt: skip
    assert _FakeFit.calls == 9  # every fit came back from the run cache
    pd.testing.assert_frame_equal(oof, again)


def test_stack_params_errors():
    with pytest.raises(ValueError, match="empty"):
        stack_params({"eval": {"stack": {"components": []}}})
    with pytest.raises(ValueError, match="inner_folds"):
        stack_params({"eval": {"stack": {"inner_folds": 1}}})
    with pytest.raises(ValueError, match="bags"):
        stack_params({"eval": {"stack": {"bags": 0}}})
    fs, labels, meta, _ = _inputs()
    params = load_params(overrides={"eval.stack.components": ["transformer", "random_forrest"]})
    with pytest.raises(KeyError, match="random_forest"):
        run_cv(fs, labels, meta, params, [STACK], [0], None, k=3, group_column="portrait")


def test_small_data_get_more_inner_folds(tmp_path):
    """At most ``small_data_values`` feature values (videos x frames x columns):
    ``small_data_inner_folds`` inner Transformer fits per outer fold, counted through the fit
    function; above: 2."""
    fs, labels, meta, truth = _inputs(n_groups=12)
    n_values = feature_values(fs)
    assert n_values == sum(a.size for a in fs.streams.values()) > 0
    chapter_fits = 3  # outer folds (k=3), shared with the chapter method
    for limit, inner in ((n_values, 4), (n_values - 1, 2)):
        params = load_params(overrides={
            "eval.stack.components": [TRANSFORMER, "ridge"], "eval.stack.inner_folds": 2,
            "eval.stack.small_data_inner_folds": 4, "eval.stack.small_data_values": limit,
        })  # fmt: skip
        assert stack_params(params, fs)["inner_folds"] == inner
        assert stack_params(params)["inner_folds"] == 2  # no data: the configured count
        _FakeFit.calls = 0
        run_cv(
            fs, labels, meta, params, [STACK], [0], ResultsStore(tmp_path / str(limit), "cv"),
            k=3, group_column="portrait", fit_fn=_FakeFit(truth), progress=False,
        )  # fmt: skip
        assert _FakeFit.calls == chapter_fits + 3 * inner
    with pytest.raises(ValueError, match="small_data_inner_folds"):
        stack_params({"eval": {"stack": {"small_data_inner_folds": 1}}})


def test_a_task_labelled_only_in_the_val_part_is_learned_by_what_fits_val(tmp_path):
    """A task rated only on the validation part of an outer fold: the baselines and the
    stack fit train + val (FIT_PARTS), so they predict it (the ``mean`` baseline: the mean of
    those labels, by numpy); the chapter's Transformer learns from "train" alone, so its
    prediction is NaN, and inside the stack its untrained head gets no weight."""
    fs, labels, meta, truth = _inputs(n_groups=12)
    aq = TASKS.index("audio_quality")
    split = fold_split(kfold_assignments(fs.video_ids, meta["portrait"], 4, 0), 0, 0.1, 0)
    val = split == "val"
    assert 0 < val.sum() < (split != "test").sum()
    labels[val, aq] = labels[val, OVERALL]  # audio_quality rated on fold 0's val part only
    params = _two_component_params()
    chapter = "tqa:" + main_strategy(params)
    blends: dict = {}
    oof = run_cv(
        fs, labels, meta, params, [STACK, chapter, "mean"], [0], ResultsStore(tmp_path, "cv"),
        k=4, group_column="portrait", fit_fn=_FakeFit(truth), progress=False, blends_out=blends,
    )  # fmt: skip
    fold0 = oof[(oof["fold"] == 0) & (oof["task"] == "audio_quality")].set_index("method")
    test_ids = set(np.asarray(fs.video_ids)[split == "test"])
    assert set(fold0.loc["mean", "video_id"]) == test_ids
    rated = labels[val, aq][labels[val, aq] != -1.0]  # row 3's overall is missing
    np.testing.assert_allclose(fold0.loc["mean", "pred"], rated.mean())
    assert fold0.loc[chapter, "pred"].isna().all()  # no training label: not learned
    assert np.isfinite(fold0.loc[STACK, "pred"]).all()
    w = blend_table({k: v for k, v in blends.items() if k == (0, 0)})
    w = w[(w["task"] == "audio_quality") & (w["component"] == TRANSFORMER)]
    assert len(w) == 1 and w["weight"].iloc[0] == 0.0  # the untrained head is not blended
