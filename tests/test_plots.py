"""tqa.study.plots.learning_curves draws exactly the history it is given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tqa.core.schema import TASKS
from tqa.study.plots import learning_curves


def _history(n: int, seed: int, weights: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = pd.DataFrame(
        {
            "epoch": np.arange(1, n + 1),
            "train_loss": rng.random(n),
            "val_loss": rng.random(n),
        }
    )
    if weights:
        for t in TASKS:
            h[f"weight_{t}"] = rng.random(n)
    return h


def test_learning_curves_plot_every_run_best_epoch_and_weights():
    hs = {"seed 0": _history(6, 0), "seed 1": _history(4, 1)}
    fig = learning_curves(hs, {"seed 0": 3, "seed 1": 2}, title="gradnorm")
    loss_ax, weight_ax = fig.axes
    curves = {ln.get_label(): ln for ln in loss_ax.lines if not ln.get_label().startswith("_")}
    for name, h in hs.items():
        np.testing.assert_array_equal(curves[f"train {name}"].get_ydata(), h["train_loss"])
        np.testing.assert_array_equal(curves[f"val {name}"].get_ydata(), h["val_loss"])
        np.testing.assert_array_equal(curves[f"val {name}"].get_xdata(), h["epoch"])
        assert curves[f"val {name}"].get_linestyle() == "--"
    vlines = sorted(ln.get_xdata()[0] for ln in loss_ax.lines if ln.get_label().startswith("_"))
    assert vlines == [2, 3]
    assert loss_ax.get_title() == "gradnorm: learning curves"
    first = hs["seed 0"]  # the weights panel shows the first run
    drawn = {ln.get_label(): ln.get_ydata() for ln in weight_ax.lines}
    assert set(drawn) == set(TASKS)
    for t in TASKS:
        np.testing.assert_array_equal(drawn[t], first[f"weight_{t}"])
    assert weight_ax.get_title() == "gradnorm: task weights, seed 0"


def test_learning_curves_without_weights_is_one_panel():
    fig = learning_curves({"run": _history(5, 2, weights=False)})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
