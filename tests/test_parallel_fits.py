"""Study fits in worker processes (tqa.study.parallel_fits): same runs, same numbers.

Oracle: the same k-fold study fitted in the test process (``train.parallel_fits: 1``). The
model's fits are seeded and single-threaded, so the out-of-fold predictions must be
bit-identical, and the second study must find every run in the cache and fit nothing.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from tqa.core.params import load_params, merged
from tqa.core.schema import TASKS, FeatureSet
from tqa.study import crossval as CV
from tqa.study.parallel_fits import FitJob, prefit, worker_count
from tqa.study.studies import ResultsStore

N, T = 24, 6


def _inputs():
    rng = np.random.default_rng(3)
    streams = {
        "visual": rng.normal(size=(N, T, 4)).astype(np.float32),
        "audio": rng.normal(size=(N, T, 3)).astype(np.float32),
    }
    fs = FeatureSet(
        [f"v{i:02d}" for i in range(N)], streams, rng.normal(size=(N, 3)).astype(np.float32)
    )
    labels = np.clip(3 + streams["visual"][:, :, :1].mean(axis=1).repeat(5, axis=1), 1, 5)
    meta = pd.DataFrame({"video_id": fs.video_ids, "group": [str(i // 2) for i in range(N)]})
    return fs, labels.astype(float), meta


def _params(workers: int) -> dict:
    return merged(
        load_params(),
        {
            "preprocess": {"pca": False},
            "model": {"d_model": 8, "n_layers": 1, "n_heads": 2, "dim_feedforward": 16},
            "train": {"epochs": 2, "seeds": [0], "num_threads": 1, "amp": False,
                      "parallel_fits": workers},
            "cv": {"folds": 3, "val_fraction": 0.2},
            # small forests: the threaded path, not the forest size, is under test
            "eval": {"baselines": {"rf_n_estimators": 20, "et_n_estimators": 20,
                                   "gb_max_iter": 20}},
        },
    )  # fmt: skip


def test_worker_count_reads_the_runtime_knob():
    assert worker_count({}) == 1 and worker_count({"train": {"parallel_fits": None}}) == 1
    assert worker_count({"train": {"parallel_fits": 3}}) == 3
    assert worker_count({"train": {"parallel_fits": 0}}) == (os.cpu_count() or 1)


def _oof(tmp_path, workers: int, monkeypatch):
    fs, labels, meta = _inputs()
    p = _params(workers)
    monkeypatch.setattr(CV, "worker_count", worker_count)  # conftest keeps tests serial
    fitted: list[int] = []
    monkeypatch.setattr(CV, "prefit", lambda *a, **k: fitted.append(prefit(*a, **k)))
    store = ResultsStore(tmp_path / f"w{workers}", "kfold")
    oof = CV.run_cv(fs, labels, meta, p, ["tqa:fixed", "tqa:uncertainty"], [0], store,
                    progress=False)  # fmt: skip
    assert fitted == ([] if workers == 1 else [6])  # 2 methods x 3 folds, in the workers
    return oof, store, (fs, labels, meta, p)


def test_parallel_study_matches_the_serial_one_bit_for_bit(tmp_path, monkeypatch):
    serial, _, _ = _oof(tmp_path, 1, monkeypatch)
    parallel, store, (fs, labels, meta, p) = _oof(tmp_path, 2, monkeypatch)
    assert len(serial) == N * 2 * len(TASKS)
    assert np.isfinite(serial["pred"]).all()
    pd.testing.assert_frame_equal(serial, parallel, check_exact=True)
    # every run is in the cache now: a second prefit has nothing left to fit
    again = CV.fold_predictions(fs, labels, meta, p, ["tqa:fixed"], [0], store, progress=False)
    assert len(list(again)) == 3
    job = FitJob("cv", "x", {}, "fixed", 0, np.array(["train"] * N), p, "no-such-key")
    assert len(list((store.run_dir).glob("*.json"))) == 6  # 2 methods x 3 folds
    assert prefit([], fs, labels, store, 2, progress=False) == 0
    assert prefit([job], fs, labels, store, 2, progress=False) == 0  # one job: caller fits it


BASELINES = ["mean", "ridge", "random_forest", "extra_trees", "gradient_boosting"]


def test_baselines_fitted_ahead_in_threads_match_the_serial_loop(tmp_path, monkeypatch):
    """The k-fold's baseline runs fitted ahead in two threads (``prefit_baseline_runs``)
    give the serial loop's predictions bit for bit, and the loop then fits nothing."""
    fs, labels, meta = _inputs()
    monkeypatch.setattr(CV, "worker_count", worker_count)  # conftest keeps tests serial
    ahead: list[int] = []
    real = CV.prefit_baseline_runs

    def counted(jobs, *a, **k):
        ahead.append(len(jobs))
        return real(jobs, *a, **k)

    monkeypatch.setattr(CV, "prefit_baseline_runs", counted)
    out = {}
    for workers in (1, 2):
        store = ResultsStore(tmp_path / f"b{workers}", "kfold")
        out[workers] = CV.run_cv(fs, labels, meta, _params(workers), BASELINES, [0, 1], store,
                                 progress=False)  # fmt: skip
    assert ahead == [6]  # 2 seeds x 3 folds, only with two workers
    assert np.isfinite(out[1]["pred"]).all() and len(out[1]) == N * 2 * len(BASELINES) * 5
    pd.testing.assert_frame_equal(out[1], out[2], check_exact=True)


def test_bundle_pooled_fits_in_threads_match_serial_fits():
    """The bundle's pooled components fitted on several splits in two threads predict what
    the same fits made one after the other predict, bit for bit."""
    from tqa.serve.stack_bundle import _fit_pooled
    from tqa.study.baselines import predict_pooled_models

    fs, labels, _ = _inputs()
    p = _params(1)
    rng = np.random.default_rng(0)
    splits = [np.where(rng.random(N) < 0.7, "train", "test") for _ in range(3)]
    names = ["ridge", "random_forest", "gradient_boosting"]
    serial = _fit_pooled(names, fs, labels, splits, p, seed=4, workers=1)
    threaded = _fit_pooled(names, fs, labels, splits, p, seed=4, workers=2)
    for i in range(len(splits)):
        for n in names:
            a = predict_pooled_models(serial[i][n], fs, p, n)
            b = predict_pooled_models(threaded[i][n], fs, p, n)
            assert np.isfinite(a).all() and np.array_equal(a, b), (i, n)
    # a different split gives different fits: the lookup cannot hand back the wrong one
    first, second = (predict_pooled_models(serial[i]["ridge"], fs, p, "ridge") for i in (0, 1))
    assert not np.array_equal(first, second)
