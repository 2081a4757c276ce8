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
# # 07 — Ablations (chapter 3.4.2)
#
# The full model (weighting `eval.main_strategy`) against each variant of `eval.ablations`:
# one modality dropped, Path A only, Path B only, no PCA, no scaler — same split, same seeds
# (`eval.ablation_seeds`). Runs are resumable (`eval.results_dir/ablation.csv`).
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

_check(globals(), _declared, paths=["params_path"], where="07_ablations")

import logging

import pandas as pd
from IPython.display import display

from tqa.core.params import load_params
from tqa.study import evaluation, plots, protocol, studies
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
SEEDS = protocol.kfold_section(params)["seeds"] if KFOLD else ev["ablation_seeds"]
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
if (
    KFOLD
):  # the full model vs each of eval.kfold.ablations, same folds; verdicts in ablation_comparison.md
    oof, comparison = protocol.ablations(fs, labels, inputs.meta, params)
    ref = protocol.main_method(params)
    rows = protocol.oof_rows(
        oof,
        labels,
        fs.video_ids,
        params,
        "ablation",
        {m: ("full" if m == ref else m.split("/", 1)[1]) for m in oof["method"].unique()},
    )
    protocol.write_comparison(
        comparison,
        "ablation",
        "Ablations vs the full model (a 'worse' verdict: the "
        "removed part helped; 'better': the model does better without it)",
        ref,
        REPORTS / "tables",
    )
else:
    rows = studies.ablations(fs, labels, split, params)
summary = studies.summarize(rows, ev["table_metrics"])
save_table(
    rows.drop(columns=["run_key", "fit_seconds"], errors="ignore"),
    "ablation_runs",
    f"Ablations: test metrics per run (config x seed x task). {PROV}",
    REPORTS,
)
for metric in ev["table_metrics"]:
    t = studies.mean_std_table(summary, metric)
    save_table(
        t,
        f"ablation_{metric}",
        f"Ablations: {WHERE} {metric} per task, mean ± std over seeds {SEEDS} (std empty for one "
        f"seed). {PROV}",
        REPORTS,
    )
studies.mean_std_table(summary, "pearson")

# %%
delta = studies.delta_vs_reference(summary, "pearson", "full")
save_table(
    delta,
    "ablation_delta_pearson",
    f"Ablations: change of mean test Pearson vs the full model (negative = the variant is "
    f"worse). {PROV}",
    REPORTS,
)
delta

# %%
fig = plots.bar_with_error(summary, "pearson", apart=FLAT)
fig.axes[0].set_title("Ablations: test Pearson per task")
save_figure(
    fig,
    "ablation_pearson",
    "Ablations: test Pearson per task, full model vs each variant, "
    + ("mean ± std over seeds" if len(ev["ablation_seeds"]) > 1 else "one seed (no error bars)")
    + f"; near-constant tasks hatched, right. {PROV}",
    REPORTS,
)

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
