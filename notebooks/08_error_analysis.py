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
# # 08 — Prediction-error analysis (chapter 3.4.3)
#
# Residuals of the main model (`eval.main_strategy`): distributions per task, predicted vs
# true, 3-class confusion matrices, the worst videos with their degradation parameters,
# whether |error| tracks a degradation, error by generator profile and identity, and — on the
# sample corpus — how each predicted score follows the injected degradation levels
# (`degradations.csv`).
#
# Every number is measured on `data.root` of `params.yaml` with the extractors named in the
# provenance line below. The default root is the **embedded synthetic sample corpus**
# (simulated videos and ratings) — *not* EmotionTalk. Which predictions are analysed (out of
# fold, or the rows of `eval.analysis_splits`), the videos and groups, and where the outputs
# went are stated below, rendered from this run's parameters and data.

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

ctx = notebook_context(globals(), _declared, where="08_error_analysis", data="study")

import numpy as np
import pandas as pd
from IPython.display import display

from tqa.study import evaluation, plots, protocol, studies
from tqa.study.reporting import save_figure, save_table

params, ev, REPORTS, PROV = ctx.params, ctx.params["eval"], ctx.reports, ctx.prov
fs, labels, split, KFOLD = ctx.features, ctx.labels, ctx.split, ctx.kfold
ANALYSED = (
    f"all videos, {ctx.where}, mean prediction over seeds {ctx.seeds}"
    if KFOLD
    else f"the {'+'.join(ev['analysis_splits'])} rows, seed {params['train']['seeds'][0]}"
)
ctx.show(
    methods=[protocol.main_method(params)],
    outputs=[REPORTS],
    notes=[f"Predictions analysed: {ANALYSED}."],
)

# %%
if (
    KFOLD
):  # out-of-fold predictions of the chapter's configuration (06's run cache), mean over seeds
    oof = protocol.main_oof(fs, labels, ctx.meta, params)
    pred = protocol.oof_mean_predictions(oof, protocol.main_method(params), fs.video_ids)
    rows = np.ones(len(split), dtype=bool)
else:
    pred = studies.main_model_predictions(fs, labels, split, params)
    rows = np.isin(split, ev["analysis_splits"])
ids = np.asarray(fs.video_ids, dtype=object)
res = evaluation.residuals(labels[rows], pred[rows], ids[rows])
degr = evaluation.load_degradations(params["data"]["root"])
WHO = f"main model ({studies.main_strategy(params)}), " + (
    "all videos, out-of-fold" if KFOLD else f"{'+'.join(ev['analysis_splits'])} rows"
)
print(
    WHO,
    "- residual pairs:",
    len(res),
    "- degradations.csv:",
    "present" if degr is not None else "absent",
)
rs = evaluation.residual_summary(res)
save_table(
    rs, "residual_summary", f"Residual (pred - true) statistics per task, {WHO}. {PROV}", REPORTS
)
rs

# %%
fig = plots.residual_hist(res)
save_figure(
    fig, "residual_hist", f"Residual (pred - true) histograms per task, {WHO}. {PROV}", REPORTS
)
fig = plots.scatter_pred_true(
    labels[rows], pred[rows], lims=(params["data"]["score_min"], params["data"]["score_max"])
)
save_figure(
    fig,
    "pred_vs_true",
    f"Predicted vs true score per task, {WHO}; dashed: identity. {PROV}",
    REPORTS,
)

# %%
cms = evaluation.confusion_matrices(labels[rows], pred[rows], ev)
names = evaluation.class_labels(ev, params["data"]["score_min"], params["data"]["score_max"])
fig = plots.confusion_grid(cms, names)
save_figure(
    fig,
    "confusion_3class",
    f"3-class confusion matrices (rows true, columns predicted; bins {names}), {WHO}. {PROV}",
    REPORTS,
)
cm_long = pd.concat(
    [
        pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=names)
        .reset_index()
        .assign(task=t)
        for t, cm in cms.items()
    ],
    ignore_index=True,
)
save_table(
    cm_long[["task", "true", *names]],
    "confusion_3class",
    f"3-class confusion counts per task (rows true, columns predicted), {WHO}. {PROV}",
    REPORTS,
)

# %%
worst = evaluation.worst_k(res, ev["worst_k"], degr, ctx.meta)
save_table(
    worst,
    "worst_videos",
    f"The {len(worst)} videos with the largest mean |error| over their rated tasks, with their "
    f"metadata and injected degradation parameters, {WHO}. {PROV}",
    REPORTS,
)
worst

# %%
if degr is not None:
    skip = ev.get("degradation_exclude") or []
    degr_used = evaluation.select_degradations(degr, ev)
    evd = evaluation.error_vs_degradation(res, degr_used, skip)
    save_table(
        evd,
        "error_vs_degradation",
        f"Spearman rho of |error| with each injected degradation parameter "
        f"(eval.degradation_params) "
        f"per task, with p and n (does error track a degradation?), {WHO}. {PROV}",
        REPORTS,
    )
    if not evd.empty:
        fig = plots.degradation_heatmap(evd, "spearman_abs_error", "Spearman(|error|, degradation)")
        save_figure(
            fig,
            "error_vs_degradation",
            f"Spearman rho of |error| with each injected degradation parameter, {WHO}; n per task "
            f"in the row labels, * p<0.05, ** p<0.01 (uncorrected: exploratory). {PROV}",
            REPORTS,
        )
    pvd = evaluation.prediction_vs_degradation(pred[rows], ids[rows], degr_used, exclude=skip)
    save_table(
        pvd,
        "prediction_vs_degradation",
        f"Spearman rho of each predicted score with each injected degradation level, {WHO}. {PROV}",
        REPORTS,
    )
    if not pvd.empty:
        fig = plots.degradation_heatmap(
            pvd, "spearman", "Spearman(predicted score, degradation level)"
        )
        save_figure(
            fig,
            "prediction_vs_degradation",
            f"Spearman rho of each predicted score with each injected degradation level, {WHO}; "
            f"n per "
            f"task in the row labels, * p<0.05, ** p<0.01 (uncorrected). {PROV}",
            REPORTS,
        )
    display(evd.sort_values("p_value").head(10) if not evd.empty else evd)
else:
    print(
        "no degradations.csv beside labels.csv: degradation analyses skipped (expected on real "
        "data)"
    )

# %%
for col in ("generator", "group"):
    meta = ctx.meta
    if col not in meta.columns and degr is not None and col in degr.columns:
        meta = meta.merge(degr[["video_id", col]], on="video_id", how="left")
    if col in meta.columns:
        by = evaluation.error_by_group(res, meta, col)
        save_table(
            by,
            f"error_by_{col}",
            f"MAE and bias (pred - true) per {col} and task, {WHO}. {PROV}",
            REPORTS,
        )
        display(by.pivot(index=col, columns="task", values="mae"))
    else:
        print(f"no '{col}' column: error by {col} skipped")

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
