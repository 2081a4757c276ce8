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
# # 01 — Data analysis
#
# Label distributions, per-task mean / std / variance, missing-label rates, inter-task
# correlations (chapter 3.1.2) and, once features are extracted, the per-modality value ranges
# behind the scale imbalance that per-modality standardisation removes (chapter 3.1.3).
#
# Every number here is computed from `data.root` of `params.yaml`. The default root is the
# **embedded synthetic sample corpus** (simulated videos and labels) — *not* EmotionTalk — so
# its numbers say nothing about the chapter's data; they show the analysis runs. Point
# `data.root` at your dataset to analyse it.

# %% tags=["parameters"]
params_path = None  # None: the repository's params.yaml, from any working directory
overrides = {}
reports_dir = None  # None: scratch/reports (a manual run); the DVC stage passes reports
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
from tqa.study.context import notebook_context

ctx = notebook_context(
    globals(), _declared, where="01_data_analysis", extractors={"features": "none (labels only)"}
)

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from IPython.display import Markdown, display

from tqa.core.atomic import write_json
from tqa.core.params import resolve
from tqa.core.schema import TASKS
from tqa.data.labels import load_dataset
from tqa.data.splits import read_split, summarize_split
from tqa.study.analysis import (
    correlations_long,
    data_summary,
    label_summary,
    near_zero_variance,
    task_correlations,
)
from tqa.study.reporting import save_figure, save_table

params, REPORTS, LABEL_PROV = ctx.params, ctx.reports, ctx.prov
dp = params["data"]

# %% [markdown]
# ## Load and validate the dataset
# Bad rows are listed and left out; the rest is analysed.

# %%
ds = load_dataset(resolve(dp["root"]), params)
labels = ds.labels
print(f"{ds.root}: {len(labels)} valid videos, {len(ds.problems)} problem(s)")
save_table(
    ds.problems, "data_problems", f"Rows of labels.csv left out and why. {LABEL_PROV}", REPORTS
)
ds.problems.head(20)

# %% [markdown]
# ## Per-task label statistics (present labels only; std/var with ddof = 1)

# %%
summary = label_summary(labels, missing=dp["missing_value"])
save_table(
    summary,
    "label_summary",
    f"Per-task label statistics over present labels (missing = {dp['missing_value']}). "
    f"{LABEL_PROV}",
    REPORTS,
)
summary

# %%
bins = np.linspace(dp["score_min"], dp["score_max"], 17)
fig, axes = plt.subplots(1, len(TASKS), figsize=(3.2 * len(TASKS), 2.8), sharey=False)
for ax, row in zip(axes, summary.itertuples(index=False)):
    v = labels.loc[labels[row.task] != dp["missing_value"], row.task]
    ax.hist(v, bins=bins, color="tab:blue", edgecolor="white")
    ax.set_title(f"{row.task}\nmean {row.mean:.3f}, std {row.std:.3f}", fontsize=9)
    ax.set_xlabel("score")
axes[0].set_ylabel("videos")
fig.tight_layout()
save_figure(
    fig,
    "label_distributions",
    f"Histograms of present labels per task (n = {len(labels)} videos). {LABEL_PROV}",
    REPORTS,
)

# %%
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.bar(summary["task"], 100 * summary["missing_rate"], color="tab:orange")
for i, r in enumerate(summary["missing_rate"]):
    ax.text(i, 100 * r, f"{100 * r:.1f}%", ha="center", va="bottom", fontsize=8)
ax.set_ylabel("missing labels (%)")
ax.set_ylim(0, max(5.0, 100 * summary["missing_rate"].max() * 1.2))
ax.tick_params(axis="x", rotation=30)
fig.tight_layout()
save_figure(
    fig, "label_missing_rates", f"Share of videos without a label, per task. {LABEL_PROV}", REPORTS
)

# %% [markdown]
# ## Near-constant tasks
# The chapter reports lip_sync with mean 4.763 and ~0 std (chapter 3.1.2). The statement below is
# computed from *this* dataset, against `data.near_zero_std`.

# %%
flagged = near_zero_variance(summary, dp["near_zero_std"])
s = summary.set_index("task")
lines = [
    f"- **{t}**: std {s.loc[t, 'std']:.4f}, variance {s.loc[t, 'var']:.5f}, "
    f"mean {s.loc[t, 'mean']:.3f}, "
    f"present {100 * s.loc[t, 'present_rate']:.1f}%"
    for t in TASKS
]
verdict = (
    f"Near-constant (std < {dp['near_zero_std']}): **{', '.join(flagged)}** — little signal to "
    f"learn; "
    "its Pearson/Spearman are undefined or unstable."
    if flagged
    else f"No task has std < {dp['near_zero_std']} in this dataset."
)
display(Markdown("\n".join(lines) + "\n\n" + verdict))

# %% [markdown]
# ## Inter-task correlations (pairs where both labels are present)

# %%
pearson = task_correlations(labels, "pearson", missing=dp["missing_value"])
spearman = task_correlations(labels, "spearman", missing=dp["missing_value"])
corr_table = correlations_long(pearson).rename(columns={"r": "pearson"})
corr_table.insert(3, "spearman", correlations_long(spearman)["r"])
save_table(
    corr_table,
    "task_correlations",
    f"Pairwise label correlations over videos with both labels (min pairs "
    f"{pearson.attrs['min_pairs']}); "
    f"NaN = a constant task. {LABEL_PROV}",
    REPORTS,
)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, (name, m) in zip(axes, [("Pearson", pearson), ("Spearman", spearman)]):
    sns.heatmap(
        m,
        vmin=-1,
        vmax=1,
        cmap="RdBu_r",
        annot=True,
        fmt=".2f",
        square=True,
        ax=ax,
        cbar=ax is axes[-1],
    )
    ax.set_title(f"{name} (min pairs {m.attrs['min_pairs']})")
fig.tight_layout()
save_figure(
    fig,
    "task_correlations",
    f"Inter-task label correlations; blank cells are undefined (a constant task). {LABEL_PROV}",
    REPORTS,
)
corr_table

# %% [markdown]
# ## Split (when the `split` stage has run)

# %%
split_path = resolve(params["split"]["out"])
if split_path.is_file():
    split = read_split(split_path)
    split = split[split["video_id"].isin(labels["video_id"])]
    split_tab = summarize_split(split, labels, params["split"]["group_column"])
    save_table(
        split_tab,
        "split_summary",
        f"Videos (and groups) per split, method {params['split']['method']}, seed "
        f"{params['seed']}. "
        f"{LABEL_PROV}",
        REPORTS,
    )
    display(split_tab)
else:
    display(Markdown(f"Split file `{params['split']['out']}` not written yet (run `tqa split`)."))

# %% [markdown]
# Feature value ranges, NaN rates and the scale imbalance between modalities are reported once,
# from the extraction cache, by notebook 02 (`reports/02_feature_extraction/`).

# %% [markdown]
# ## Summary (`data_summary.json`)

# %%
out = data_summary(summary, len(labels), len(ds.problems), LABEL_PROV)
out["near_zero_variance"] = flagged
write_json(REPORTS / "data_summary.json", out)
out
