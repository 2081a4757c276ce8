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
# # 06 — Weighting strategies, baselines and agreement (chapter 3.4.1, 3.4.4)
#
# Each strategy of `weighting.strategies` trained with every seed of `train.seeds` (resumable:
# `eval.results_dir/strategy.csv`), scored on the test split; the baselines a researcher would
# try first (training mean; ridge and random forest on pooled features; the lip-sync measure
# alone for lip_sync) on the same split; agreement of the main model with the ratings (CCC,
# QWK, Bland-Altman); and `reports/metrics.json` (DVC metrics). The model is compared with
# the baselines as measured, whichever wins.
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
metrics_dir = None  # headline metrics, one JSON per task (None: <reports_dir>/metrics)
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
# Bad parameters fail here, before any work (tqa.study.notebook.check_notebook_globals).
from tqa.study.notebook import check_notebook_globals as _check

_check(globals(), _declared, paths=["params_path"], where="06_strategy_comparison")

import logging

import pandas as pd
from IPython.display import display

from tqa.core.params import load_params, resolve
from tqa.study import evaluation, plots, protocol, studies
from tqa.study.inputs import load_inputs
from tqa.study.metrics import evaluate_tasks
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
SEEDS = protocol.kfold_section(params)["seeds"] if KFOLD else params["train"]["seeds"]
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
if KFOLD:  # grouped k-fold: every video out-of-fold; CIs, paired test, verdicts
    oof, comparison = protocol.strategy_comparison(fs, labels, inputs.meta, params)
    rows = protocol.oof_rows(oof, labels, fs.video_ids, params, "strategy")
    protocol.write_comparison(
        comparison,
        "strategy",
        "Weighting strategies vs the main strategy",
        protocol.main_method(params),
        REPORTS / "tables",
    )
else:
    rows = studies.strategy_comparison(fs, labels, split, params)
summary = studies.summarize(rows, sorted(set(ev["table_metrics"]) | set(ev["json_metrics"])))
save_table(
    rows.drop(columns=["run_key", "fit_seconds"], errors="ignore"),
    "strategy_runs",
    f"Weighting strategies: {WHERE} metrics per run (strategy x seed x task). {PROV}",
    REPORTS,
)
for metric in ev["table_metrics"]:
    save_table(
        studies.mean_std_table(summary, metric),
        f"strategy_comparison_{metric}",
        f"Weighting strategies: {WHERE} {metric} per task, mean ± std over seeds {SEEDS}. {PROV}",
        REPORTS,
    )
studies.mean_std_table(summary, "pearson")

# %%
main = studies.main_strategy(params)
if KFOLD:  # the chapter's configuration, the nested-selection model and every baseline, same folds
    sel_oof, _, choices = protocol.model_selection(fs, labels, inputs.meta, params)
    boof, mvb = protocol.model_vs_baselines(fs, labels, inputs.meta, params, selection_oof=sel_oof)
    names = protocol.baseline_names(params, inputs.meta)
    base_rows = protocol.oof_rows(
        boof[boof["method"].isin(names)], labels, fs.video_ids, params, "baselines"
    )
    base_rows = base_rows.groupby(["study", "config", "strategy", "task"], sort=False).mean(
        numeric_only=True
    )
    base_rows = base_rows.reset_index()
    protocol.write_comparison(
        mvb,
        "model_vs_baselines",
        "The chapter's model, the nested-selection model and every baseline",
        protocol.main_method(params),
        REPORTS / "tables",
    )
    from tqa.core.atomic import write_text

    write_text(
        REPORTS / "tables" / "verdicts.md",
        protocol.verdicts_markdown(mvb, protocol.main_method(params), names),
    )
    print((REPORTS / "tables" / "verdicts.md").read_text())
else:
    base_rows, base_preds = studies.baseline_comparison(fs, labels, split, params)
save_table(base_rows, "baseline_runs", f"Baselines: {WHERE} metrics per task. {PROV}", REPORTS)
for metric in ("pearson", "rmse"):
    chapter = ev.get("chapter_reported_pearson") if metric == "pearson" else None
    t = studies.model_vs_baselines(summary, base_rows, metric, main, chapter=chapter)
    save_table(
        t,
        f"model_vs_baselines_{metric}",
        f"Test {metric}: tqa ({main}, mean ± std over seeds) vs baselines on the same split. "
        + (
            "The last column is the chapter's reported EmotionTalk value, NOT reproduced here. "
            if chapter
            else ""
        )
        + PROV,
        REPORTS,
    )
studies.model_vs_baselines(
    summary, base_rows, "pearson", main, chapter=ev.get("chapter_reported_pearson")
)

# %%
ref = {r["task"]: r["pearson"] for _, r in base_rows[base_rows["config"] == "ridge"].iterrows()}
fig = plots.bar_with_error(summary, "pearson", reference=ref, apart=FLAT)
fig.axes[0].set_title("Test Pearson per weighting strategy (black: ridge baseline)")
save_figure(
    fig,
    "strategy_comparison_pearson",
    f"Test Pearson per task for each weighting strategy, mean ± std over seeds (none for one "
    f"seed); "
    f"near-constant tasks hatched, right; black ticks: ridge "
    f"baseline. {PROV}",
    REPORTS,
)
fig = plots.bar_with_error(summary, "rmse", apart=FLAT)
fig.axes[0].set_title("Test RMSE per weighting strategy")
save_figure(
    fig,
    "strategy_comparison_rmse",
    f"Test RMSE per task for each weighting strategy, mean ± std over seeds (none for one seed). "
    f"{PROV}",
    REPORTS,
)

# %% [markdown]
# ## Main model: test metrics with bootstrap CIs, and agreement with the ratings

# %%
if KFOLD:  # out-of-fold predictions of the chapter's configuration, mean over seeds
    pred = protocol.oof_mean_predictions(boof, protocol.main_method(params), fs.video_ids)
else:
    pred = studies.main_model_predictions(fs, labels, split, params)
test = split == "test"
full = evaluate_tasks(labels[test], pred[test], ev, bootstrap=ev["bootstrap"], seed=params["seed"])
save_table(
    full.reset_index(),
    "main_model_test_metrics",
    f"Main model ({main}, seed {params['train']['seeds'][0]}): every test metric per task with "
    f"{ev['ci']:.0%} percentile-bootstrap CIs ({ev['bootstrap']} resamples) for "
    f"{ev['ci_metrics']}. {PROV}",
    REPORTS,
)
agr = evaluation.agreement_table(labels[test], pred[test], ev)
save_table(
    agr,
    "agreement",
    f"Agreement of the main model ({main}) with the ratings on the test split: CCC, "
    f"QWK, Pearson, Bland-Altman bias and 95% limits of agreement (pred - true). {PROV}",
    REPORTS,
)
fig = plots.bland_altman_grid(labels[test], pred[test])
save_figure(
    fig,
    "bland_altman",
    f"Bland-Altman plots of the main model ({main}) vs ratings, test split; red: "
    f"bias and ±1.96 SD. {PROV}",
    REPORTS,
)
agr

# %%
from tqa.core.atomic import rounded, write_json

# Every number of the comparison (all strategies, baselines, metrics): a report, not a DVC metric.
payload = evaluation.metrics_json_payload(
    params, summary, base_rows, main, len(SEEDS), ev["json_metrics"]
)
write_json(REPORTS / "tables" / "strategy_metrics.json", rounded(payload))
# The DVC headline: one short file per task (`dvc metrics show` prints one row each).
headline = evaluation.headline_metrics(summary, base_rows, main, full)
evaluation.write_headline_metrics(
    headline, resolve(metrics_dir) if metrics_dir else REPORTS / "metrics"
)
pd.DataFrame(headline).T

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
