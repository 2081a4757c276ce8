"""Generate notebooks 03_pca, 04_model and 05_training (run: .venv/bin/python notebooks/_make_03_05.py).

The notebooks are thin: load params, call tqa.preprocess / tqa.model / tqa.train, plot,
save. Edit this script, not the .ipynb files. ``toy_data=True`` (papermill parameter)
replaces the feature cache with ``tqa.train.planted_signal_data`` (random features with a
planted signal) so the notebooks can be smoke-tested before any extraction.
"""
from __future__ import annotations


from _nbbuild import write


LOAD = """import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from tqa.params import load_params, resolve
from tqa.reporting import provenance, save_figure, save_table
from tqa.schema import MODALITIES, TASKS
from tqa.train import load_training_data, planted_signal_data

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
params = load_params(params_path, overrides)
REPORTS = resolve(reports_dir)
if toy_data:
    features, labels, split = planted_signal_data(n=90, n_frames=params["features"]["n_frames"], seed=params["seed"] % 1000)
    PROV = "Data: planted-signal random features (tqa.train.planted_signal_data) — a smoke test, not a result."
else:
    features, labels, split = load_training_data(params)
    from tqa.analysis import extractor_names
    PROV = provenance(params, extractor_names(features))
print(PROV)
print(f"{len(features.video_ids)} videos; split counts:", dict(zip(*np.unique(split, return_counts=True))))"""


NB03 = [
    ("md", """# 03 — Preprocessing and PCA (chapter 3.1.4)

Per modality, fitted on the **training split only**: median imputation of NaN, StandardScaler,
PCA to the smallest number of components keeping `preprocess.pca_variance` of the variance.
The chapter reduces 4237 → 367 dims (91.3 % by that arithmetic; its text also says 84.4 % in
one place). Below, the dims and the reduction rate are **computed on this run's data**;
the chapter's figures are quoted only for comparison and were not measured here."""),
    ("params", 'params_path = "params.yaml"\noverrides = {}\nreports_dir = "reports"\ntoy_data = False'),
    ("code", LOAD),
    ("code", """from tqa.atomic import write_json
from tqa.preprocess import Preprocessor

train_ids = [v for v, s in zip(features.video_ids, split) if s == "train"]
prep = Preprocessor(params["preprocess"]).fit(features.subset(train_ids))
rep = prep.report()
save_table(rep, "pca_dims", f"Per-modality dims before/after PCA (train split, {len(train_ids)} videos). {PROV}", REPORTS)
rate = prep.reduction_rate
display(rep)
display(Markdown(f"**Computed**: {sum(prep.input_dims.values())} → {sum(prep.output_dims.values())} dims, "
                 f"reduction rate {rate:.1%} (pca_variance = {params['preprocess']['pca_variance']}). "
                 f"Chapter (not measured here): 4237 → 367, i.e. {1 - 367 / 4237:.1%}."))"""),
    ("code", """curves = prep.explained_variance_curves()
fig, ax = plt.subplots(figsize=(6, 4))
for m, c in curves.items():
    k = np.arange(1, len(c) + 1)
    ax.plot(k, c, label=f"{m} ({prep.output_dims[m]}/{prep.input_dims[m]})")
ax.axhline(params["preprocess"]["pca_variance"], color="k", ls="--", lw=0.8)
ax.set_xscale("log"); ax.set_xlabel("components k"); ax.set_ylabel("cumulative explained variance")
ax.legend(); ax.set_title("PCA per modality (train split)")
if curves:
    save_figure(fig, "pca_explained_variance",
                f"Cumulative explained variance per modality; dashed line = pca_variance; legend = kept/input dims. {PROV}",
                REPORTS)
plt.show()"""),
    ("code", """out = resolve(params["preprocess"]["out_dir"]) if not toy_data else REPORTS / "preprocess_toy"
prep.save(out / "preprocess.joblib")
write_json(out / "summary.json", {"input_dims": prep.input_dims, "output_dims": prep.output_dims,
                                  "reduction_rate": rate, "n_train": len(train_ids), "provenance": PROV})
print("saved", out)"""),
]

NB04 = [
    ("md", """# 04 — The cross-modal Transformer (chapter 3.2.3)

Four modality embeddings (Linear + LayerNorm) → tokens (modality × time, `model.token_stride`
frames mean-pooled per token) + learnable time and modality-type embeddings → pre-norm
Transformer encoder (Path B); per-modality mean/std/min/max statistics → MLP (Path A);
fusion (concat + Linear + GELU, the last shared layer) → five heads squashed to [1, 5].
Below: the architecture, parameters per part, a forward pass, and the ablation switches."""),
    ("params", 'params_path = "params.yaml"\noverrides = {}\nreports_dir = "reports"\ntoy_data = False'),
    ("code", LOAD),
    ("code", """import time

import torch

from tqa.model import build_model
from tqa.preprocess import Preprocessor

train_ids = [v for v, s in zip(features.video_ids, split) if s == "train"]
prep = Preprocessor(params["preprocess"]).fit(features.subset(train_ids))
reduced = prep.transform(features)
dims = prep.output_dims
torch.manual_seed(params["seed"])
model = build_model(dims, params["model"]).eval()
print(model)
counts = pd.DataFrame([{"part": k, "parameters": v} for k, v in model.parameter_counts().items()])
counts.loc[len(counts)] = {"part": "total", "parameters": int(counts["parameters"].sum())}
save_table(counts, "model_parameters", f"Parameters per part at the params.yaml model config; input dims {dims}. {PROV}", REPORTS)
counts"""),
    ("code", """b = min(8, len(reduced.video_ids))
batch = {m: torch.as_tensor(reduced.streams[m][:b]) for m in model.modalities}
sync = torch.as_tensor(reduced.sync[:b])
with torch.no_grad():
    out = model(batch, sync)
print("input:", {m: tuple(x.shape) for m, x in batch.items()}, "sync", tuple(sync.shape))
print("output:", tuple(out.shape), f"range [{out.min():.3f}, {out.max():.3f}] (untrained)")"""),
    ("code", """variants = {"full": {}, "path_a_only": {"path_b": False}, "path_b_only": {"path_a": False},
            "no_sync": {"use_sync": False}, **{f"no_{m}": {"drop_modalities": [m]} for m in model.modalities}}
rows = []
for name, over in variants.items():
    m = build_model(dims, {**params["model"], **over}).eval()
    with torch.no_grad():
        t = time.perf_counter(); y = m(batch, sync); dt = time.perf_counter() - t
    rows.append({"variant": name, "parameters": sum(p.numel() for p in m.parameters()),
                 "modalities": ",".join(m.modalities), "output_shape": str(tuple(y.shape)),
                 "forward_ms_batch": round(1000 * dt, 2)})
switches = pd.DataFrame(rows)
save_table(switches, "model_switches", f"Ablation switches: parameters and one untrained forward pass on a batch of {b}. {PROV}", REPORTS)
switches"""),
]

NB05 = [
    ("md", """# 05 — Training with one task-weighting strategy (chapter 3.2.4-3.2.5)

Trains the model once per seed in `train.seeds` with the weighting strategy given by the
papermill parameter `strategy` (fixed | uncertainty | gradnorm); writes
`models/<strategy>/seed<k>/` (best.pt, preprocess.joblib, history.csv, metrics.json),
`reports/training/<strategy>/metrics.json`, and learning-curve and task-weight figures.
Losses are masked MSE on the [1, 5] scale (missing labels never count); val loss = mean over
tasks. Richer metrics are computed by the evaluation notebooks."""),
    ("params", 'params_path = "params.yaml"\noverrides = {}\nreports_dir = "reports"\ntoy_data = False\n'
               'strategy = "fixed"\nmodels_dir = None'),
    ("code", LOAD),
    ("code", """from tqa.train import run_strategy

results = run_strategy(features, labels, split, params, strategy, models_dir=models_dir,
                       reports_dir=REPORTS / "training", progress=True)
rows = []
for r in results:
    h = r.history
    rows.append({"seed": r.seed, "best_epoch": r.best_epoch, "epochs_run": len(h),
                 "best_val_loss": float(h["val_loss"].min()), "fit_seconds": round(r.seconds, 1),
                 **{f"val_{t}": float(h.loc[h["epoch"] == r.best_epoch, f"val_loss_{t}"].iloc[0]) for t in TASKS}})
table = pd.DataFrame(rows)
save_table(table, f"training_{strategy}", f"Strategy {strategy}: best epoch and validation masked MSE per task, per seed. {PROV}", REPORTS)
table"""),
    ("code", """fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for r in results:
    h = r.history
    axes[0].plot(h["epoch"], h["train_loss"], label=f"train seed {r.seed}")
    axes[0].plot(h["epoch"], h["val_loss"], ls="--", label=f"val seed {r.seed}")
    axes[0].axvline(r.best_epoch, color="grey", lw=0.5)
axes[0].set_xlabel("epoch"); axes[0].set_ylabel("masked MSE (mean over tasks)"); axes[0].legend(fontsize=7)
axes[0].set_title(f"{strategy}: learning curves")
h = results[0].history
for t in TASKS:
    axes[1].plot(h["epoch"], h[f"weight_{t}"], label=t)
axes[1].set_xlabel("epoch"); axes[1].set_ylabel("task weight (end of epoch)"); axes[1].legend(fontsize=7)
axes[1].set_title(f"{strategy}: task weights, seed {results[0].seed}")
save_figure(fig, f"learning_curves_{strategy}",
            f"Train (solid) and validation (dashed) masked MSE per epoch and task weights, strategy {strategy}, "
            f"seeds {[r.seed for r in results]}; grey lines = best epochs. {PROV}", REPORTS)
plt.show()"""),
]


def main() -> None:
    for name, cells in (("03_pca", NB03), ("04_model", NB04), ("05_training", NB05)):
        write(cells, f"{name}.ipynb")


if __name__ == "__main__":
    main()
