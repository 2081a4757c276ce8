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
# # 04 — The cross-modal Transformer (chapter 3.2.3)
#
# Four modality embeddings (Linear + LayerNorm) → tokens (modality × time, `model.token_stride`
# frames mean-pooled per token) + learnable time and modality-type embeddings → pre-norm
# Transformer encoder (Path B); per-modality mean/std/min/max statistics → MLP (Path A);
# fusion (concat + Linear + GELU, the last shared layer) → five heads squashed to [1, 5].
# Below: the architecture, parameters per part, a forward pass, and the ablation switches.

# %% tags=["parameters"]
params_path = None  # None = the repository params.yaml, from any working directory
overrides = {}
reports_dir = None  # None: scratch/reports (a manual run); the DVC stage passes reports
toy_data = False
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
from tqa.study.context import notebook_context

ctx = notebook_context(globals(), _declared, where="04_model", data="training")

import pandas as pd

from tqa.study.reporting import save_table

params, REPORTS, PROV = ctx.params, ctx.reports, ctx.prov
features, labels, split = ctx.features, ctx.labels, ctx.split
ctx.show()

# %%
import torch

from tqa.model.preprocess import Preprocessor
from tqa.model.transformer import build_model

train_ids = [v for v, s in zip(features.video_ids, split) if s == "train"]
prep = Preprocessor(params["preprocess"]).fit(features.subset(train_ids))
reduced = prep.transform(features)
dims = prep.output_dims
torch.manual_seed(params["seed"])
model = build_model(dims, params["model"]).eval()
print(model)
counts = pd.DataFrame([{"part": k, "parameters": v} for k, v in model.parameter_counts().items()])
counts.loc[len(counts)] = {"part": "total", "parameters": int(counts["parameters"].sum())}
save_table(
    counts,
    "model_parameters",
    f"Parameters per part at the params.yaml model config; input dims {dims}. {PROV}",
    REPORTS,
)
counts

# %%
b = min(8, len(reduced.video_ids))
batch = {m: torch.as_tensor(reduced.streams[m][:b]) for m in model.modalities}
sync = torch.as_tensor(reduced.sync[:b])
with torch.no_grad():
    out = model(batch, sync)
print("input:", {m: tuple(x.shape) for m, x in batch.items()}, "sync", tuple(sync.shape))
print("output:", tuple(out.shape), f"range [{out.min():.3f}, {out.max():.3f}] (untrained)")

# %%
variants = {
    "full": {},
    "path_a_only": {"path_b": False},
    "path_b_only": {"path_a": False},
    "no_sync": {"use_sync": False},
    **{f"no_{m}": {"drop_modalities": [m]} for m in model.modalities},
}
rows = []
for name, over in variants.items():
    m = build_model(dims, {**params["model"], **over}).eval()
    with torch.no_grad():
        y = m(batch, sync)
    rows.append(
        {
            "variant": name,
            "parameters": sum(p.numel() for p in m.parameters()),
            "modalities": ",".join(m.modalities),
            "output_shape": str(tuple(y.shape)),
        }
    )
switches = pd.DataFrame(rows)
save_table(
    switches,
    "model_switches",
    f"Ablation switches: parameters and one untrained forward pass on a batch of {b}. {PROV}",
    REPORTS,
)
switches
