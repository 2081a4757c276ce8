"""benchmarks/label_limits.py: its out-of-fold trees never read the fold they predict."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "label_limits.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_label_limits", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_oof_trees_predict_each_fold_from_the_others_only():
    mod = _module()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = 2.0 * x[:, 0] + 0.1 * rng.normal(size=60)
    folds = np.repeat(np.arange(3), 20)
    pred = mod.oof_trees(x, y, folds)
    assert np.corrcoef(pred, y)[0, 1] > 0.8  # the planted column is learned
    moved = y.copy()
    moved[folds == 1] += 100.0  # fold 1's own labels cannot move fold 1's predictions
    again = mod.oof_trees(x, moved, folds)
    np.testing.assert_allclose(again[folds == 1], pred[folds == 1], rtol=1e-12, atol=1e-12)
    assert not np.allclose(again[folds == 0], pred[folds == 0])
