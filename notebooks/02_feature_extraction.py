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
# # 02 — Feature extraction (chapter 3.2.2)
#
# Reads the per-video feature cache written by `tqa extract` (`features.cache_dir`) and reports:
# coverage, NaN rates per modality, face-detection rate, the per-modality **feature scale table**
# (the chapter reports a three-orders-of-magnitude imbalance between modalities; here it is
# measured on *our* features) and, on the sample corpus, the weight-free lip-sync offset against
# the offset injected by the corpus builder (`degradations.csv`, `av_offset_frames`, + = audio
# delayed).
# Every number below is computed from this run's cache; none is copied from the chapter.

# %% tags=["parameters"]
params_path = None  # None = the repository params.yaml, from any working directory
overrides = {}
reports_dir = None  # None: scratch/reports (a manual run); the DVC stage passes reports
extract_if_missing = False
_declared = set(globals())  # the names above are the parameters (checked first thing below)

# %%
from tqa.study.context import notebook_context

ctx = notebook_context(globals(), _declared, where="02_feature_extraction", quiet=True)

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from tqa.core.params import resolve
from tqa.features import cache as fcache
from tqa.features.extract import list_videos
from tqa.features.extractors.sync_correlation import offset_agreement
from tqa.features.pipeline import FeatureExtractor
from tqa.study import plots
from tqa.study.analysis import extractor_names
from tqa.study.reporting import provenance, save_figure, save_table

params, REPORTS = ctx.params, ctx.reports
root = resolve(params["data"]["root"])
cache_dir = resolve(params["features"]["cache_dir"])
videos = list_videos(root, params)
if extract_if_missing:  # normally the DVC stage ran `tqa extract` already
    FeatureExtractor(params).run(videos, cache_dir, progress=True)
ids = [v for v, _ in videos]
cached = [v for v in ids if fcache.cache_file(cache_dir, v).is_file()]
features = fcache.load_feature_set(cache_dir, cached)
PROV = provenance(params, extractor_names(features))
print(PROV)

# %% [markdown]
# ## Coverage and failures

# %%
failures_path = cache_dir / "failures.csv"
failures = (
    pd.read_csv(failures_path)
    if failures_path.exists()
    else pd.DataFrame(columns=["video_id", "stage", "reason"])
)
meta = fcache.cache_meta_table(cache_dir, cached)
coverage = pd.DataFrame(
    [
        {
            "videos_in_dataset": len(ids),
            "videos_cached": len(cached),
            "coverage": len(cached) / max(len(ids), 1),
            "failed_ever": failures["video_id"].nunique(),
            "without_audio": int((~meta["has_audio"].astype(bool)).sum()),
            "face_rate_mean": float(meta["face_rate"].mean()),
            "videos_face_rate_lt_0.5": int((meta["face_rate"] < 0.5).sum()),
            "off_grid_source": int(
                (meta["source_fps"].round(3) != params["features"]["grid_fps"]).sum()
            ),
        }
    ]
)
save_table(
    coverage,
    "features_coverage",
    f"Feature-cache coverage and face-detection rate. {PROV}",
    REPORTS,
)
display(coverage)
if len(failures):
    display(failures.tail(10))

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.hist(meta["face_rate"].dropna(), bins=20, range=(0, 1), color="tab:blue")
ax.set_xlabel("face-detection rate per video (MediaPipe Face Mesh)")
ax.set_ylabel("videos")
save_figure(
    fig,
    "features_face_rate",
    f"Share of valid frames with a detected face, per video. {PROV}",
    REPORTS,
)
plt.show()

# %% [markdown]
# ## NaN rates per modality (imputed later by the median, chapter 3.2.3)

# %%
nan_tab = fcache.nan_rate_table(features)
save_table(
    nan_tab, "features_nan_rates", f"NaN values per modality in the feature cache. {PROV}", REPORTS
)
display(nan_tab)

# %% [markdown]
# ## Feature scale table (chapter 3.1.4: modalities differ by orders of magnitude)

# %%
scale = fcache.feature_scale_table(features)
save_table(
    scale,
    "features_scale",
    f"Per-modality value ranges of the raw (unscaled) features. {PROV}",
    REPORTS,
)
display(scale)
if "orders_of_magnitude" in scale:
    display(
        Markdown(
            f"Measured here: the largest |value| across modalities spans "
            f"**{scale['orders_of_magnitude'].iloc[0]:.1f} orders of magnitude** (max over min "
            f"of per-modality max |x|)."
        )
    )
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(scale["modality"], scale["abs_max"], color="tab:orange")
ax.set_yscale("log")
ax.set_ylabel("max |feature value| (log)")
save_figure(
    fig,
    "features_scale",
    f"Largest absolute raw feature value per modality (log scale). {PROV}",
    REPORTS,
)
plt.show()

# %% [markdown]
# ## Lip-sync offset vs injected offset

# %%
deg_path = root / "degradations.csv"
sync = pd.DataFrame(features.sync, columns=["offset", "distance", "confidence"])
sync.insert(0, "video_id", features.video_ids)
if deg_path.exists():
    deg = pd.read_csv(deg_path, dtype={"video_id": str})[["video_id", "av_offset_frames"]]
    both = sync.merge(deg, on="video_id", how="inner")
    has_audio = both["video_id"].map(dict(zip(meta["video_id"], meta["has_audio"]))).astype(bool)
    agree = offset_agreement(both["offset"], both["av_offset_frames"])
    nonzero = both["av_offset_frames"] != 0
    agree_nz = offset_agreement(both.loc[nonzero, "offset"], both.loc[nonzero, "av_offset_frames"])
    tab = pd.DataFrame([{"subset": "all", **agree}, {"subset": "injected offset != 0", **agree_nz}])
    save_table(
        tab,
        "sync_offset_agreement",
        f"Weight-free sync offset ({params['features']['sync']}) vs injected av_offset_frames. "
        f"{PROV}",
        REPORTS,
    )
    display(tab)
    fig = plots.offset_agreement(
        both["av_offset_frames"],
        both["offset"],
        both["confidence"],
        params["features"]["sync_max_offset"],
    )
    save_figure(
        fig,
        "sync_offset_vs_injected",
        f"Estimated vs injected audio-video offset: disc area = number of videos at that pair, "
        f"colour = mean sync confidence (colourbar). {PROV}",
        REPORTS,
    )
    plt.show()
else:
    display(
        Markdown(
            f"No `{deg_path}`: injected offsets are only known for the synthetic sample corpus."
        )
    )
display(sync.describe())

# %% [markdown]
# ## Caveats
# * The weight-free extractors are quality-relevant proxies (NSS statistics, spectral/eGeMAPS audio,
#   Face Mesh landmarks, geometric AU estimates, correlation lip-sync), not the chapter's ResNet101
#   /
#   HuBERT / OpenFace / SyncNet features; see README "Features".
# * On the sample corpus faces are rendered, not filmed; detection rates and sync accuracy on real
#   footage will differ.
