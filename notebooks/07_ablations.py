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
# The full model (weighting `eval.main_strategy`) against each variant of the protocol's
# ablation list: one modality dropped, Path A only, Path B only, no PCA, no scaler — the same
# videos and seeds for every variant, so a difference is the removed part's. Runs are
# resumable (a run cache under `eval.results_dir`).
#
# Every number is measured on `data.root` of `params.yaml` with the extractors named in the
# provenance line below. The default root is the **embedded synthetic sample corpus**
# (simulated videos and ratings) — *not* EmotionTalk. The protocol, the videos and groups, the
# variants and where the outputs went are stated below, rendered from this run's parameters
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
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
from tqa.study.context import notebook_context

ctx = notebook_context(
    globals(), _declared, where="07_ablations", data="study", holdout_seeds="eval.ablation_seeds"
)

from tqa.study import plots, protocol, studies
from tqa.study.reporting import save_figure, save_table

params, ev, REPORTS, PROV = ctx.params, ctx.params["eval"], ctx.reports, ctx.prov
fs, labels, split, KFOLD = ctx.features, ctx.labels, ctx.split, ctx.kfold
SEEDS, WHERE, FLAT = ctx.seeds, ctx.where, ctx.flat
VARIANTS = protocol.kfold_section(params)["ablations"] if KFOLD else ev["ablations"]
ctx.show(methods=["full", *VARIANTS], outputs=[REPORTS])

# %%
if (
    KFOLD
):  # the full model vs each of eval.kfold.ablations, same folds; verdicts in ablation_comparison.md
    oof, comparison = protocol.ablations(fs, labels, ctx.meta, params)
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
        REPORTS / "data",
    )
else:
    rows = studies.ablations(fs, labels, split, params)
summary = studies.summarize(rows, ev["table_metrics"])
ctx.save_study_tables(
    rows,
    summary,
    "Ablations",
    ("ablation_runs", "ablation_"),
    seeds_note=" (std empty for a single seed)",
)
studies.mean_std_table(summary, "pearson")

# %%
delta = studies.delta_vs_reference(summary, "pearson", "full")
save_table(
    delta,
    "ablation_delta_pearson",
    f"Ablations: change of mean {WHERE} Pearson vs the full model (negative = the variant "
    f"is worse). {PROV}",
    REPORTS,
)
delta

# %%
fig = plots.bar_with_error(summary, "pearson", apart=FLAT)
fig.axes[0].set_title(f"Ablations: {WHERE} Pearson per task")
save_figure(
    fig,
    "ablation_pearson",
    f"Ablations: {WHERE} Pearson per task, full model vs each variant, "
    + (f"mean ± std over seeds {SEEDS}" if len(SEEDS) > 1 else f"seed {SEEDS} (no error bars)")
    + f"; near-constant tasks hatched, right. {PROV}",
    REPORTS,
)

# %%
# A stage's run cache (a DVC output) keeps only the runs this study used: the same study
# gives the same folder in any clone, whatever earlier runs left there.
if results_dir is not None:
    studies.prune_unused(params["eval"]["results_dir"])
