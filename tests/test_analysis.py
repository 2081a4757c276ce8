"""Data analysis functions against numpy / pandas / scipy oracles; notebook 01 under papermill."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tqa.core.schema import MODALITIES, TASKS, FeatureSet
from tqa.study.analysis import (
    correlations_long,
    data_summary,
    feature_scale_table,
    label_summary,
    load_cached_features,
    nan_counts,
    near_zero_variance,
    pair_counts,
    task_correlations,
)

REPO = Path(__file__).resolve().parent.parent


def random_labels(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Correlated scores with per-task missingness; lip_sync nearly constant, like the chapter's."""
    rng = np.random.default_rng(seed)
    base = rng.normal(3.0, 0.6, n)
    df = pd.DataFrame({"video_id": [f"v{i}" for i in range(n)]})
    df["lip_sync"] = np.clip(4.8 + rng.normal(0, 0.01, n), 1, 5)
    df["expression"] = np.clip(base + rng.normal(0, 0.3, n), 1, 5)
    df["audio_quality"] = np.clip(rng.normal(3.5, 0.5, n), 1, 5)
    df["cross_modal"] = np.clip(0.7 * base + 1 + rng.normal(0, 0.4, n), 1, 5)
    df["overall"] = np.clip(
        0.5 * (df["expression"] + df["cross_modal"]) + rng.normal(0, 0.2, n), 1, 5
    )
    for task, keep in zip(TASKS, (1.0, 0.728, 0.778, 0.726, 0.726)):
        df.loc[rng.random(n) > keep, task] = -1.0
    return df


def test_label_summary_matches_pandas_oracle() -> None:
    df = random_labels()
    got = label_summary(df).set_index("task")
    nan_df = df[list(TASKS)].replace(-1.0, np.nan)  # oracle: pandas NaN-skipping statistics
    np.testing.assert_allclose(got["mean"], nan_df.mean().to_numpy())
    np.testing.assert_allclose(got["std"], nan_df.std(ddof=1).to_numpy())
    np.testing.assert_allclose(got["var"], nan_df.var(ddof=1).to_numpy())
    np.testing.assert_allclose(got["min"], nan_df.min().to_numpy())
    np.testing.assert_allclose(got["median"], nan_df.median().to_numpy())
    np.testing.assert_array_equal(got["n_present"], nan_df.notna().sum().to_numpy())
    np.testing.assert_allclose(got["present_rate"] + got["missing_rate"], 1.0)
    assert got.loc["lip_sync", "present_rate"] == 1.0
    assert (got["n"] == len(df)).all()


def test_label_summary_closed_forms_and_near_zero() -> None:
    df = pd.DataFrame(
        {
            "video_id": list("abcd"),
            "lip_sync": [4.0, 4.0, 4.0, 4.0],
            "expression": [1.0, 2.0, 3.0, -1.0],
            "audio_quality": [-1.0] * 4,
            "cross_modal": [5.0, -1.0, -1.0, -1.0],
            "overall": [1.0, 5.0, 1.0, 5.0],
        }
    )
    s = label_summary(df).set_index("task")
    assert s.loc["lip_sync", "std"] == 0.0
    assert (
        s.loc["expression", "mean"] == 2.0 and s.loc["expression", "var"] == 1.0
    )  # var of 1,2,3 (ddof 1)
    assert s.loc["expression", "present_rate"] == 0.75
    assert s.loc["audio_quality", "n_present"] == 0 and np.isnan(s.loc["audio_quality", "mean"])
    assert np.isnan(s.loc["cross_modal", "std"])  # one label: no sample std
    assert s.loc["overall", "var"] == pytest.approx(16 / 3)
    assert near_zero_variance(s.reset_index(), 0.1) == ["lip_sync"]
    assert near_zero_variance(label_summary(random_labels()), 0.1) == ["lip_sync"]


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_task_correlations_match_scipy(method: str) -> None:
    df = random_labels(300, seed=1)
    got = task_correlations(df, method)
    oracle = stats.pearsonr if method == "pearson" else stats.spearmanr
    for a in TASKS[1:]:
        for b in TASKS[1:]:
            both = (df[a] != -1) & (df[b] != -1)
            want = 1.0 if a == b else oracle(df.loc[both, a], df.loc[both, b])[0]
            assert got.loc[a, b] == pytest.approx(want, abs=1e-10)
    assert got.loc["expression", "overall"] > 0.5  # the construction correlates them
    np.testing.assert_allclose(got.to_numpy(), got.to_numpy().T, equal_nan=True)
    long = correlations_long(got)
    assert len(long) == 10 and set(long.columns) == {"task_a", "task_b", "r", "n_pairs"}


def test_constant_task_gives_nan_and_pair_counts_brute_force() -> None:
    df = random_labels(120, seed=2)
    df["lip_sync"] = 4.5
    corr = task_correlations(df)
    assert corr.loc["lip_sync", ["expression", "overall"]].isna().all()
    counts = pair_counts(df)
    for a in TASKS:
        for b in TASKS:
            assert counts.loc[a, b] == sum((x != -1) and (y != -1) for x, y in zip(df[a], df[b]))
    off = [counts.loc[a, b] for a in TASKS for b in TASKS if a != b]
    assert corr.attrs["min_pairs"] == min(off)


def feature_set(n: int = 4, t: int = 6) -> FeatureSet:
    rng = np.random.default_rng(0)
    dims = {"visual": 5, "audio": 3, "landmarks": 6, "au": 2}
    scale = {"visual": 1000.0, "audio": 10.0, "landmarks": 1.0, "au": 2.0}
    streams = {
        m: (rng.uniform(-1, 1, (n, t, d)) * scale[m]).astype(np.float32) for m, d in dims.items()
    }
    streams["visual"][0, 0, 0] = 1000.0  # exact max |value| per modality
    streams["landmarks"][1, 2, 3] = -1.0
    streams["au"][2, 1, 0] = 2.0
    streams["audio"][3, 3, 1] = 10.0
    streams["visual"][1, 2, :] = np.nan  # one whole frame
    streams["visual"][2, 0, 4] = np.nan
    streams["au"][0, 5, 1] = np.nan
    sync = rng.normal(size=(n, 3)).astype(np.float32)
    sync[3, 1] = np.nan
    return FeatureSet(video_ids=[f"v{i}" for i in range(n)], streams=streams, sync=sync)


def test_feature_scale_table_against_numpy() -> None:
    fs = feature_set()
    tab = feature_scale_table(fs).set_index("modality")
    assert list(tab.index) == list(MODALITIES)
    for m in MODALITIES:
        a = fs.streams[m].astype(np.float64)
        assert tab.loc[m, "dim"] == a.shape[2]
        assert tab.loc[m, "min"] == pytest.approx(np.nanmin(a))
        assert tab.loc[m, "max"] == pytest.approx(np.nanmax(a))
        assert tab.loc[m, "mean"] == pytest.approx(np.nanmean(a))
        assert tab.loc[m, "std"] == pytest.approx(np.nanstd(a))
        assert tab.loc[m, "nan_count"] == np.isnan(a).sum()
    # closed form: max |value| 1000 (visual) vs 1 (landmarks) is 3 orders of magnitude
    assert tab.attrs["orders_spread"] == pytest.approx(3.0)
    assert tab.loc["audio", "orders_vs_smallest"] == pytest.approx(1.0)
    assert tab.loc["au", "log10_abs_max"] == pytest.approx(np.log10(2.0))
    with_sync = feature_scale_table(fs, include_sync=True)
    assert "sync" in set(with_sync["modality"]) and with_sync.attrs[
        "orders_spread"
    ] == pytest.approx(3.0)


def test_nan_counts_known_pattern() -> None:
    tab = nan_counts(feature_set()).set_index("modality")
    assert tab.loc["visual", "nan_count"] == 5 + 1
    assert tab.loc["visual", "frames_with_nan"] == 2 and tab.loc["visual", "videos_with_nan"] == 2
    assert tab.loc["visual", "dims_with_nan"] == 5
    assert tab.loc["visual", "nan_rate"] == pytest.approx(6 / (4 * 6 * 5))
    assert tab.loc["au", "nan_count"] == 1 and tab.loc["audio", "nan_count"] == 0
    assert tab.loc["sync", "nan_count"] == 1 and tab.loc["sync", "videos_with_nan"] == 1


def test_data_summary_json_ready() -> None:
    s = label_summary(random_labels())
    out = data_summary(s, 200, 3, "Data: x.")
    json.dumps(out)
    assert set(out["tasks"]) == set(TASKS) and out["n_problems"] == 3
    assert out["tasks"]["lip_sync"]["present_rate"] == 1.0


def test_load_cached_features_absent_is_none(tmp_path: Path) -> None:
    assert load_cached_features({"features": {"cache_dir": str(tmp_path / "none")}}) is None
    (tmp_path / "empty").mkdir()
    assert load_cached_features({"features": {"cache_dir": str(tmp_path / "empty")}}) is None


def _write_cache(folder: Path, meta: dict):
    """``feature_set()`` written into a feature cache at ``folder``, each video with ``meta``."""
    from tqa.features.cache import write_features

    fs = feature_set()
    for i, vid in enumerate(fs.video_ids):
        write_features(folder, vid, {m: a[i] for m, a in fs.streams.items()}, fs.sync[i], meta)
    return fs


def test_load_cached_features_reads_cache(tmp_path: Path) -> None:
    fs = _write_cache(tmp_path, {"config_hash": "h"})
    got = load_cached_features({"features": {"cache_dir": str(tmp_path)}}, ["v2", "v0", "nope"])
    assert got is not None and got.video_ids == ["v0", "v2"]
    np.testing.assert_array_equal(got.streams["visual"], fs.streams["visual"][[0, 2]])


# ------------------------------------------------------------------ notebook 01


def _tiny_dataset(root: Path, n: int = 12) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_data import write_video  # the tiny-mp4 helper of the data tests

    labels = random_labels(n, seed=3)
    labels["group"] = [f"g{i % 4}" for i in range(n)]
    for vid in labels["video_id"]:
        write_video(root / "videos" / f"{vid}.mp4", n_frames=2)
    labels.to_csv(root / "labels.csv", index=False)


def test_notebook_01_runs_under_papermill(tmp_path: Path) -> None:
    """Executes notebooks/01 on a tiny dataset (labels + real mp4s) and a small feature cache
    (~10 s)."""
    root = tmp_path / "ds"
    _tiny_dataset(root)
    cache = tmp_path / "features"
    _write_cache(
        cache, {"config_hash": "h", "extractors": {"visual": {"name": "nss", "version": "1"}}}
    )
    reports = tmp_path / "reports"
    overrides = {
        "data.root": str(root),
        "features.cache_dir": str(cache),
        "split.out": str(tmp_path / "split.csv"),
    }
    out_nb = tmp_path / "01.ipynb"
    cmd = [
        str(REPO / ".venv" / "bin" / "papermill"),
        "-k",
        "python3",
        str(REPO / "notebooks" / "01_data_analysis.ipynb"),
        str(out_nb),
        "-p",
        "reports_dir",
        str(reports),
        "-y",
        json.dumps({"overrides": overrides}),
        "--cwd",
        str(REPO),
    ]
    if not Path(cmd[0]).exists():
        cmd[0:1] = [sys.executable, "-m", "papermill"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in (
        "label_distributions",
        "label_missing_rates",
        "task_correlations",
    ):  # feature scales and NaN counts are notebook 02's (no duplicate artefacts)
        assert (reports / "figures" / f"{name}.png").stat().st_size > 1000
        assert "Data:" in (reports / "figures" / f"{name}.txt").read_text()
    for name in (
        "label_summary",
        "task_correlations",
        "data_problems",
    ):
        assert (reports / "data" / f"{name}.csv").is_file() and (
            reports / "tables" / f"{name}.md"
        ).is_file()
    summ = pd.read_csv(reports / "data" / "label_summary.csv").set_index("task")
    lab = pd.read_csv(root / "labels.csv")[list(TASKS)].replace(-1.0, np.nan)
    np.testing.assert_allclose(summ.loc[list(TASKS), "std"], lab.std().to_numpy(), rtol=1e-6)
    js = json.loads((reports / "data_summary.json").read_text())
    assert js["n_videos"] == 12 and js["near_zero_variance"] == ["lip_sync"]
    assert str(root) in js["provenance"]
