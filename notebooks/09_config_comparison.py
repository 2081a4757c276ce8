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
# d_model / layers / heads / PCA variance target from `eval.config_grid` (product, invalid
# d_model/n_heads pairs dropped, subsampled to `eval.config_grid_max_runs`), weighting
# `eval.main_strategy`, seeds `eval.config_seeds`. Resumable (`eval.results_dir/config.csv`).
# Last: `reports/README.md` is rebuilt, indexing every figure and table.
#
# Every number is measured on `data.root` of `params.yaml` with the extractors named in
# the provenance line printed below. The default root is the **embedded synthetic sample
# corpus** (simulated videos and ratings) — *not* EmotionTalk — and its test split is small
# (about 18 videos), so differences between variants are within seed noise unless the
# mean ± std bars separate clearly.

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
# Bad parameters fail here, before any work (tqa.study.notebook.check_notebook_globals).
from tqa.study.notebook import check_notebook_globals as _check

_check(globals(), _declared, paths=["params_path"], where="09_config_comparison")

import logging

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from tqa.core.params import load_params
from tqa.study import evaluation, protocol, selection, studies
from tqa.study.inputs import load_inputs
from tqa.study.notebook import output_dir
from tqa.study.reporting import provenance, save_figure, save_table

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
params = load_params(params_path, overrides)
ev = params["eval"]
REPORTS = output_dir(reports_dir, "reports")
studies.use_results(params, results_dir, reuse_results)
PROV = provenance(params)
KFOLD = protocol.protocol(params) == "kfold"
inputs = protocol.kfold_inputs(params) if KFOLD else load_inputs(params, progress=False)
fs, labels, split = inputs.features, inputs.labels, inputs.split
SEEDS = protocol.kfold_section(params)["seeds"] if KFOLD else ev["config_seeds"]
WHERE = (
    f"out-of-fold ({params['cv']['folds']}-fold by {params['cv']['group_column']})"
    if KFOLD
    else "test"
)
print(PROV, "| protocol:", protocol.protocol(params))
print(len(fs.video_ids), "videos;", pd.Series(split).value_counts().to_dict())
display(studies.label_summary(labels, split).pivot(index="task", columns="split", values="n"))
FLAT = evaluation.near_constant_tasks(labels[split == "test"], params["data"]["near_zero_std"])
print("near-constant test labels (shown apart):", FLAT or "none")

# %%
if KFOLD:  # eval.selection.grid vs the chapter's configuration, and the nested selection
    oof, comparison, choices = protocol.model_selection(fs, labels, inputs.meta, params)
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
save_table(
    rows.drop(columns=["run_key", "fit_seconds"], errors="ignore"),
    "config_runs",
    f"Configuration grid: test metrics per run (config x seed x task). {PROV}",
    REPORTS,
)
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
    "Configuration grid: test metrics averaged over tasks"
    + (" except near-constant " + ", ".join(FLAT) if FLAT else "")
    + f" (and seeds {SEEDS}){', and mean epochs' if 'epochs' in table else ''}; {WHERE}. {PROV}",
    REPORTS,
)
for metric in ev["table_metrics"]:
    save_table(
        studies.mean_std_table(summary, metric),
        f"config_comparison_{metric}",
        f"Configuration grid: test {metric} per task. {PROV}",
        REPORTS,
    )
table

# %%
fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.2))
ax.barh(table["config"], table["pearson_mean_over_tasks"], color="tab:green")
ax.invert_yaxis()
ax.set_xlabel(
    "test Pearson, mean over tasks"
    + (f" (without near-constant {', '.join(FLAT)})" if FLAT else "")
)
fig.tight_layout()
save_figure(
    fig,
    "config_comparison_pearson",
    f"Configuration grid: test Pearson averaged over tasks per configuration"
    f"{' (near-constant ' + ', '.join(FLAT) + ' left out)' if FLAT else ''}; "
    f"{ev['config_seeds']} seed(s). {PROV}",
    REPORTS,
)

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
