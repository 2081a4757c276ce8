# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 — Training with one task-weighting strategy (chapter 3.2.4-3.2.5)
#
# Trains the model once per seed of `train.seeds` with the weighting strategy given by the
# papermill parameter `strategy` (one of the registered weightings), on the training part of
# the split, with early stopping on its validation part; writes each fit (checkpoint,
# preprocessing, history, metrics), its training report, and learning-curve and task-weight
# figures — the folders are stated below, rendered from this run. Losses are masked MSE on the
# score scale (missing labels never count); val loss = mean over tasks. Richer metrics are
# computed by the evaluation notebooks.

# %% tags=["parameters"]
params_path = None  # None = the repository params.yaml, from any working directory
overrides = {}
reports_dir = None  # None: scratch/reports (a manual run); the DVC stage passes reports
toy_data = False
strategy = "fixed"
models_dir = None  # None: scratch/models; the DVC stage passes models (train.out_dir)
# None: eval.results_dir (git-ignored); a DVC stage passes its reports/studies/<stage>
results_dir = None
reuse_results = None  # finished runs to reuse read-only (None: every folder of eval.results_dir)
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
from tqa.model.weighting import available as _weightings
from tqa.study.context import notebook_context

ctx = notebook_context(
    globals(), _declared, where="05_training", data="training", choices={"strategy": _weightings()}
)

import matplotlib.pyplot as plt
import pandas as pd

from tqa.core.schema import TASKS
from tqa.study import studies
from tqa.study.notebook import output_dir
from tqa.study.plots import learning_curves
from tqa.study.reporting import save_figure, save_table

params, REPORTS, PROV = ctx.params, ctx.reports, ctx.prov
features, labels, split = ctx.features, ctx.labels, ctx.split
MODELS = output_dir(models_dir, "models")
ctx.show(
    methods=[strategy],
    outputs=[MODELS / strategy, REPORTS, REPORTS / "training" / strategy],
    notes=[f"One fit per seed of `train.seeds`: {params['train']['seeds']}."],
)

# %%
from tqa.study.runs import run_strategy

results = run_strategy(
    features,
    labels,
    split,
    params,
    strategy,
    models_dir=MODELS,
    reports_dir=REPORTS / "training",
    progress=True,
)
rows = []
for r in results:
    h = r.history
    rows.append(
        {
            "seed": r.seed,
            "best_epoch": r.best_epoch,
            "epochs_run": len(h),
            "best_val_loss": float(h["val_loss"].min()),
            **{
                f"val_{t}": float(h.loc[h["epoch"] == r.best_epoch, f"val_loss_{t}"].iloc[0])
                for t in TASKS
            },
        }
    )
table = pd.DataFrame(rows)
save_table(
    table,
    f"training_{strategy}",
    f"Strategy {strategy}: best epoch and validation masked MSE per task, per seed. {PROV}",
    REPORTS,
)
table

# %%
by_seed = {f"seed {r.seed}": r for r in results}
fig = learning_curves(
    {k: r.history for k, r in by_seed.items()},
    {k: r.best_epoch for k, r in by_seed.items()},
    title=strategy,
)
save_figure(
    fig,
    f"learning_curves_{strategy}",
    f"Train (solid) and validation (dashed) masked MSE per epoch and task weights, strategy "
    f"{strategy}, "
    f"seeds {[r.seed for r in results]} (one colour per seed); thin lines = best epochs. {PROV}",
    REPORTS,
)
plt.show()

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
