"""Grouped folds: which videos test together, and the validation part of each fold.

Shared by the k-fold protocol (:mod:`tqa.study.crossval`) and the stacked default model's
inner cross-validation (:mod:`tqa.study.stacking`): whole groups (speaker / portrait /
identity) never sit on both sides of a split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tqa.data.splits import make_split


def kfold_assignments(
    ids: Sequence[str], groups: Sequence[object] | None = None, k: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Test fold (0..k-1) of every video; whole groups in one fold, folds balanced.

    ``groups`` None: every video is its own group (plain k-fold). Groups are shuffled with
    ``seed``, then placed largest first into the fold with the fewest videos (ties: fewest
    groups, then lowest index): the longest-processing-time rule, which keeps the largest
    fold within one group size of the smallest. Returns ``[video_id, group, fold]`` in the
    order of ``ids``. ValueError for duplicate ids, empty groups or fewer groups than k.
    """
    ids = [str(v) for v in ids]
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].unique().tolist()
        raise ValueError(f"duplicate video ids: {dup[:5]}")
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2 folds, got {k}")
    if groups is None:
        g = pd.Series(ids, dtype=object)
    else:
        g = pd.Series(list(groups), dtype=object)
        if len(g) != len(ids):
            raise ValueError(f"{len(g)} group values for {len(ids)} videos")
        empty = g.isna() | (g.astype(str).str.strip() == "")
        if empty.any():
            raise ValueError(
                f"{int(empty.sum())} video(s) have no group value, e.g. "
                f"{[ids[i] for i in np.flatnonzero(empty)[:5]]}"
            )
        g = g.astype(str)
    sizes = g.value_counts()
    if len(sizes) < k:
        raise ValueError(
            f"only {len(sizes)} distinct group(s) for {k} folds; use fewer folds or no grouping"
        )
    names = np.random.default_rng(seed).permutation(np.sort(sizes.index.to_numpy()))
    order = sorted(range(len(names)), key=lambda i: -int(sizes[names[i]]))  # stable: shuffled ties
    count = np.zeros(k, dtype=int)
    n_groups = np.zeros(k, dtype=int)
    fold_of: dict[str, int] = {}
    for i in order:
        f = min(range(k), key=lambda j: (count[j], n_groups[j], j))
        fold_of[names[i]] = f
        count[f] += int(sizes[names[i]])
        n_groups[f] += 1
    return pd.DataFrame({"video_id": ids, "group": g.to_numpy(), "fold": g.map(fold_of).to_numpy()})


def fold_split(
    assignments: pd.DataFrame, fold: int, val_fraction: float = 0.1, seed: int = 0
) -> np.ndarray:
    """(N,) "train" / "val" / "test" for one fold, in the row order of ``assignments``.

    test: the videos of ``fold``; val: about ``val_fraction`` of the remaining videos,
    whole groups only (:func:`tqa.data.splits.make_split`, method ``group``); train: the
    rest. No validation part when ``val_fraction`` is 0 or the training part has fewer
    than 2 groups (the fit then early-stops on its training loss).
    """
    a = assignments.reset_index(drop=True)
    out = np.where(a["fold"].to_numpy() == fold, "test", "train").astype(object)
    rest = a[out == "train"]
    if val_fraction <= 0 or rest["group"].nunique() < 2:
        return out
    inner = make_split(
        rest[["video_id", "group"]],
        "group",
        (1.0 - float(val_fraction), float(val_fraction), 0.0),
        seed=int(seed) * 1000 + int(fold),
        group_column="group",
    )
    out[rest.index.to_numpy()] = inner["split"].to_numpy()
    return out
