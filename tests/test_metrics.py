"""tqa.study.metrics against independent implementations (scipy.stats, sklearn, hand formulas)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from tqa.core.schema import TASKS
from tqa.study import metrics as M


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    t = np.round(rng.uniform(1, 5, 60) * 2) / 2  # half-point ratings: many ties
    p = np.clip(t + rng.normal(0, 0.6, t.size), 1, 5)
    p[::7] = np.round(p[::7])  # ties in predictions too
    return t, p


def test_error_metrics_match_sklearn(pair):
    t, p = pair
    assert M.mse(t, p) == pytest.approx(skm.mean_squared_error(t, p))
    assert M.rmse(t, p) == pytest.approx(math.sqrt(skm.mean_squared_error(t, p)))
    assert M.mae(t, p) == pytest.approx(skm.mean_absolute_error(t, p))
    assert M.medae(t, p) == pytest.approx(skm.median_absolute_error(t, p))
    assert M.r2(t, p) == pytest.approx(skm.r2_score(t, p))


def test_correlations_match_scipy_with_ties(pair):
    t, p = pair
    assert M.pearson(t, p) == pytest.approx(stats.pearsonr(t, p)[0])
    assert M.spearman(t, p) == pytest.approx(stats.spearmanr(t, p)[0])
    assert M.kendall_tau(t, p) == pytest.approx(stats.kendalltau(t, p)[0])
    # explicit heavy ties
    a = np.array([1, 1, 2, 2, 3, 3, 3, 4.0])
    b = np.array([1, 2, 2, 2, 3, 4, 4, 4.0])
    assert M.spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0])
    assert M.kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b)[0])


def test_ccc_hand_formula(pair):
    t, p = pair
    p = p * 0.8 + 0.5  # scale + shift: CCC < Pearson
    mt, mp = t.mean(), p.mean()
    vt, vp = ((t - mt) ** 2).mean(), ((p - mp) ** 2).mean()
    cov = ((t - mt) * (p - mp)).mean()
    expected = 2 * cov / (vt + vp + (mt - mp) ** 2)
    assert M.ccc(t, p) == pytest.approx(expected)
    assert M.ccc(t, p) < M.pearson(t, p)
    assert M.ccc(t, t) == pytest.approx(1.0)


def test_classes_accuracy_and_qwk_match_sklearn(pair):
    t, p = pair
    bounds = (3.0, 4.0)
    ct = np.where(t < 3, 0, np.where(t < 4, 1, 2))  # independent binning
    cp = np.where(p < 3, 0, np.where(p < 4, 1, 2))
    assert M.accuracy_3class(t, p, bounds) == pytest.approx(skm.accuracy_score(ct, cp))
    assert M.qwk(t, p, bounds) == pytest.approx(
        skm.cohen_kappa_score(ct, cp, weights="quadratic", labels=[0, 1, 2])
    )
    np.testing.assert_array_equal(
        M.confusion(t, p, bounds), skm.confusion_matrix(ct, cp, labels=[0, 1, 2])
    )
    # boundary values: 3.0 is class 1, 4.0 and 5.0 class 2
    np.testing.assert_array_equal(
        M.to_classes([1.0, 2.99, 3.0, 3.99, 4.0, 5.0], bounds), [0, 0, 1, 1, 2, 2]
    )


def test_missing_labels_are_dropped(pair):
    t, p = pair
    t2 = t.copy()
    t2[:10] = -1.0
    p2 = p.copy()
    p2[10] = np.nan
    keep = np.ones(t.size, bool)
    keep[:11] = False
    assert M.pearson(t2, p2) == pytest.approx(stats.pearsonr(t[keep], p[keep])[0])
    assert M.mae(t2, p2) == pytest.approx(skm.mean_absolute_error(t[keep], p[keep]))


def test_constant_predictions_defined_without_warnings(pair):
    t, _ = pair
    p = np.full_like(t, 3.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("pearson", "spearman", "kendall_tau", "plcc_logistic"):
            assert math.isnan(getattr(M, name)(t, p)), name
        assert M.ccc(t, p) == 0.0  # closed form: cov = 0
        assert M.ccc(t, np.full_like(t, t.mean() + 0.1)) == 0.0
        assert M.mae(t, p) == pytest.approx(skm.mean_absolute_error(t, p))
        assert M.r2(t, p) == pytest.approx(skm.r2_score(t, p))
        # constant targets (lip_sync on EmotionTalk): R2 and correlations undefined
        assert math.isnan(M.r2(p, t)) and math.isnan(M.pearson(p, t))


def test_fewer_than_three_labels_and_all_missing():
    t = np.array([2.0, 4.0, -1.0, -1.0])
    p = np.array([2.5, 3.0, 1.0, 5.0])
    assert math.isnan(M.pearson(t, p)) and math.isnan(M.spearman(t, p))
    assert math.isnan(M.kendall_tau(t, p)) and math.isnan(M.ccc(t, p))
    assert M.mae(t, p) == pytest.approx(0.75)
    assert M.mse(t, p) == pytest.approx((0.25 + 1.0) / 2)
    allm = np.full(4, -1.0)
    for name in M.METRICS:
        assert math.isnan(M.metric_functions()[name](allm, p)), name


def test_plcc_logistic_recovers_known_logistic():
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, 200)
    y = M.logistic4(x, 4.8, 1.2, 0.3, 0.6) + rng.normal(0, 0.02, x.size)
    assert M.plcc_logistic(y, x) > 0.99
    assert M.plcc_logistic(y, x) > M.pearson(y, x) + 0.02  # the mapping matters on a sigmoid
    # an inverse predictor keeps its negative sign (no decreasing mapping)
    assert M.plcc_logistic(y, -x) == pytest.approx(stats.pearsonr(y, -x)[0])
    # tiny n falls back to linear PLCC
    assert M.plcc_logistic(y[:4], x[:4]) == pytest.approx(stats.pearsonr(y[:4], x[:4])[0])


def test_bootstrap_ci_contains_point_and_narrows():
    rng = np.random.default_rng(2)

    def sample(n):
        t = rng.uniform(1, 5, n)
        return t, t + rng.normal(0, 0.8, n)

    widths = []
    for n in (30, 600):
        t, p = sample(n)
        point, lo, hi = M.bootstrap_ci(M.pearson, t, p, n=300, ci=0.95, seed=0)
        assert lo <= point <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_evaluate_tasks_table(pair):
    t, p = pair
    n = t.size
    y = np.tile(t[:, None], (1, 5))
    q = np.tile(p[:, None], (1, 5))
    y[: n // 2, 1] = -1.0
    q[:, 4] = np.nan  # a baseline that does not predict "overall"
    df = M.evaluate_tasks(
        y, q, {"class_bounds": [3.0, 4.0], "ci_metrics": ["pearson"]}, bootstrap=50
    )
    assert list(df.index) == list(TASKS)
    assert df.loc["lip_sync", "n"] == n and df.loc["expression", "n"] == n - n // 2
    assert df.loc["overall", "n"] == 0 and math.isnan(df.loc["overall", "pearson"])
    assert df.loc["lip_sync", "pearson"] == pytest.approx(stats.pearsonr(t, p)[0])
    assert (
        df.loc["lip_sync", "pearson_lo"]
        <= df.loc["lip_sync", "pearson"]
        <= df.loc["lip_sync", "pearson_hi"]
    )
    mc = M.MetricCollection({"class_bounds": [3.0, 4.0]})
    mc.update(y[:20], q[:20])
    mc.update(y[20:], q[20:])
    np.testing.assert_allclose(mc.compute()["mae"].to_numpy(), df["mae"].to_numpy())


def _logistic(x, b1, b2, b3, b4):
    """VQEG 4-parameter logistic, written here independently of tqa.study.metrics."""
    return (b1 - b2) / (1 + np.exp(np.clip(-(x - b3) / abs(b4), -500, 500))) + b2


def _sse_of_start(t, p, x, p0, back):
    import warnings

    from scipy import optimize

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z, _ = optimize.curve_fit(_logistic, x, t, p0=p0, maxfev=20000)
    except RuntimeError:
        return np.inf
    return float(np.sum((t - _logistic(p, *back(z))) ** 2))


def test_logistic_fit_keeps_the_better_of_two_starts():
    """Noisy data where the two usual starts reach different optima (seeds 16, 36, 37 among
    these): the kept fit is never worse than either start fitted on its own with scipy."""
    differ = 0
    for s in range(40):
        r = np.random.default_rng(s)
        n = int(r.integers(8, 40))
        p = r.normal(3, 0.5, n)
        t = np.clip(p + r.normal(0, 0.7, n), 1, 5)
        mu, sd = p.mean(), p.std()
        raw = _sse_of_start(t, p, p, [t.max(), t.min(), mu, sd], lambda z: z)
        std = _sse_of_start(
            t, p, (p - mu) / sd, [t.max(), t.min(), 0.0, 0.5],
            lambda z, mu=mu, sd=sd: [z[0], z[1], mu + sd * z[2], sd * z[3]],
        )  # fmt: skip
        popt, ok = M.fit_logistic4(t, p)
        got = float(np.sum((t - _logistic(p, *popt)) ** 2))
        assert ok and got <= min(raw, std) * (1 + 1e-6) + 1e-9, s
        differ += abs(raw - std) > 1e-3 * raw
    assert differ >= 2  # the starts do disagree on some of these: the test can fail


def test_rmse_logistic_is_zero_on_an_exact_logistic_and_presets():
    x = np.linspace(-3, 3, 40)
    y = _logistic(x, 4.6, 1.3, 0.4, 0.7)
    assert M.rmse_logistic(y, x) == pytest.approx(0.0, abs=1e-4)
    assert M.rmse(y, x) > 1.0  # the raw predictions are on another scale
    # a linear relation: the logistic cannot do worse than ... the best line would, up to the fit
    line = 2.0 + 0.5 * x + np.random.default_rng(0).normal(0, 0.1, x.size)
    slope, icpt = np.polyfit(x, line, 1)
    lin_rmse = np.sqrt(np.mean((line - (slope * x + icpt)) ** 2))
    assert M.rmse_logistic(line, x) <= lin_rmse * 1.05
    assert (
        M.rmse_logistic(line[:4], x[:4])
        == pytest.approx(  # n < 5: the linear fallback
            np.sqrt(np.mean((line[:4] - np.polyval(np.polyfit(x[:4], line[:4], 1), x[:4])) ** 2))
        )
    )
    assert np.isnan(M.rmse_logistic(y, np.full_like(y, 3.0)))
    assert M.metric_names("vqa") == ["spearman", "plcc_logistic", "kendall_tau", "rmse_logistic"]
    assert "rmse_logistic" in M.LOWER_IS_BETTER
    with pytest.raises(ValueError, match="unknown metric"):
        M.metric_names("pearson,nope")
