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
# # 09 — Configuration comparison (chapter 3.4.5)
#
# How sensitive the model is to its size and PCA target: under k-fold, the configurations of
# `eval.selection.grid` against the chapter's configuration, and the nested selection that
# picks one per outer fold on inner validation; under holdout, the grid `eval.config_grid`
# (d_model / layers / heads / PCA variance target; invalid d_model/n_heads pairs dropped,
# subsampled to `eval.config_grid_max_runs`). Weighting `eval.main_strategy`; runs are
# resumable (a run cache under `eval.results_dir`).
#
# Every number is measured on `data.root` of `params.yaml` with the extractors named in the
# provenance line below. The default root is the **embedded synthetic sample corpus**
# (simulated videos and ratings) — *not* EmotionTalk. The protocol, the videos and groups, the
# configurations and where the outputs went are stated below, rendered from this run's
# parameters and data; on a small corpus, differences between configurations are noise
# unless their intervals separate.

# %% tags=["parameters"]
params_path = None  # None: the repository's params.yaml, from any working directory
overrides = {}
reports_dir = None  # None: scratch/reports (a manual run); the DVC stage passes reports
results_dir = (
    None  # None: eval.results_dir (git-ignored); a DVC stage passes its reports/studies/<stage>
)
reuse_results = None  # finished runs to reuse read-only (None: every folder of eval.results_dir)
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
from tqa.study.context import notebook_context

ctx = notebook_context(
    globals(),
    _declared,
    where="09_config_comparison",
    data="study",
    holdout_seeds="eval.config_seeds",
)

import matplotlib.pyplot as plt
from IPython.display import display

from tqa.study import protocol, selection, studies
from tqa.study.reporting import save_figure, save_table

params, ev, REPORTS, PROV = ctx.params, ctx.params["eval"], ctx.reports, ctx.prov
fs, labels, split, KFOLD = ctx.features, ctx.labels, ctx.split, ctx.kfold
SEEDS, WHERE, FLAT = ctx.seeds, ctx.where, ctx.flat
ctx.show(
    methods=selection.grid_methods(params) + [selection.SELECTED] if KFOLD else [],
    outputs=[REPORTS],
    notes=[] if KFOLD else ["Configurations: the grid of `eval.config_grid`, named in the tables."],
)

# %%
if KFOLD:  # eval.selection.grid vs the chapter's configuration, and the nested selection
    oof, comparison, choices = protocol.model_selection(fs, labels, ctx.meta, params)
    ref = protocol.main_method(params)
    cname = {
        m: (
            "chapter" if m == ref else "selected" if m == selection.SELECTED else m.split("/", 1)[1]
        )
        for m in oof["method"].unique()
    }
    rows = protocol.oof_rows(oof, labels, fs.video_ids, params, "config", cname)
    protocol.write_comparison(
        comparison,
        "config",
        "Configurations and nested selection vs the chapter's configuration",
        ref,
        REPORTS / "tables",
        REPORTS / "data",
    )
    save_table(
        choices.assign(config=choices["method"].map(cname)),
        "selection_choices",
        f"Nested selection: inner-validation criterion (val MSE / train-label variance, mean over "
        f"informative tasks) of each configuration per outer (seed, fold); chosen = lowest. {PROV}",
        REPORTS,
    )
    display(selection.choice_summary(choices).assign(config=lambda d: d["method"].map(cname)))
else:
    rows = studies.config_grid(fs, labels, split, params)
summary = studies.summarize(rows, ev["table_metrics"])
ctx.save_study_tables(rows, summary, "Configuration grid", ("config_runs", "config_comparison_"))
# averages over tasks leave out near-constant tasks (their correlations are noise); fit times are
# benchmarks (reports/benchmarks.md), not results
kept = summary[~summary["task"].isin(FLAT)]
wide = kept.pivot_table(index="config", columns="metric", values="mean", aggfunc="mean", sort=False)
wide.columns = [f"{c}_mean_over_tasks" for c in wide.columns]
if "epochs" in rows:
    table = wide.join(rows.groupby("config", sort=False)[["epochs"]].mean()).reset_index()
else:  # kfold: pooled out-of-fold metrics (the verdicts are in config_comparison.md)
    table = wide.reset_index()
save_table(
    table,
    "config_summary" if KFOLD else "config_comparison",
    f"Configuration grid: {WHERE} metrics averaged over tasks"
    + (" except near-constant " + ", ".join(FLAT) if FLAT else "")
    + f" (and seeds {SEEDS}){', and mean epochs' if 'epochs' in table else ''}. {PROV}",
    REPORTS,
)
table

# %%
fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.2))
ax.barh(table["config"], table["pearson_mean_over_tasks"], color="tab:green")
ax.invert_yaxis()
ax.set_xlabel(
    f"{WHERE} Pearson, mean over tasks"
    + (f" (without near-constant {', '.join(FLAT)})" if FLAT else "")
)
fig.tight_layout()
save_figure(
    fig,
    "config_comparison_pearson",
    f"Configuration grid: {WHERE} Pearson averaged over tasks per configuration"
    f"{' (near-constant ' + ', '.join(FLAT) + ' left out)' if FLAT else ''}; "
    f"seeds {SEEDS}. {PROV}",
    REPORTS,
)

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
