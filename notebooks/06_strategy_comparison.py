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
# Each strategy of `weighting.strategies`, over the seeds of the study protocol (runs are
# resumable: a run cache under `eval.results_dir`); the baselines of `eval.baselines`, the first
# things a researcher would try, on the same videos; agreement of the main model with the
# ratings (CCC, QWK, Bland-Altman); and the DVC headline metrics, one short file per task. The
# model is compared with the baselines as measured, whichever wins. Under k-fold, tqa's default
# model is the stack (`tqa/study/stacking.py`): per task, a non-negative blend of the chapter's
# Transformer and regressors on pooled features, its weights fitted on inner folds of each
# training part; it is the reference of the model-vs-baselines table, and the chapter's
# configuration keeps its own rows.
#
# Every number is measured on `data.root` of `params.yaml` with the extractors named in the
# provenance line below. The default root is the **embedded synthetic sample corpus**
# (simulated videos and ratings) — *not* EmotionTalk. The protocol, the videos and groups, the
# methods and where the outputs went are stated below, rendered from this run's parameters
# and data; on a small corpus, differences between variants are noise unless their
# intervals separate.

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
from tqa.study.context import notebook_context

ctx = notebook_context(globals(), _declared, where="06_strategy_comparison", data="study")

import pandas as pd

from tqa.core.atomic import rounded, write_json, write_text
from tqa.core.params import resolve
from tqa.study import evaluation, plots, protocol, readme_table, studies
from tqa.study.crossval import MODEL_PREFIX
from tqa.study.metrics import evaluate_tasks
from tqa.study.reporting import data_path, save_figure, save_table
from tqa.study.selection import SELECTED

params, ev, REPORTS, PROV = ctx.params, ctx.params["eval"], ctx.reports, ctx.prov
fs, labels, split, KFOLD = ctx.features, ctx.labels, ctx.split, ctx.kfold
SEEDS, WHERE, FLAT = ctx.seeds, ctx.where, ctx.flat
METRICS = resolve(metrics_dir) if metrics_dir else REPORTS / "metrics"
BASELINES = protocol.baseline_names(params, ctx.meta)
STRATEGIES = [MODEL_PREFIX + s for s in params["weighting"]["strategies"]]
DEFAULT = protocol.default_method(params)  # tqa's default model (the stack), k-fold only
ctx.show(
    methods=([DEFAULT] if KFOLD else []) + STRATEGIES + ([SELECTED] if KFOLD else []) + BASELINES,
    outputs=[REPORTS, METRICS],
    notes=[
        f"Chapter's configuration: `{protocol.main_method(params)}`."
        + (f" tqa's default model: `{DEFAULT}`." if KFOLD else "")
    ],
)

# %%
if KFOLD:  # grouped k-fold: every video out-of-fold; CIs, paired test, verdicts
    oof, comparison = protocol.strategy_comparison(fs, labels, ctx.meta, params)
    rows = protocol.oof_rows(oof, labels, fs.video_ids, params, "strategy")
    protocol.write_comparison(
        comparison,
        "strategy",
        "Weighting strategies vs the main strategy",
        protocol.main_method(params),
        REPORTS / "tables",
        REPORTS / "data",
    )
else:
    rows = studies.strategy_comparison(fs, labels, split, params)
summary = studies.summarize(rows, sorted(set(ev["table_metrics"]) | set(ev["json_metrics"])))
ctx.save_study_tables(
    rows, summary, "Weighting strategies", ("strategy_runs", "strategy_comparison_"), "strategy"
)
studies.mean_std_table(summary, "pearson")

# %%
main = studies.main_strategy(params)
MAIN = DEFAULT.removeprefix(MODEL_PREFIX) if KFOLD else main  # config of the reported model
if KFOLD:  # the chapter's configuration, the nested-selection model and every baseline, same folds
    sel_oof, _, choices = protocol.model_selection(fs, labels, ctx.meta, params)
    boof, mvb = protocol.model_vs_baselines(fs, labels, ctx.meta, params, selection_oof=sel_oof)
    names = BASELINES
    base_rows = protocol.oof_rows(
        boof[boof["method"].isin(names)], labels, fs.video_ids, params, "baselines"
    )
    base_rows = base_rows.groupby(["study", "config", "strategy", "task"], sort=False).mean(
        numeric_only=True
    )
    base_rows = base_rows.reset_index()
    default_rows = protocol.oof_rows(
        boof[boof["method"] == DEFAULT], labels, fs.video_ids, params, "default"
    )
    summary = pd.concat(
        [summary, studies.summarize(default_rows, sorted(set(ev["table_metrics"])
                                                          | set(ev["json_metrics"])))],
        ignore_index=True,
    )  # fmt: skip
    protocol.write_comparison(
        mvb,
        "model_vs_baselines",
        "tqa's default model (the stack), the chapter's model, the nested-selection model "
        "and every baseline",
        DEFAULT,
        REPORTS / "tables",
        REPORTS / "data",
    )
    write_text(
        REPORTS / "tables" / "verdicts.md",
        protocol.verdicts_markdown(mvb, DEFAULT, names),
    )
    weights = boof.attrs["blends"]
    save_table(
        weights.groupby(["task", "component"], sort=False)["weight"]
        .agg(["mean", "std", "min", "max"])
        .reset_index(),
        "stack_weights",
        f"Blend weights of `{DEFAULT}` per task and component over the outer (seed, fold) "
        "training parts (non-negative least squares on inner out-of-fold predictions; "
        f"'intercept' in score units). {PROV}",
        REPORTS,
    )
    print((REPORTS / "tables" / "verdicts.md").read_text())
else:
    base_rows, base_preds = studies.baseline_comparison(fs, labels, split, params)
save_table(base_rows, "baseline_runs", f"Baselines: {WHERE} metrics per task. {PROV}", REPORTS)
for metric in ("pearson", "rmse"):
    chapter = ev.get("chapter_reported_pearson") if metric == "pearson" else None
    t = studies.model_vs_baselines(summary, base_rows, metric, MAIN, chapter=chapter)
    save_table(
        t,
        f"model_vs_baselines_{metric}",
        f"{WHERE.capitalize()} {metric}: tqa ({MAIN}, mean ± std over seeds {SEEDS}) vs "
        "baselines on the same videos. "
        + (
            "The last column is the chapter's reported EmotionTalk value, NOT reproduced here. "
            if chapter
            else ""
        )
        + PROV,
        REPORTS,
    )
studies.model_vs_baselines(
    summary, base_rows, "pearson", MAIN, chapter=ev.get("chapter_reported_pearson")
)

# %%
ref = {r["task"]: r["pearson"] for _, r in base_rows[base_rows["config"] == "ridge"].iterrows()}
fig = plots.bar_with_error(summary, "pearson", reference=ref, apart=FLAT)
fig.axes[0].set_title(f"{WHERE.capitalize()} Pearson per weighting strategy (black: ridge)")
save_figure(
    fig,
    "strategy_comparison_pearson",
    f"{WHERE.capitalize()} Pearson per task for each weighting strategy, mean ± std over seeds "
    f"{SEEDS} (no std for a single seed); near-constant tasks hatched, right; black ticks: "
    f"ridge baseline. {PROV}",
    REPORTS,
)
fig = plots.bar_with_error(summary, "rmse", apart=FLAT)
fig.axes[0].set_title(f"{WHERE.capitalize()} RMSE per weighting strategy")
save_figure(
    fig,
    "strategy_comparison_rmse",
    f"{WHERE.capitalize()} RMSE per task for each weighting strategy, mean ± std over seeds "
    f"{SEEDS} (no std for a single seed). {PROV}",
    REPORTS,
)

# %% [markdown]
# ## The reported model: metrics with bootstrap CIs, and agreement with the ratings
#
# Under k-fold the reported model is tqa's default model (the stack); under the holdout
# protocol, the chapter's configuration with the main weighting strategy.

# %%
if KFOLD:  # out-of-fold predictions of the default model, mean over seeds
    pred = protocol.oof_mean_predictions(boof, DEFAULT, fs.video_ids)
else:
    pred = studies.main_model_predictions(fs, labels, split, params)
test = split == "test"
full = evaluate_tasks(labels[test], pred[test], ev, bootstrap=ev["bootstrap"], seed=params["seed"])
save_table(
    full.reset_index(),
    "main_model_test_metrics",
    f"Reported model ({MAIN}, "
    + (f"mean prediction over seeds {SEEDS}" if KFOLD else f"seed {params['train']['seeds'][0]}")
    + f"): every metric per task, {WHERE}, with "
    f"{ev['ci']:.0%} percentile-bootstrap CIs ({ev['bootstrap']} resamples) for "
    f"{ev['ci_metrics']}. {PROV}",
    REPORTS,
)
agr = evaluation.agreement_table(labels[test], pred[test], ev)
save_table(
    agr,
    "agreement",
    f"Agreement of the reported model ({MAIN}) with the ratings, {WHERE}: CCC, "
    f"QWK, Pearson, Bland-Altman bias and 95% limits of agreement (pred - true). {PROV}",
    REPORTS,
)
fig = plots.bland_altman_grid(labels[test], pred[test])
save_figure(
    fig,
    "bland_altman",
    f"Bland-Altman plots of the reported model ({MAIN}) vs ratings, {WHERE}; red: "
    f"bias and ±1.96 SD. {PROV}",
    REPORTS,
)
agr

# %%
# Every number of the comparison (all strategies, baselines, metrics): a report, not a DVC metric.
payload = evaluation.metrics_json_payload(
    params, summary, base_rows, main, len(SEEDS), ev["json_metrics"]
)
write_json(data_path(REPORTS, "strategy_metrics", ".json"), rounded(payload))
# The DVC headline: one short file per task (`dvc metrics show` prints one row each).
headline = evaluation.headline_metrics(summary, base_rows, MAIN, full)
evaluation.write_headline_metrics(headline, METRICS)
pd.DataFrame(headline).T

# %%
# README.md's results table as this run gives it, tracked in git beside the other tables:
# `make readme` copies the same table into README.md, and a fresh clone (where the CSVs of
# data/ are not) checks the README against this file (tests/test_docs.py).
if KFOLD and REPORTS.name == readme_table.STAGE:
    write_text(
        REPORTS / "tables" / readme_table.TRACKED_TABLE,
        readme_table.headline_table(REPORTS.parent, METRICS),
    )

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
