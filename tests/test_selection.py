"""Nested model selection (tqa.study.selection) on planted problems.

Oracles: a planted fit whose quality per configuration is known (one config good on the
inner validation rows, another "perfect" only on the test rows it must never be chosen by),
group-set algebra on the splits each fit receives, and a hand-computed criterion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from study_fakes import FitResult, noise_inputs, overall_labels

from tqa.core.params import load_params, merged
from tqa.study.comparison import compare
from tqa.study.selection import (
    SELECTED,
    choice_summary,
    grid_methods,
    run_selection,
    validation_criterion,
)
from tqa.study.studies import ResultsStore


def _inputs(n_groups: int = 15):
    ids = [f"g{g}_v{j}" for g in range(n_groups) for j in range(3)]
    groups = [i.split("_")[0] for i in ids]
    fs, truth = noise_inputs(ids, 5, 2)
    meta = pd.DataFrame({"video_id": ids, "group": groups})
    return fs, overall_labels(truth), meta, truth, np.asarray(groups)


class _PlantedFit:
    """d_model=32: accurate on train/val rows, poor on test rows; dropout=0.3: perfect on the
    test rows only (what a selection peeking at the test fold would choose); chapter config:
    middling everywhere. Asserts every split it gets keeps whole groups apart."""

    def __init__(self, truth: np.ndarray, groups: np.ndarray) -> None:
        self.truth, self.groups, self.calls = truth, groups, 0

    def __call__(self, fs, labels, split, params, *, strategy, seed, out_dir, progress):
        self.calls += 1
        split = np.asarray(split)
        test = split == "test"
        seen = set(self.groups[~test])
        assert test.any() and (split == "val").any()
        assert not seen & set(self.groups[test]), "a test-fold group was in train/val"
        assert not set(self.groups[split == "val"]) & set(self.groups[split == "train"])
        rng = np.random.default_rng(seed + 100 * self.calls)
        noise = np.full(len(split), 0.5)
        if params["model"]["d_model"] == 32:
            noise = np.where(test, 1.0, 0.05)
        elif params["model"]["dropout"] == 0.3:
            noise = np.where(test, 0.0, 1.5)
        pred = np.repeat((self.truth + rng.normal(0, 1, len(split)) * noise)[:, None], 5, axis=1)
        return FitResult(pred, {"epoch": [0]})


def _params():
    return merged(
        load_params(),
        {"eval": {"selection": {"grid": [{}, {"d_model": 32}, {"dropout": 0.3}]}}},
    )


def test_selection_picks_the_config_best_on_inner_validation_never_the_test_fold(tmp_path):
    fs, labels, meta, truth, groups = _inputs()
    params = _params()
    methods = grid_methods(params)
    main = params["eval"]["main_strategy"]
    assert methods == [f"tqa:{main}", f"tqa:{main}/d_model=32", f"tqa:{main}/dropout=0.3"]
    spy = _PlantedFit(truth, groups)
    store = ResultsStore(tmp_path, "sel")
    oof, choices = run_selection(
        fs, labels, meta, params, store, [0, 1], k=3, val_fraction=0.2, fit_fn=spy,
        progress=False,
    )  # fmt: skip
    assert spy.calls == 3 * 3 * 2  # configs x folds x seeds
    chosen = choices[choices["chosen"]]
    assert len(chosen) == 6 and set(chosen["method"]) == {f"tqa:{main}/d_model=32"}
    sel = oof[oof["method"] == SELECTED].reset_index(drop=True)
    good = oof[oof["method"] == f"tqa:{main}/d_model=32"].reset_index(drop=True)
    pd.testing.assert_frame_equal(sel.drop(columns="method"), good.drop(columns="method"))
    # the peeking config really is the best on the test folds: choosing it would be a leak
    rmse = compare(oof, reference=SELECTED, metric="rmse").set_index("method")
    assert rmse.loc[f"tqa:{main}/dropout=0.3", "mean"] < rmse.loc[SELECTED, "mean"]
    summary = choice_summary(choices).set_index("method")
    assert summary.loc[f"tqa:{main}/d_model=32", "chosen"] == 6
    assert summary["of"].tolist() == [6, 6, 6]
    again, _ = run_selection(
        fs, labels, meta, params, store, [0, 1], k=3, val_fraction=0.2, fit_fn=spy,
        progress=False,
    )  # fmt: skip
    assert spy.calls == 18  # resumed from the store
    pd.testing.assert_frame_equal(oof, again, check_exact=False, rtol=1e-12)


def test_validation_criterion_reads_only_val_and_train_rows():
    rng = np.random.default_rng(3)
    n = 30
    labels = np.full((n, 5), -1.0)
    labels[:, 1] = rng.uniform(1, 5, n)
    labels[:, 0] = 4.76  # near-constant: left out
    pred = labels + rng.normal(0, 0.3, (n, 5))
    split = np.array(["train"] * 20 + ["val"] * 5 + ["test"] * 5)
    want = np.mean((pred[20:25, 1] - labels[20:25, 1]) ** 2) / labels[:20, 1].std(ddof=1) ** 2
    assert validation_criterion(labels, pred, split) == pytest.approx(want)
    lab2, pred2 = labels.copy(), pred.copy()
    lab2[25:], pred2[25:] = 1.0, 5.0  # test rows changed: criterion unchanged
    assert validation_criterion(lab2, pred2, split) == pytest.approx(want)
    assert np.isnan(validation_criterion(labels, pred, np.array(["train"] * 25 + ["test"] * 5)))


def test_grid_is_small_and_unique():
    p = merged(
        load_params(), {"eval": {"selection": {"grid": [{}] + [{"lr": i} for i in range(6)]}}}
    )
    with pytest.raises(ValueError, match="at most 6"):
        grid_methods(p)
    p = merged(load_params(), {"eval": {"selection": {"grid": [{"pca": False}, {"pca": False}]}}})
    with pytest.raises(ValueError, match="duplicate"):
        grid_methods(p)
    assert grid_methods(load_params())[0] == f"tqa:{load_params()['eval']['main_strategy']}"
