"""Generate notebooks 06-09 (run: .venv/bin/python notebooks/_make_06_09.py).

06_ablations, 07_error_analysis, 08_strategy_comparison, 09_config_comparison. The
notebooks are thin: load params, call tqa.studies / tqa.evaluation / tqa.plots, save
tables and figures. Edit this script, not the .ipynb files.

Run order for DVC: 08 before 07 (07 reuses 08's main-model run from the resumable
store, and trains it itself when absent); 09 last (it writes reports/README.md).
"""
from __future__ import annotations


from _nbbuild import write


PARAMS_CELL = '''params_path = "params.yaml"
overrides = {}
reports_dir = "reports"'''

SETUP = '''import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from tqa import evaluation, plots, studies
from tqa.metrics import evaluate_tasks
from tqa.params import load_params, resolve
from tqa.reporting import provenance, save_figure, save_table
from tqa.schema import TASKS

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
params = load_params(params_path, overrides)
ev = params["eval"]
REPORTS = resolve(reports_dir)
PROV = provenance(params)
inputs = studies.load_inputs(params, progress=False)
fs, labels, split = inputs.features, inputs.labels, inputs.split
print(PROV)
print(len(fs.video_ids), "videos;", pd.Series(split).value_counts().to_dict())
display(studies.label_summary(labels, split).pivot(index="task", columns="split", values="n"))'''

DATA_NOTE = """Every number is measured on `data.root` of `params.yaml` with the extractors named in
the provenance line printed below. The default root is the **embedded synthetic sample
corpus** (simulated videos and ratings) — *not* EmotionTalk — and its test split is small
(about 18 videos), so differences between variants are within seed noise unless the
mean ± std bars separate clearly."""


def nb_06() -> list[tuple[str, str]]:
    return [
        ("md", f"""# 06 — Ablations (chapter 3.4.2)

The full model (weighting `eval.main_strategy`) against each variant of `eval.ablations`:
one modality dropped, Path A only, Path B only, no PCA, no scaler — same split, same seeds
(`eval.ablation_seeds`). Runs are resumable (`eval.results_dir/ablation.csv`).

{DATA_NOTE}"""),
        ("params", PARAMS_CELL),
        ("code", SETUP),
        ("code", '''rows = studies.ablations(fs, labels, split, params)
summary = studies.summarize(rows, ev["table_metrics"])
save_table(rows.drop(columns=["run_key"]), "ablation_runs",
           f"Ablations: test metrics per run (config x seed x task). {PROV}", REPORTS)
for metric in ev["table_metrics"]:
    t = studies.mean_std_table(summary, metric)
    save_table(t, f"ablation_{metric}",
               f"Ablations: test {metric} per task, mean ± std over seeds {ev['ablation_seeds']}. {PROV}", REPORTS)
studies.mean_std_table(summary, "pearson")'''),
        ("code", '''delta = studies.delta_vs_reference(summary, "pearson", "full")
save_table(delta, "ablation_delta_pearson",
           f"Ablations: change of mean test Pearson vs the full model (negative = the variant is worse). {PROV}",
           REPORTS)
delta'''),
        ("code", '''fig = plots.bar_with_error(summary, "pearson")
fig.axes[0].set_title("Ablations: test Pearson (mean ± std over seeds)")
save_figure(fig, "ablation_pearson",
            f"Ablations: test Pearson per task, full model vs each variant, mean ± std over seeds. {PROV}", REPORTS)'''),
    ]


def nb_07() -> list[tuple[str, str]]:
    return [
        ("md", f"""# 07 — Prediction-error analysis (chapter 3.4.3)

Residuals of the main model (`eval.main_strategy`, first seed of `train.seeds`) on
`eval.analysis_splits`: distributions per task, predicted vs true, 3-class confusion
matrices, the worst videos with their degradation parameters, whether |error| tracks a
degradation, error by generator profile and identity, and — on the sample corpus — how
each predicted score follows the injected degradation levels (`degradations.csv`).

{DATA_NOTE}"""),
        ("params", PARAMS_CELL),
        ("code", SETUP),
        ("code", '''pred = studies.main_model_predictions(fs, labels, split, params)
rows = np.isin(split, ev["analysis_splits"])
ids = np.asarray(fs.video_ids, dtype=object)
res = evaluation.residuals(labels[rows], pred[rows], ids[rows])
degr = evaluation.load_degradations(params["data"]["root"])
WHO = f"main model ({studies.main_strategy(params)}), {'+'.join(ev['analysis_splits'])} rows"
print(WHO, "- residual pairs:", len(res), "- degradations.csv:", "present" if degr is not None else "absent")
rs = evaluation.residual_summary(res)
save_table(rs, "residual_summary", f"Residual (pred - true) statistics per task, {WHO}. {PROV}", REPORTS)
rs'''),
        ("code", '''fig = plots.residual_hist(res)
save_figure(fig, "residual_hist", f"Residual (pred - true) histograms per task, {WHO}. {PROV}", REPORTS)
fig = plots.scatter_pred_true(labels[rows], pred[rows],
                              lims=(params["data"]["score_min"], params["data"]["score_max"]))
save_figure(fig, "pred_vs_true", f"Predicted vs true score per task, {WHO}; dashed: identity. {PROV}", REPORTS)'''),
        ("code", '''cms = evaluation.confusion_matrices(labels[rows], pred[rows], ev)
names = evaluation.class_labels(ev, params["data"]["score_min"], params["data"]["score_max"])
fig = plots.confusion_grid(cms, names)
save_figure(fig, "confusion_3class",
            f"3-class confusion matrices (rows true, columns predicted; bins {names}), {WHO}. {PROV}", REPORTS)
cm_long = pd.concat([pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=names).reset_index()
                     .assign(task=t) for t, cm in cms.items()], ignore_index=True)
save_table(cm_long[["task", "true", *names]], "confusion_3class",
           f"3-class confusion counts per task (rows true, columns predicted), {WHO}. {PROV}", REPORTS)'''),
        ("code", '''worst = evaluation.worst_k(res, ev["worst_k"], degr, inputs.meta)
save_table(worst, "worst_videos",
           f"The {len(worst)} videos with the largest mean |error| over their rated tasks, with their "
           f"metadata and injected degradation parameters, {WHO}. {PROV}", REPORTS)
worst'''),
        ("code", '''if degr is not None:
    skip = ev.get("degradation_exclude") or []
    evd = evaluation.error_vs_degradation(res, degr, skip)
    save_table(evd, "error_vs_degradation",
               f"Spearman rho of |error| with each degradation parameter per task (does error track a "
               f"degradation?), {WHO}. {PROV}", REPORTS)
    if not evd.empty:
        fig = plots.heatmap(evd.pivot(index="task", columns="parameter", values="spearman_abs_error")
                            .reindex([t for t in TASKS if t in set(evd["task"])]),
                            "Spearman(|error|, degradation)")
        save_figure(fig, "error_vs_degradation",
                    f"Spearman rho of |error| with each degradation parameter, {WHO}. {PROV}", REPORTS)
    pvd = evaluation.prediction_vs_degradation(pred[rows], ids[rows], degr, exclude=skip)
    save_table(pvd, "prediction_vs_degradation",
               f"Spearman rho of each predicted score with each injected degradation level, {WHO}. {PROV}", REPORTS)
    if not pvd.empty:
        fig = plots.heatmap(pvd.pivot(index="task", columns="parameter", values="spearman").reindex(list(TASKS)),
                            "Spearman(predicted score, degradation level)")
        save_figure(fig, "prediction_vs_degradation",
                    f"Spearman rho of each predicted score with each injected degradation level, {WHO}. {PROV}",
                    REPORTS)
    display(evd.sort_values("p_value").head(10) if not evd.empty else evd)
else:
    print("no degradations.csv beside labels.csv: degradation analyses skipped (expected on real data)")'''),
        ("code", '''for col in ("generator", "group"):
    meta = inputs.meta
    if col not in meta.columns and degr is not None and col in degr.columns:
        meta = meta.merge(degr[["video_id", col]], on="video_id", how="left")
    if col in meta.columns:
        by = evaluation.error_by_group(res, meta, col)
        save_table(by, f"error_by_{col}", f"MAE and bias (pred - true) per {col} and task, {WHO}. {PROV}", REPORTS)
        display(by.pivot(index=col, columns="task", values="mae"))
    else:
        print(f"no '{col}' column: error by {col} skipped")'''),
    ]


def nb_08() -> list[tuple[str, str]]:
    return [
        ("md", f"""# 08 — Weighting strategies, baselines and agreement (chapter 3.4.1, 3.4.4)

Each strategy of `weighting.strategies` trained with every seed of `train.seeds` (resumable:
`eval.results_dir/strategy.csv`), scored on the test split; the baselines a researcher would
try first (training mean; ridge and random forest on pooled features; the lip-sync measure
alone for lip_sync) on the same split; agreement of the main model with the ratings (CCC,
QWK, Bland-Altman); and `reports/metrics.json` (DVC metrics). The model is compared with
the baselines as measured, whichever wins.

{DATA_NOTE}"""),
        ("params", PARAMS_CELL),
        ("code", SETUP),
        ("code", '''rows = studies.strategy_comparison(fs, labels, split, params)
summary = studies.summarize(rows, sorted(set(ev["table_metrics"]) | set(ev["json_metrics"])))
save_table(rows.drop(columns=["run_key"]), "strategy_runs",
           f"Weighting strategies: test metrics per run (strategy x seed x task). {PROV}", REPORTS)
for metric in ev["table_metrics"]:
    save_table(studies.mean_std_table(summary, metric), f"strategy_comparison_{metric}",
               f"Weighting strategies: test {metric} per task, mean ± std over seeds {params['train']['seeds']}. "
               f"{PROV}", REPORTS)
studies.mean_std_table(summary, "pearson")'''),
        ("code", '''base_rows, base_preds = studies.baseline_comparison(fs, labels, split, params)
save_table(base_rows, "baseline_runs", f"Baselines: test metrics per task. {PROV}", REPORTS)
main = studies.main_strategy(params)
for metric in ("pearson", "rmse"):
    chapter = ev.get("chapter_reported_pearson") if metric == "pearson" else None
    t = studies.model_vs_baselines(summary, base_rows, metric, main, chapter=chapter)
    save_table(t, f"model_vs_baselines_{metric}",
               f"Test {metric}: tqa ({main}, mean ± std over seeds) vs baselines on the same split. "
               + ("The last column is the chapter's reported EmotionTalk value, NOT reproduced here. "
                  if chapter else "") + PROV, REPORTS)
studies.model_vs_baselines(summary, base_rows, "pearson", main, chapter=ev.get("chapter_reported_pearson"))'''),
        ("code", '''ref = {r["task"]: r["pearson"] for _, r in base_rows[base_rows["config"] == "ridge"].iterrows()}
fig = plots.bar_with_error(summary, "pearson", reference=ref)
fig.axes[0].set_title("Test Pearson per weighting strategy (black: ridge baseline)")
save_figure(fig, "strategy_comparison_pearson",
            f"Test Pearson per task for each weighting strategy, mean ± std over seeds; black ticks: ridge "
            f"baseline. {PROV}", REPORTS)
fig = plots.bar_with_error(summary, "rmse")
fig.axes[0].set_title("Test RMSE per weighting strategy")
save_figure(fig, "strategy_comparison_rmse",
            f"Test RMSE per task for each weighting strategy, mean ± std over seeds. {PROV}", REPORTS)'''),
        ("md", "## Main model: test metrics with bootstrap CIs, and agreement with the ratings"),
        ("code", '''pred = studies.main_model_predictions(fs, labels, split, params)
test = split == "test"
full = evaluate_tasks(labels[test], pred[test], ev, bootstrap=ev["bootstrap"], seed=params["seed"])
save_table(full.reset_index(), "main_model_test_metrics",
           f"Main model ({main}, seed {params['train']['seeds'][0]}): every test metric per task with "
           f"{ev['ci']:.0%} percentile-bootstrap CIs ({ev['bootstrap']} resamples) for {ev['ci_metrics']}. {PROV}",
           REPORTS)
agr = evaluation.agreement_table(labels[test], pred[test], ev)
save_table(agr, "agreement", f"Agreement of the main model ({main}) with the ratings on the test split: CCC, "
           f"QWK, Pearson, Bland-Altman bias and 95% limits of agreement (pred - true). {PROV}", REPORTS)
fig = plots.bland_altman_grid(labels[test], pred[test])
save_figure(fig, "bland_altman", f"Bland-Altman plots of the main model ({main}) vs ratings, test split; red: "
            f"bias and ±1.96 SD. {PROV}", REPORTS)
agr'''),
        ("code", '''from tqa.atomic import write_json

payload = evaluation.metrics_json_payload(params, summary, base_rows, main,
                                          len(params["train"]["seeds"]), ev["json_metrics"])
write_json(REPORTS / "metrics.json", payload)
payload["main_model"]["tasks"]["overall"]'''),
    ]


def nb_09() -> list[tuple[str, str]]:
    return [
        ("md", f"""# 09 — Configuration comparison (chapter 3.4.5)

d_model / layers / heads / PCA variance target from `eval.config_grid` (product, invalid
d_model/n_heads pairs dropped, subsampled to `eval.config_grid_max_runs`), weighting
`eval.main_strategy`, seeds `eval.config_seeds`. Resumable (`eval.results_dir/config.csv`).
Last: `reports/README.md` is rebuilt, indexing every figure and table.

{DATA_NOTE}"""),
        ("params", PARAMS_CELL),
        ("code", SETUP),
        ("code", '''rows = studies.config_grid(fs, labels, split, params)
summary = studies.summarize(rows, ev["table_metrics"])
save_table(rows.drop(columns=["run_key"]), "config_runs",
           f"Configuration grid: test metrics per run (config x seed x task). {PROV}", REPORTS)
wide = summary.pivot_table(index="config", columns="metric", values="mean", aggfunc="mean", sort=False)
wide.columns = [f"{c}_mean_over_tasks" for c in wide.columns]
secs = rows.groupby("config", sort=False)[["fit_seconds", "epochs"]].mean()
table = wide.join(secs).reset_index()
save_table(table, "config_comparison",
           f"Configuration grid: test metrics averaged over tasks (and seeds {ev['config_seeds']}), mean fit time "
           f"(s) and epochs. {PROV}", REPORTS)
for metric in ev["table_metrics"]:
    save_table(studies.mean_std_table(summary, metric), f"config_comparison_{metric}",
               f"Configuration grid: test {metric} per task. {PROV}", REPORTS)
table'''),
        ("code", '''fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.2))
ax.barh(table["config"], table["pearson_mean_over_tasks"], color="tab:green")
ax.invert_yaxis()
ax.set_xlabel("test Pearson, mean over tasks")
ax.tick_params(axis="y", labelsize=7)
fig.tight_layout()
save_figure(fig, "config_comparison_pearson",
            f"Configuration grid: test Pearson averaged over tasks per configuration. {PROV}", REPORTS)'''),
        ("code", '''index = evaluation.write_reports_index(params, REPORTS)
print(index)'''),
    ]


NOTEBOOKS = {
    "06_ablations.ipynb": nb_06,
    "07_error_analysis.ipynb": nb_07,
    "08_strategy_comparison.ipynb": nb_08,
    "09_config_comparison.ipynb": nb_09,
}


def main() -> None:
    for name, make in NOTEBOOKS.items():
        write(make(), name)


if __name__ == "__main__":
    main()
