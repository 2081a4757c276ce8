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
# # 10 — Score your own videos
#
# `tqa.score(paths)` runs a trained **model bundle** (`score.bundle_dir`, built by `make repro`)
# on video files or folders: features are extracted with exactly the extractors the bundle was
# trained with (a bundle whose extractors differ from the installed ones is refused), then the
# five scores in [1, 5] and the lip-sync offset / confidence / distance come back as a table,
# one row per file; files that cannot be processed get `status = failed` and the reason.
#
# The command line does the same: `tqa score VIDEO_OR_FOLDER... --out scores.csv`.
#
# By default this notebook scores a few videos of `data.root` — the **embedded synthetic sample
# corpus** (simulated talking faces with simulated ratings, *not* EmotionTalk). Set `videos` to
# your own files or folders.

# %% tags=["parameters"]
params_path = None  # None: the repository's params.yaml, from any working directory
overrides = {}
videos = None  # list of files/folders; None = the first `n_videos` videos of data.root
n_videos = 4
model_dir = None  # bundle directory; None = score.bundle_dir
workers = None  # extraction processes; None = features.workers
reports_dir = None  # None: scratch/reports (a manual run); the DVC stage passes reports
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
from tqa.study.context import notebook_context

ctx = notebook_context(globals(), _declared, where="10_score_your_videos", quiet=True)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

import tqa
from tqa.core.params import display_path, resolve
from tqa.core.schema import TASKS
from tqa.serve.bundle import load_bundle
from tqa.serve.scoring import find_videos
from tqa.study.reporting import provenance, save_figure, save_table

params, REPORTS = ctx.params, ctx.reports
bundle = load_bundle(resolve(model_dir or params["score"]["bundle_dir"]))
PROV = provenance(params, {m: d["name"] for m, d in bundle.extractors.items()})
display(
    Markdown(
        f"**Bundle** `{bundle.path}` — strategy {bundle.manifest.get('strategy')}, "
        f"seed {bundle.manifest.get('seed')}, tqa {bundle.manifest.get('tqa_version')}.  \n{PROV}"
    )
)
pd.DataFrame(bundle.extractors).T

# %% [markdown]
# ## Which videos

# %%
if videos is None:
    data_root = resolve(params["data"]["root"])
    videos = find_videos(data_root / "videos")[: int(n_videos)]
    print(f"{len(videos)} video(s) from {data_root}")
[str(v) for v in videos]

# %% [markdown]
# ## Score them (the same function as `tqa score`)

# %%
scores = tqa.score(videos, model=bundle, params=params, workers=workers)
# shown and saved with repository-relative paths: no machine paths in reports
table = scores.assign(path=[display_path(p) for p in scores["path"]])
table

# %%
save_table(
    table.round(4),
    "score_examples",
    f"tqa.score on {len(scores)} video(s): five predicted scores in [1, 5], lip-sync offset "
    f"(frames), "
    f"confidence, distance, status. {PROV}",
    REPORTS,
)
failed = scores[scores["status"] != "ok"]
if len(failed):
    display(
        Markdown(
            "**Files that could not be scored:**\n"
            + "\n".join(f"- `{r.path}`: {r.error}" for r in failed.itertuples())
        )
    )

# %%
ok = scores[scores["status"] == "ok"]
fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(ok) + 2), 3.2))
width = 0.8 / len(TASKS)
x = np.arange(len(ok))
for k, task in enumerate(TASKS):
    ax.bar(x + (k - 2) * width, ok[task], width, label=task)
ax.set_xticks(x, ok["video_id"], rotation=30, ha="right", fontsize=8)
ax.set_ylim(1, 5)
ax.set_ylabel("predicted score")
ax.legend(fontsize=7, ncol=len(TASKS), loc="upper center", bbox_to_anchor=(0.5, 1.18))
fig.tight_layout()
save_figure(
    fig,
    "score_examples",
    f"Predicted scores of {len(ok)} video(s) scored with tqa.score. {PROV}",
    REPORTS,
)

# %% [markdown]
# ## Compared with the labels, where the videos have some
#
# For sample-corpus videos the "labels" are the corpus's simulated ratings, and some of these
# videos may have been in the bundle's training split — this comparison illustrates the output,
# it is not an evaluation (see the evaluation notebooks for held-out metrics).

# %%
labels_path = resolve(params["data"]["root"]) / params["data"]["labels"]
if labels_path.exists():
    lab = pd.read_csv(labels_path, dtype={"video_id": str}).set_index("video_id")
    rows = []
    for r in ok.itertuples():
        if r.video_id in lab.index:
            for task in TASKS:
                y = float(lab.at[r.video_id, task])
                rows.append(
                    {
                        "video_id": r.video_id,
                        "task": task,
                        "predicted": getattr(r, task),
                        "label": np.nan if y == params["data"]["missing_value"] else y,
                    }
                )
    comparison = pd.DataFrame(rows)
    if len(comparison):
        comparison["difference"] = comparison["predicted"] - comparison["label"]
    display(
        comparison.pivot(index="video_id", columns="task", values="difference").round(3)
        if len(comparison)
        else Markdown("These videos have no labels.")
    )
else:
    print(f"no {labels_path}: nothing to compare with")
