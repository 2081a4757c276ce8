"""Train/val/test splits: seeded random (chapter 3.1.2: 80/10/10) and leakage-free by group.

The split is a file (``split.out``, default ``data/split.csv``: ``video_id,split``) written
by the ``split`` stage and read by every later stage, so all stages agree on it.

Methods
-------
random
    The ids are sorted (so the row order of labels.csv does not matter), permuted with
    ``numpy.random.default_rng(seed)``, and cut into consecutive blocks. Block sizes come
    from the largest-remainder rule: each split gets ``floor(n * f)`` and the leftover
    videos go, one each, to the splits with the largest fractional remainders (ties: train,
    val, test order). Sizes therefore sum to n and each differs from ``n * f`` by < 1
    (1985 videos at 80/10/10 -> 1588 / 199 / 198).
group
    Whole groups (``group_column``: speaker / identity / source) go to one split, so no
    group is in two splits. Groups are sorted, shuffled with the seed, then placed one
    at a time into the split with the largest deficit ``target - current`` (the greedy
    choice that most reduces the squared size error ``sum (n_s - n * f_s)^2``), with every
    split of non-zero fraction guaranteed at least one group; then single-group moves and
    pairwise swaps that lower the squared error are applied until none is left (local
    search). The seed changes which groups land where; sizes are as close to the
    fractions as whole groups allow.
given
    Use the ``split`` column of labels.csv as is (values train / val / test). When labels
    also carry ``group_column``, groups found in more than one split are logged as a
    WARNING naming them (identity leakage; :func:`group_leakage`); the split is kept.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv
from tqa.core.params import ParamsError, add_params_arguments, cli_path, params_from_args, resolve
from tqa.data.labels import DataError, load_dataset, split_column_warning

log = logging.getLogger(__name__)

#: Split names, in the order of ``split.fractions``.
SPLITS: tuple[str, ...] = ("train", "val", "test")
METHODS: tuple[str, ...] = ("random", "group", "given")


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if (
        f.shape != (len(SPLITS),)
        or np.any(f < 0)
        or not np.all(np.isfinite(f))
        or abs(f.sum() - 1.0) > 1e-6
    ):
        raise ValueError(
            f"split fractions must be {len(SPLITS)} non-negative numbers summing to 1 "
            f"({'/'.join(SPLITS)}), got {list(fractions)}"
        )
    return f


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Largest-remainder sizes: sum to n, each within 1 of ``n * f`` (ties: the earlier split)."""
    f = _check_fractions(fractions)
    exact = n * f
    sizes = np.floor(exact).astype(int)
    left = n - int(sizes.sum())
    order = sorted(range(len(f)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in order[:left]:
        sizes[i] += 1
    return sizes.tolist()


def make_split(
    labels: pd.DataFrame,
    method: str = "random",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_column: str = "group",
) -> pd.DataFrame:
    """Assign every ``video_id`` of ``labels`` to train / val / test.

    Returns a DataFrame ``[video_id, split]`` in the row order of ``labels``; the same
    labels, method, fractions and seed always give the same split. Raises ValueError
    for duplicate ids, an unknown method, bad fractions, too few videos/groups for the
    non-empty splits, missing groups, or (``given``) a missing/invalid ``split`` column.
    """
    if "video_id" not in labels.columns:
        raise ValueError(f"labels need a 'video_id' column; found {list(labels.columns)}")
    ids = labels["video_id"].astype(str)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"duplicate video ids in labels: {dup[:5]}")
    if method not in METHODS:
        raise ValueError(f"unknown split method {method!r}; use one of {list(METHODS)}")
    if method == "given":
        split = _given_split(labels)
        if group_column in labels.columns:
            leaked = group_leakage(labels, split, group_column)
            if leaked:
                log.warning(
                    "given split: %d %r value(s) appear in more than one split (leakage between "
                    "train/val/test): %s",
                    len(leaked),
                    group_column,
                    ", ".join(leaked[:20])
                    + (f" (+{len(leaked) - 20} more)" if len(leaked) > 20 else ""),
                )
        return split
    f = _check_fractions(fractions)
    needed = int((f > 0).sum())
    if method == "random":
        if len(ids) < needed:
            raise ValueError(f"{len(ids)} video(s) cannot fill {needed} non-empty splits")
        order = np.random.default_rng(seed).permutation(np.sort(ids.to_numpy()))
        sizes = split_sizes(len(ids), f)
        bounds = np.cumsum([0, *sizes])
        assign = {
            vid: SPLITS[k] for k in range(len(SPLITS)) for vid in order[bounds[k] : bounds[k + 1]]
        }
    else:
        assign = _group_assign(labels, ids, f, seed, group_column)
    return pd.DataFrame({"video_id": ids.to_numpy(), "split": [assign[v] for v in ids]})


def group_leakage(
    labels: pd.DataFrame, split_df: pd.DataFrame, group_column: str = "group"
) -> list[str]:
    """Groups (values of ``group_column`` in ``labels``) with videos in several splits, sorted.

    ``split_df``: ``[video_id, split]``. Videos without a group value, or absent from
    either table, are ignored; labels without ``group_column`` give ``[]``.
    """
    if group_column not in labels.columns:
        return []
    g = labels[["video_id", group_column]].copy()
    g["video_id"] = g["video_id"].astype(str)
    g = g[g[group_column].notna() & (g[group_column].astype(str).str.strip() != "")]
    g[group_column] = g[group_column].astype(str)
    s = split_df[["video_id", "split"]].copy()
    s["video_id"] = s["video_id"].astype(str)
    merged = g.merge(s, on="video_id", how="inner")
    n_splits = merged.groupby(group_column)["split"].nunique()
    return sorted(n_splits.index[n_splits > 1].tolist())


def _given_split(labels: pd.DataFrame) -> pd.DataFrame:
    if "split" not in labels.columns:
        raise ValueError("split method 'given' needs a 'split' column in labels.csv")
    split = labels["split"]
    bad = labels.loc[~split.isin(SPLITS), "video_id"].tolist()
    if bad:
        raise ValueError(
            f"'split' column must be one of {list(SPLITS)} on every row; bad/missing for {bad[:5]}"
            + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else "")
        )
    return pd.DataFrame(
        {
            "video_id": labels["video_id"].astype(str).to_numpy(),
            "split": split.astype(str).to_numpy(),
        }
    )


def _group_assign(
    labels: pd.DataFrame, ids: pd.Series, f: np.ndarray, seed: int, group_column: str
) -> dict[str, str]:
    """Greedy least-squares packing of shuffled groups + local search (see module docstring)."""
    if group_column not in labels.columns:
        raise ValueError(
            f"group split needs a {group_column!r} column in labels; found {list(labels.columns)}"
        )
    groups = labels[group_column]
    empty = groups.isna() | (groups.astype(str).str.strip() == "")
    if empty.any():
        bad = ids[empty].tolist()
        raise ValueError(
            f"{int(empty.sum())} video(s) have no {group_column!r} value, e.g. {bad[:5]}"
        )
    groups = groups.astype(str)
    sizes_by_group = groups.value_counts()
    names = np.sort(sizes_by_group.index.to_numpy())
    needed = [k for k in range(len(SPLITS)) if f[k] > 0]
    if len(names) < len(needed):
        raise ValueError(
            f"only {len(names)} distinct {group_column!r} value(s) for {len(needed)} non-empty "
            "splits; "
            f"a group split needs at least one group per split (use method: random, or more groups)"
        )
    names = np.random.default_rng(seed).permutation(names)
    gsize = np.array([int(sizes_by_group[g]) for g in names])
    target = f * len(ids)
    where = np.full(len(names), -1)
    count = np.zeros(len(SPLITS))
    for i, size in enumerate(gsize):
        empty_splits = [k for k in needed if count[k] == 0]
        if len(names) - i <= len(empty_splits):
            k = max(empty_splits, key=lambda s: (target[s] - count[s], -s))
        else:
            k = max(needed, key=lambda s: (target[s] - count[s], -s))
        where[i] = k
        count[k] += size
    _improve(where, gsize, count, target, needed)
    group_split = {g: SPLITS[where[i]] for i, g in enumerate(names)}
    return {vid: group_split[g] for vid, g in zip(ids, groups)}


def _improve(
    where: np.ndarray,
    gsize: np.ndarray,
    count: np.ndarray,
    target: np.ndarray,
    needed: list[int],
    max_rounds: int = 10_000,
) -> None:
    """Local search in place: best single move or pairwise swap lowering ``sum (count - target)^2``.

    With ``e = count - target``, moving a group of size g from split a to b changes the
    squared error by ``2g(e_b - e_a) + 2g^2``; swapping groups i (in a) and j (in b),
    ``d = g_j - g_i``, changes it by ``2d(e_a - e_b) + 2d^2``. Splits never become empty.
    """
    n_split = len(SPLITS)
    allowed = np.zeros(n_split, dtype=bool)
    allowed[needed] = True
    g = gsize.astype(np.float64)
    for _ in range(max_rounds):
        e = count - target
        n_groups = np.bincount(where, minlength=n_split)
        # moves: (G, S) change in squared error
        move = 2 * g[:, None] * (e[None, :] - e[where][:, None]) + 2 * g[:, None] ** 2
        move[np.arange(len(where)), where] = np.inf
        move[:, ~allowed] = np.inf
        move[n_groups[where] <= 1, :] = np.inf
        # swaps: (G, G) change in squared error
        d = g[None, :] - g[:, None]
        ea, eb = e[where][:, None], e[where][None, :]
        swap = 2 * d * (ea - eb) + 2 * d**2
        swap[where[:, None] == where[None, :]] = np.inf
        swap = np.triu(swap, 1) + np.tril(np.full_like(swap, np.inf))
        i_m, k_m = np.unravel_index(np.argmin(move), move.shape)
        i_s, j_s = np.unravel_index(np.argmin(swap), swap.shape)
        best_move, best_swap = move[i_m, k_m], swap[i_s, j_s]
        if min(best_move, best_swap) >= -1e-9:
            return
        if best_move <= best_swap:
            count[where[i_m]] -= gsize[i_m]
            count[k_m] += gsize[i_m]
            where[i_m] = k_m
        else:
            a, b = where[i_s], where[j_s]
            count[a] += gsize[j_s] - gsize[i_s]
            count[b] += gsize[i_s] - gsize[j_s]
            where[i_s], where[j_s] = b, a


def write_split(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``[video_id, split]`` atomically (validated first)."""
    _validate_split_frame(df, str(path))
    write_csv(path, df[["video_id", "split"]])
    return Path(path)


def read_split(path: str | os.PathLike) -> pd.DataFrame:
    """Read a split file, checking columns, values and unique ids (ValueError naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"split file not found: {path} (run `tqa split` / `dvc repro split`)"
        )
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    _validate_split_frame(df, str(path))
    return df[["video_id", "split"]].reset_index(drop=True)


def _validate_split_frame(df: pd.DataFrame, where: str) -> None:
    absent = [c for c in ("video_id", "split") if c not in df.columns]
    if absent:
        raise ValueError(f"{where}: missing column(s) {absent}; found {list(df.columns)}")
    bad = df.index[~df["split"].isin(SPLITS)].tolist()
    if bad:
        raise ValueError(
            f"{where}: split must be one of {list(SPLITS)}; bad value(s) "
            f"{df.loc[bad[:5], 'split'].tolist()} for {df.loc[bad[:5], 'video_id'].tolist()}"
        )
    dup = df["video_id"][df["video_id"].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"{where}: duplicate video ids {dup[:5]}")


def split_ids(split: pd.DataFrame, name: str) -> list[str]:
    """The ids of one split (``train`` / ``val`` / ``test``), in file order."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; use one of {list(SPLITS)}")
    return split.loc[split["split"] == name, "video_id"].tolist()


def summarize_split(
    split: pd.DataFrame, labels: pd.DataFrame | None = None, group_column: str = "group"
) -> pd.DataFrame:
    """Per split: n videos, share, and (when labels carry groups) n groups."""
    rows = []
    n = len(split)
    groups = None
    if labels is not None and group_column in labels.columns:
        groups = split.merge(labels[["video_id", group_column]], on="video_id", how="left")
    for name in SPLITS:
        m = split["split"] == name
        row = {"split": name, "n": int(m.sum()), "fraction": float(m.sum() / n) if n else math.nan}
        if groups is not None:
            row["n_groups"] = int(groups.loc[groups["split"] == name, group_column].nunique())
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """``tqa split [--labels CSV] [--out PATH] [--method M] [--params P] [-S k=v]``.

    Needs only the labels (no video files: a dataset of labels + a feature table is
    split like any other). Bad input: one line on stderr, exit 1.
    """
    ap = argparse.ArgumentParser(
        prog="tqa split", description="Write the train/val/test split file."
    )
    ap.add_argument("--labels", default=None, help="labels.csv or its folder (default: data.root)")
    ap.add_argument("--out", default=None, help="output CSV (default: split.out)")
    ap.add_argument("--method", default=None, choices=METHODS, help="override split.method")
    add_params_arguments(ap)
    args = ap.parse_args(argv)
    try:
        params = params_from_args(args)
        sp = params["split"]
        root = cli_path(args.labels) or resolve(params["data"]["root"])
        ds = load_dataset(root, params, check_media=False, check_files=False, progress=False)
        if not ds.ok:
            log.warning(
                "%d problem(s) in the labels; those rows are left out of the split "
                "(run `tqa validate` for the list)",
                len(ds.problems),
            )
        method = args.method or sp.get("method", "random")
        warn = split_column_warning(ds.labels, {"split": {**sp, "method": method}})
        if warn:
            raise ValueError(warn)
        group_column = sp.get("group_column", "group")
        df = make_split(
            ds.labels, method, sp.get("fractions", (0.8, 0.1, 0.1)), int(params.get("seed", 0)),
            group_column,
        )  # fmt: skip
        out = cli_path(args.out) or resolve(sp.get("out", "data/split.csv"))
        write_split(df, out)
    except (ParamsError, DataError, ValueError) as exc:
        print(f"ERROR: tqa split: {exc}", file=sys.stderr)
        return 1
    summary = summarize_split(df, ds.labels, group_column)
    print(
        f"wrote {out} ({method} split, seed {params.get('seed')}; labels only, no video files "
        f"needed): " + ", ".join(f"{r.split}={r.n}" for r in summary.itertuples())
    )
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(main())
