"""Splits: sizes vs fractions, determinism, seed sensitivity, no group leakage, file round trip."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tqa.data.splits import SPLITS, main, make_split, read_split, split_sizes, write_split


def table(n: int, group_sizes: list[int] | None = None, shuffle_seed: int = 0) -> pd.DataFrame:
    ids = [f"vid{i:04d}" for i in range(n)]
    df = pd.DataFrame({"video_id": ids})
    if group_sizes is not None:
        assert sum(group_sizes) == n
        df["group"] = np.repeat([f"spk{g:03d}" for g in range(len(group_sizes))], group_sizes)
    return df.sample(frac=1.0, random_state=shuffle_seed).reset_index(drop=True)


@pytest.mark.parametrize("n", [10, 97, 180, 1985])
def test_random_sizes_match_fractions(n: int) -> None:
    df = table(n)
    sp = make_split(df, "random", (0.8, 0.1, 0.1), seed=7)
    counts = sp["split"].value_counts()
    for name, f in zip(SPLITS, (0.8, 0.1, 0.1)):
        assert abs(counts.get(name, 0) - n * f) < 1.0  # within one video of the exact share
    assert sp["video_id"].tolist() == df["video_id"].tolist()  # every id once, input order
    assert sp["video_id"].is_unique and set(sp["split"]) <= set(SPLITS)


def test_split_sizes_closed_forms() -> None:
    assert split_sizes(1985, (0.8, 0.1, 0.1)) == [1588, 199, 198]  # 1588 + 198.5 + 198.5
    assert split_sizes(100, (0.8, 0.1, 0.1)) == [80, 10, 10]
    assert split_sizes(3, (1 / 3, 1 / 3, 1 / 3)) == [1, 1, 1]
    assert split_sizes(5, (1.0, 0.0, 0.0)) == [5, 0, 0]
    for n, f in itertools.product(
        [1, 7, 33, 501], [(0.7, 0.2, 0.1), (0.6, 0.3, 0.1), (0.5, 0.25, 0.25)]
    ):
        s = split_sizes(n, f)
        assert sum(s) == n and all(math.floor(n * x) <= k <= math.ceil(n * x) for k, x in zip(s, f))


def test_random_is_deterministic_seed_sensitive_and_order_free() -> None:
    df = table(200)
    a = make_split(df, "random", seed=1)
    b = make_split(df, "random", seed=1)
    pd.testing.assert_frame_equal(a, b)
    c = make_split(df, "random", seed=2)
    assert (a["split"] != c["split"]).any()
    shuffled = df.sample(frac=1.0, random_state=5)
    d = (
        make_split(shuffled, "random", seed=1)
        .set_index("video_id")
        .loc[a["video_id"]]
        .reset_index()
    )
    pd.testing.assert_frame_equal(a, d)  # row order of labels.csv does not matter


@pytest.mark.parametrize(
    "sizes", [[30] * 6, [5, 40, 12, 7, 33, 3, 9, 21, 14, 8], list(range(1, 41))]
)
def test_group_split_has_no_leakage_and_near_fraction_sizes(sizes: list[int]) -> None:
    n = sum(sizes)
    df = table(n, sizes)
    sp = make_split(df, "group", (0.8, 0.1, 0.1), seed=3)
    merged = df.merge(sp, on="video_id")
    assert len(merged) == n and sp["video_id"].is_unique
    per_group = merged.groupby("group")["split"].nunique()
    assert (per_group == 1).all()  # no identity in two splits
    assert set(sp["split"]) == set(SPLITS)  # every split non-empty
    # Oracle: brute force over all assignments of groups to splits (small cases) for the
    # least squared size error; greedy + local search must come close to it.
    counts = merged.groupby("split").size().reindex(SPLITS).to_numpy()
    target = np.array([0.8, 0.1, 0.1]) * n
    err = ((counts - target) ** 2).sum()
    if len(sizes) <= 10:
        best = min(
            ((np.bincount(a, weights=sizes, minlength=3) - target) ** 2).sum()
            for a in itertools.product(range(3), repeat=len(sizes))
            if len(set(a)) == 3
        )
        assert math.sqrt(err) <= math.sqrt(best) + min(
            sizes
        )  # within the smallest group of the optimum
    else:
        assert np.all(np.abs(counts - target) <= max(sizes))


def test_group_split_deterministic_and_seed_sensitive() -> None:
    df = table(240, [20] * 12)
    a = make_split(df, "group", seed=11)
    pd.testing.assert_frame_equal(a, make_split(df, "group", seed=11))
    others = [make_split(df, "group", seed=s) for s in range(12, 17)]
    assert any((a["split"] != o["split"]).any() for o in others)


def test_group_split_errors() -> None:
    with pytest.raises(ValueError, match="only 2 distinct 'group'"):
        make_split(table(20, [10, 10]), "group", seed=0)
    with pytest.raises(ValueError, match="needs a 'group' column"):
        make_split(table(20), "group", seed=0)
    df = table(9, [3, 3, 3])
    df.loc[4, "group"] = None
    with pytest.raises(ValueError, match="no 'group' value"):
        make_split(df, "group", seed=0)
    with pytest.raises(ValueError, match="fractions"):
        make_split(table(20), "random", (0.8, 0.3, 0.1), seed=0)
    with pytest.raises(ValueError, match="unknown split method"):
        make_split(table(20), "stratified", seed=0)
    dup = pd.DataFrame({"video_id": ["a", "a", "b"]})
    with pytest.raises(ValueError, match="duplicate"):
        make_split(dup, "random", seed=0)


def test_zero_fraction_allows_two_groups() -> None:
    sp = make_split(table(20, [12, 8]), "group", (0.6, 0.4, 0.0), seed=0)
    assert set(sp["split"]) == {"train", "val"}


def test_given_split() -> None:
    df = table(6)
    df["split"] = ["train", "train", "val", "test", "train", "val"]
    sp = make_split(df, "given")
    assert sp["split"].tolist() == df["split"].tolist()
    df.loc[2, "split"] = "dev"
    with pytest.raises(ValueError, match="train"):
        make_split(df, "given")


def test_group_leakage_names_groups_in_two_splits() -> None:
    from tqa.data.splits import group_leakage

    labels = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d", "e", "f", "g"],
            "group": ["s1", "s1", "s2", "s2", "s3", None, "s4"],
        }
    )
    split = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d", "e", "f", "g"],
            "split": ["train", "test", "val", "val", "train", "test", "train"],
        }
    )
    # oracle by hand: s1 is in train and test; s2 only val; s3, s4 one video each; f has no group
    assert group_leakage(labels, split, "group") == ["s1"]
    split.loc[3, "split"] = "train"
    assert group_leakage(labels, split, "group") == ["s1", "s2"]
    assert group_leakage(labels.drop(columns="group"), split, "group") == []
    assert group_leakage(labels, split.iloc[[0, 2, 3]], "group") == [
        "s2"
    ]  # ids absent from the split ignored
    # a group split never leaks
    df = table(60, [10, 10, 10, 10, 10, 10])
    assert group_leakage(df, make_split(df, "group", seed=3), "group") == []


def test_given_split_warns_on_group_leakage(caplog) -> None:
    df = table(6, [2, 2, 2])
    by_id = df.set_index("video_id")["group"]
    # spk000 -> train/test (leaks), spk001 -> val/val, spk002 -> train/train
    where = {"spk000": ["train", "test"], "spk001": ["val", "val"], "spk002": ["train", "train"]}
    seen: dict[str, int] = {}
    splits = []
    for v in df["video_id"]:
        g = by_id[v]
        splits.append(where[g][seen.get(g, 0)])
        seen[g] = seen.get(g, 0) + 1
    df["split"] = splits
    with caplog.at_level("WARNING", logger="tqa.data.splits"):
        sp = make_split(df, "given")
    assert sp["split"].tolist() == splits  # the given split is kept as is
    msgs = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(msgs) == 1 and "spk000" in msgs[0] and "leakage" in msgs[0]
    assert "spk001" not in msgs[0] and "spk002" not in msgs[0]
    caplog.clear()
    df["split"] = [where[by_id[v]][0] if by_id[v] != "spk000" else "train" for v in df["video_id"]]
    with caplog.at_level("WARNING", logger="tqa.data.splits"):
        make_split(df, "given")
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_write_read_round_trip_and_validation(tmp_path: Path) -> None:
    sp = make_split(table(50), "random", seed=0)
    p = write_split(sp, tmp_path / "s" / "split.csv")
    pd.testing.assert_frame_equal(read_split(p), sp)
    (tmp_path / "bad.csv").write_text("video_id,split\na,train\nb,holdout\n")
    with pytest.raises(ValueError, match="holdout"):
        read_split(tmp_path / "bad.csv")
    (tmp_path / "dup.csv").write_text("video_id,split\na,train\na,test\n")
    with pytest.raises(ValueError, match="duplicate"):
        read_split(tmp_path / "dup.csv")
    (tmp_path / "cols.csv").write_text("id,split\na,train\n")
    with pytest.raises(ValueError, match="video_id"):
        read_split(tmp_path / "cols.csv")
    with pytest.raises(FileNotFoundError):
        read_split(tmp_path / "none.csv")


def test_cli_writes_split_from_params(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    lines = ["video_id,lip_sync,expression,audio_quality,cross_modal,overall,group"]
    lines += [f"v{i},4,4,4,4,4,g{i % 5}" for i in range(40)]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    params = {
        "seed": 3,
        "data": {
            "root": str(root),
            "labels": "labels.csv",
            "score_min": 1.0,
            "score_max": 5.0,
            "missing_value": -1.0,
            "check_media": False,
            "require_audio": True,
        },
        "split": {
            "method": "group",
            "fractions": [0.6, 0.2, 0.2],
            "group_column": "group",
            "out": str(tmp_path / "split.csv"),
        },
    }
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    # no video files: the CLI drops those rows as problems, so give them media-free files
    (root / "videos").mkdir()
    for i in range(40):
        (root / "videos" / f"v{i}.mp4").write_bytes(b"x")
    assert main(["--params", str(pfile)]) == 0
    sp = read_split(tmp_path / "split.csv")
    assert len(sp) == 40
    grp = sp.assign(g=sp["video_id"].str[1:].astype(int) % 5)
    assert (grp.groupby("g")["split"].nunique() == 1).all()
    assert sp["split"].value_counts().to_dict() == {"train": 24, "val": 8, "test": 8}
