"""Your own rated data, first-class: the worked example of docs/your-data.md, run as written.

A generated release in the public layout (``Image`` names ``<portrait>_<audio>_<method>``,
``Score`` MOS on 0-5, a per-frame feature table, no video files) goes through
``tqa import-thqa`` -> ``tqa validate`` -> ``tqa cv`` (and ``split`` -> ``train`` ->
``bundle`` -> ``score``) from a folder outside the repository, with relative paths.
Oracles: the closed-form MOS rescaling, per-fold metrics recomputed with scipy from the
out-of-fold table, set algebra on the folds, and ``git status`` of the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tqa.cli import main as tqa
from tqa.core.params import ROOT
from tqa.core.schema import TASKS

sys.path.insert(0, str(Path(__file__).parent))
from public_fixture import write_public_release  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

#: A small, fast model for the tests (the docs run the defaults).
FAST = [
    "-S", "train.epochs=2", "-S", "train.device=cpu", "-S", "model.d_model=16",
    "-S", "model.n_heads=2", "-S", "model.n_layers=1", "-S", "model.dim_feedforward=32",
    "-S", "eval.baselines.rf_n_estimators=20", "-S", "eval.baselines.et_n_estimators=20",
    "-S", "eval.baselines.gb_max_iter=20", "-S", "eval.baselines.rfw_n_estimators=20",
    "-S", "eval.stack.inner_folds=2", "-S", "eval.stack.small_data_inner_folds=2",
]  # fmt: skip


def _git_status() -> str | None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return out.stdout if out.returncode == 0 else None


@pytest.fixture()
def release(tmp_path, monkeypatch):
    """The release under tmp/release, and the current folder tmp/work (outside the repo)."""
    mos, frames, truth = write_public_release(tmp_path / "release")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return truth


def test_worked_example_import_validate_cv(release, capsys):
    before = _git_status()
    truth = release
    assert (
        tqa(["import-thqa", "../release/mos.csv", "--out", "data/labels.csv",
             "--name-pattern", "{portrait}_{audio}_{generator}"])
        == 0
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "mapped linearly from [0, 5] to [1, 5]" in out
    assert "no 'group' column" in out  # the default group split is warned about
    labels = pd.read_csv("data/labels.csv", dtype={"portrait": str})
    np.testing.assert_allclose(labels["overall"], 1 + 0.8 * truth["Score"], atol=1e-4)
    assert (labels["portrait"] == truth["portrait"]).all()
    assert (labels["generator"] == truth["method"]).all()
    assert (labels["audio"] == truth["audio"]).all()

    assert tqa(["validate", "data/labels.csv"]) == 0
    out = capsys.readouterr().out
    assert "labels only" in out and "60 valid video(s), 0 problem(s)" in out

    args = ["cv", "--labels", "data/labels.csv", "--features", "../release/frames.csv",
            "--folds", "5", "--group", "portrait", "--seeds", "0", "1", "--out", "cv",
            "--no-progress", *FAST]  # fmt: skip
    assert tqa(args) == 0
    out = capsys.readouterr().out
    assert "rmse_logistic" in out and "no video files" in out
    oof = pd.read_csv("cv/oof.csv", dtype={"video_id": str})
    table = pd.read_csv("cv/comparison.csv")
    assert set(oof["task"]) == {"overall"}
    methods = set(oof["method"])
    assert {"tqa:stack", "tqa:uncertainty", "mean", "ridge", "random_forest",
            "generator_mean"} <= methods  # fmt: skip
    assert (table.loc[table["method"] == "tqa:stack", "verdict"] == "reference").all()
    # every video exactly once out-of-fold per (seed, method); no portrait in two folds
    for _, g in oof.groupby(["seed", "method"]):
        assert sorted(g["video_id"]) == sorted(labels["video_id"])
    folds = oof.drop_duplicates(["video_id", "seed"]).merge(
        labels[["video_id", "portrait"]], on="video_id"
    )
    assert (folds.groupby(["seed", "portrait"])["fold"].nunique() == 1).all()
    assert folds.groupby("seed")["fold"].nunique().eq(5).all()
    # the table's numbers: per-fold Spearman recomputed with scipy, t-interval, Wilcoxon
    sp = table[(table["metric"] == "spearman")].set_index("method")
    per = {
        m: oof[oof["method"] == m]
        .groupby(["seed", "fold"])
        .apply(lambda g: stats.spearmanr(g["y"], g["pred"])[0], include_groups=False)
        for m in ("ridge", "tqa:stack")
    }
    assert sp.loc["ridge", "mean"] == pytest.approx(per["ridge"].mean())
    d = np.round((per["ridge"] - per["tqa:stack"]).to_numpy(), 12)  # exact ties
    assert sp.loc["ridge", "p_value"] == pytest.approx(stats.wilcoxon(d).pvalue)
    # the planted signal (visual__sharpness carries the quality) is found out-of-fold
    assert sp.loc["ridge", "mean"] > 0.5
    assert set(table["metric"]) == {"spearman", "plcc_logistic", "kendall_tau", "rmse_logistic"}
    assert Path("cv/comparison.md").read_text().count("| ridge | overall |") == 4

    # resumable: a second run refits nothing and gives the same predictions; --within
    # generator adds the scores within each generator (no fit: the same predictions)
    n_runs = len(list(Path("cv/runs").glob("*.json")))
    assert tqa([*args, "--within", "generator"]) == 0
    assert len(list(Path("cv/runs").glob("*.json"))) == n_runs
    pd.testing.assert_frame_equal(pd.read_csv("cv/oof.csv", dtype={"video_id": str}), oof)
    within = pd.read_csv("cv/comparison_within_generator.csv")
    w = within[within["metric"] == "spearman"].set_index("method")
    gen = oof.merge(labels[["video_id", "generator"]], on="video_id")
    ridge = gen[gen["method"] == "ridge"].groupby(["seed", "fold"]).apply(
        lambda g: np.mean([stats.spearmanr(p["y"], p["pred"])[0]
                           for _, p in g.groupby("generator") if len(p) >= 3]),
        include_groups=False,
    )  # fmt: skip
    assert w.loc["ridge", "mean"] == pytest.approx(ridge.mean())
    assert np.isnan(w.loc["generator_mean", "mean"])  # a lookup cannot rank within one
    assert "spearman undefined" in w.loc["generator_mean", "note"]
    assert "# Within each generator" in Path("cv/comparison_within_generator.md").read_text()
    per = pd.read_csv("cv/comparison_within_generator_levels.csv")
    assert set(per["level"]) == set(labels["generator"])
    assert {"tqa:stack", "ridge", "generator_mean"} <= set(per["method"]) <= methods
    assert tqa([*args, "--within", "nope"]) == 1
    assert "no column 'nope' for --within" in capsys.readouterr().err
    gap = labels.copy()
    gap.loc[3, "generator"] = None  # one video without a generator: said before any fit
    gap.to_csv("data/labels_gap.csv", index=False)
    gapped = list(args)
    gapped[gapped.index("--labels") + 1] = "data/labels_gap.csv"
    assert tqa([*gapped, "--within", "generator"]) == 1
    assert f"video '{gap.loc[3, 'video_id']}' has no 'generator'" in capsys.readouterr().err
    if before is not None:
        assert _git_status() == before  # nothing written into the repository


def test_cli_path_train_bundle_score_untrained_heads(release, capsys):
    before = _git_status()
    assert (
        tqa(["import-thqa", "../release/mos.csv", "--out", "data/labels.csv",
             "--name-pattern", "{group}_{audio}_{generator}"])
        == 0
    )  # fmt: skip
    assert "warning" not in capsys.readouterr().out  # group column derived: no split warning
    common = ["-S", "data.root=data", "-S", "split.out=work/split.csv"]
    assert tqa(["split", *common]) == 0
    split = pd.read_csv("work/split.csv")
    assert len(split) == 60
    labels = pd.read_csv("data/labels.csv", dtype={"group": str}).merge(split, on="video_id")
    assert (labels.groupby("group")["split"].nunique() == 1).all()
    capsys.readouterr()
    assert (
        tqa(["train", "--features", "../release/frames.csv", "--strategy", "fixed",
             "--seed", "0", "--out", "work/models", "--reports", "work/reports",
             "--no-progress", *common, *FAST])
        == 0
    )  # fmt: skip
    fit = Path("work/models/fixed/seed0")
    assert (fit / "best.pt").is_file() and (fit / "label_counts.json").is_file()
    assert Path("work/reports/studies").is_dir()  # the run cache stays inside --reports
    assert (
        tqa(["bundle", "--fit", "work/models/fixed/seed0", "--features",
             "../release/frames.csv", "--out", "work/bundle", *common])
        == 0
    )  # fmt: skip
    assert "trained heads: overall" in capsys.readouterr().out
    rc = tqa(["score", "--features", "../release/frames.csv", "--model", "work/bundle",
              "--out", "work/scores.csv", *common])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "note: no training labels for lip_sync, expression, audio_quality, cross_modal" in out
    scores = pd.read_csv("work/scores.csv")
    assert scores[[t for t in TASKS if t != "overall"]].isna().all().all()
    assert scores["overall"].between(1, 5).all()
    assert scores["warning"].str.contains("no training labels").all()
    if before is not None:
        assert _git_status() == before


def test_path_errors_are_one_line(release, capsys):
    assert tqa(["train", "--features", "nope/features.csv", "-S", "data.root=data"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope/features.csv" in err[0]
    assert tqa(["cv", "--labels", "missing/labels.csv", "--features", "x.csv"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing/labels.csv" in err[0]
    assert tqa(["validate", "--params", "nope.yaml"]) == 2
    assert "nope.yaml" in capsys.readouterr().err
