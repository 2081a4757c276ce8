"""A MOS release's own features as tqa feature tables (tqa.data.release_features, the
``tqa import-thqa --frames ... --features-out`` option).

Oracles: the source tables themselves (every value found again under its new name), the
feature-table reader of tqa (the written tables load as a FeatureSet), and the real THQA
release of ../shared/thqa-dev when it is beside the repository (skipped otherwise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tqa.cli import main as tqa
from tqa.features.tables import load_feature_table

ROOT = Path(__file__).resolve().parent.parent
THQA = ROOT.parent / "shared" / "thqa-dev"


def _release(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    names = [f"{p}_voice_en_{a}_{m}" for p in (1, 2) for a in (11, 12) for m in ("ahead", "sad")]
    mos = pd.DataFrame(
        {
            "Image": names,
            "brisque": rng.normal(40, 5, len(names)),
            "avset": rng.integers(-3, 4, len(names)),
            "distance": rng.normal(8, 1, len(names)),
            "confi": rng.uniform(0, 5, len(names)),
            "Score": rng.uniform(0, 5, len(names)).round(2),
        }
    )
    rows = [
        {"Image": n, "png": f"{f}.png", "brisque": rng.normal(40, 5), "nima": rng.normal(4, 1)}
        for n in names
        for f in range(int(rng.integers(3, 6)))
    ]
    mos_path, frames_path = folder / "mos.csv", folder / "lib.csv"
    mos.to_csv(mos_path, index=False)
    pd.DataFrame(rows).sample(frac=1.0, random_state=0).to_csv(frames_path, index=False)
    return mos_path, frames_path


def test_import_with_frames_maps_every_value_and_loads_as_features(tmp_path, capsys):
    mos_path, frames_path = _release(tmp_path)
    out = tmp_path / "work"
    rc = tqa(["import-thqa", str(mos_path), "--out", str(out / "labels.csv"), "--name-pattern",
              "{group}_{audio}_{generator}", "--frames", str(frames_path), "--features-out",
              str(out)])  # fmt: skip
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    frames = pd.read_csv(out / "frames.csv")
    src = pd.read_csv(frames_path)
    src["frame"] = src["png"].str.extract(r"(\d+)")[0].astype(int)
    merged = src.merge(frames, left_on=["Image", "frame"], right_on=["video_id", "frame"])
    assert len(merged) == len(src) == len(frames)  # every frame row once, none invented
    np.testing.assert_allclose(merged["visual__brisque"], merged["brisque"], rtol=1e-7)
    np.testing.assert_allclose(merged["visual__nima"], merged["nima"], rtol=1e-7)
    sync = pd.read_csv(out / "sync.csv")
    mos = pd.read_csv(mos_path)
    np.testing.assert_array_equal(sync["sync__offset"], mos["avset"])
    np.testing.assert_allclose(sync["sync__confidence"], mos["confi"], rtol=1e-7)
    fs = load_feature_table([out / "frames.csv", out / "sync.csv"])
    assert sorted(fs.video_ids) == sorted(mos["Image"])
    assert fs.streams["visual"].shape[2] == 2 and np.isfinite(fs.sync).all()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: pd.concat([f, f.iloc[[0]]]), "appears twice"),
        (lambda f: f.assign(nima=["x"] + list(f["nima"].iloc[1:])), "is not a number"),
        (lambda f: pd.concat([f, f.iloc[[0]].assign(Image="9_voice_en_1_x")]), "not in the MOS"),
        (lambda f: f.assign(png=["cover"] + list(f["png"].iloc[1:])), "no frame number"),
    ],
)
def test_bad_frame_tables_write_nothing(tmp_path, capsys, edit, message):
    mos_path, frames_path = _release(tmp_path)
    edit(pd.read_csv(frames_path)).to_csv(frames_path, index=False)
    out = tmp_path / "work"
    rc = tqa(["import-thqa", str(mos_path), "--out", str(out / "labels.csv"), "--frames",
              str(frames_path), "--features-out", str(out)])  # fmt: skip
    assert rc == 1
    err = capsys.readouterr().err
    assert message in err and str(frames_path) in err
    assert not out.exists()  # neither the labels nor any feature table was written


@pytest.mark.skipif(not THQA.is_dir(), reason=f"THQA release not found at {THQA}")
def test_real_thqa_release_maps_to_400_videos(tmp_path):
    rc = tqa(["import-thqa", str(THQA / "vvmf_results_a01.csv"), "--out",
              str(tmp_path / "labels.csv"), "--name-pattern", "{group}_{audio}_{generator}",
              "--frames", str(THQA / "lib_c.csv"), "--features-out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert len(labels) == 400 and labels["group"].nunique() == 10
    assert labels["generator"].nunique() == 8
    frames = pd.read_csv(tmp_path / "frames.csv")
    src = pd.read_csv(THQA / "lib_c.csv")
    assert len(frames) == len(src)
    assert [c for c in frames.columns if c.startswith("visual__")] == [
        f"visual__{c}" for c in src.columns if c not in ("Image", "png")
    ]
    fs = load_feature_table([tmp_path / "frames.csv", tmp_path / "sync.csv"])
    assert len(fs.video_ids) == 400


def test_cv_refuses_a_feature_table_that_does_not_name_the_labelled_videos(tmp_path, capsys):
    mos_path, frames_path = _release(tmp_path)
    work = tmp_path / "work"
    argv = ["import-thqa", str(mos_path), "--out", str(work / "labels.csv"), "--name-pattern",
            "{group}_{audio}_{generator}", "--frames", str(frames_path), "--features-out",
            str(work)]  # fmt: skip
    assert tqa(argv) == 0
    frames = pd.read_csv(work / "frames.csv")
    gone = frames["video_id"].iloc[0]
    frames[frames["video_id"] != gone].to_csv(work / "short.csv", index=False)
    extra = pd.concat([frames, frames[frames["video_id"] == gone].assign(video_id="9_voice_x_y")])
    extra.to_csv(work / "extra.csv", index=False)
    capsys.readouterr()
    for table, words in (("short.csv", [gone, "have no row"]), ("extra.csv", ["9_voice_x_y"])):
        out = tmp_path / f"cv_{table}"
        rc = tqa(["cv", "--labels", str(work / "labels.csv"), "--features", str(work / table),
                  "--folds", "2", "--methods", "mean", "--out", str(out),
                  "--no-progress"])  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 1 and all(w in err for w in words) and table in err
        assert not out.exists()  # nothing written


def test_a_tab_separated_mos_table_maps_its_sync_columns_too(tmp_path):
    """The feature mapping reads the MOS table as the labels importer does (.tsv sniffed)."""
    mos_path, frames_path = _release(tmp_path)
    tsv = tmp_path / "mos.tsv"
    pd.read_csv(mos_path).to_csv(tsv, sep="\t", index=False)
    out = tmp_path / "work"
    argv = ["import-thqa", str(tsv), "--out", str(out / "labels.csv"), "--frames",
            str(frames_path), "--features-out", str(out)]  # fmt: skip
    assert tqa(argv) == 0
    sync = pd.read_csv(out / "sync.csv")
    np.testing.assert_array_equal(sync["sync__offset"], pd.read_csv(mos_path)["avset"])
