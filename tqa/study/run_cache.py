"""The study run cache: where finished fits are kept and the key that finds them again.

A run is one trained model's predictions for (params, inputs, strategy, seed).
``<results_dir>/runs/<run_key>.csv`` (+ ``.json``, written last: its presence marks a
complete run) is shared by every study and by the training stage (``record_fit``), so the
same effective configuration is trained once. The caches persist between `dvc repro`
runs, so the key covers everything that determines a fit: the params sections a fit reads
(of ``weighting`` only the chosen strategy's own sub-section, no runtime knobs), a content
fingerprint of the inputs, the strategy, the seed, and the source of ``tqa/model``.

Its own module (not ``studies``) so that the training stages depend on the key and the
store only, not on the study runners' table code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tqa.core.atomic import write_csv, write_json
from tqa.core.params import params_hash, resolve, without_runtime
from tqa.core.schema import TASKS, FeatureSet
from tqa.core.version import code_fingerprint
from tqa.study.metrics import FIT_METRIC_DECIMALS

#: params sections that determine a trained model (part of every run key). ``weighting``
#: is hashed separately: only the chosen strategy's own sub-section (see :func:`run_key`).
_RUN_SECTIONS: tuple[str, ...] = (
    "data",
    "features",
    "split",
    "preprocess",
    "model",
    "train",
    "byo",
)
#: keys of ``train`` that do not change a run's result (so adding a seed keeps old runs); the
#: machine knobs (device, threads, workers, ...) are the params' runtime section, left out too.
_RUN_IGNORED_TRAIN_KEYS: frozenset[str] = frozenset({"seeds", "out_dir"})


# --------------------------------------------------------------------------- store
class ResultsStore:
    """One study's CSV of finished runs (atomic rewrite per append), plus the run cache.

    The run cache ``<results_dir>/runs/<run_key>.csv`` (+ ``.json`` with fit time and
    epochs, written last: its presence marks a complete run) is shared by all studies,
    so the same effective configuration (e.g. the ablation "full" model and the main
    strategy of the strategy comparison, same seed) is trained once.
    """

    def __init__(
        self, results_dir: str | Path, study: str, reuse: Sequence[str | Path] = ()
    ) -> None:
        self.dir = Path(results_dir)
        self.study = study
        self.path = self.dir / f"{study}.csv"
        self.run_dir = self.dir / "runs"
        #: run caches of other folders (e.g. another DVC stage's output) read, never written
        self.reuse_run_dirs = [Path(d) / "runs" for d in reuse if Path(d) != self.dir]

    def load(self) -> pd.DataFrame:
        return _read_table(self.path)

    def append(self, rows: pd.DataFrame) -> None:
        """Add rows; earlier rows of the same (run_key, config) are replaced.

        Metric values are stored to :data:`TABLE_DECIMALS` decimals (those behind an iterative
        fit to :data:`tqa.study.metrics.FIT_METRIC_DECIMALS`): the same predictions scored in
        two processes can differ in the last bit (numpy's SIMD reductions depend on memory
        alignment), a logistic fit amplifies that to ~1e-7, and the table is a DVC output."""
        floats = rows.select_dtypes("float").columns
        rows = rows.assign(
            **{c: rows[c].round(FIT_METRIC_DECIMALS.get(c, TABLE_DECIMALS)) for c in floats}
        )
        old = self.load()
        new_ids = set(zip(rows["run_key"].astype(str), rows["config"].astype(str)))
        _USED_ROWS.setdefault(self.path.resolve(), set()).update(new_ids)
        if not old.empty and {"run_key", "config"} <= set(old.columns):
            keep = [
                (k, c) not in new_ids
                for k, c in zip(old["run_key"].astype(str), old["config"].astype(str))
            ]
            old = old[keep]
        new = rows if old.empty else pd.concat([old, rows], ignore_index=True)
        write_csv(self.path, new)

    def run_path(self, run_key: str) -> Path:
        return self.run_dir / f"{run_key}.csv"

    def save_run(
        self,
        run_key: str,
        video_ids: Sequence[str],
        split: np.ndarray,
        pred: np.ndarray,
        info: dict,
    ) -> None:
        df = pd.DataFrame(pred, columns=list(TASKS))
        df.insert(0, "split", split)
        df.insert(0, "video_id", list(video_ids))
        write_csv(self.run_path(run_key), df)  # full precision: reused runs are re-scored
        write_json(self.run_path(run_key).with_suffix(".json"), info)
        _USED_RUNS.setdefault(self.run_dir.resolve(), set()).add(run_key)

    def load_run(self, run_key: str, video_ids: Sequence[str]) -> tuple[np.ndarray, dict] | None:
        """``(pred (N, 5) in video_ids order, info)`` of a complete cached run, else None.

        Looks in this store's run cache, then in the ``reuse`` folders' (read-only)."""
        for run_dir in [self.run_dir, *self.reuse_run_dirs]:
            path = run_dir / f"{run_key}.csv"
            info_path = path.with_suffix(".json")
            if path.exists() and info_path.exists():
                _USED_RUNS.setdefault(run_dir.resolve(), set()).add(run_key)
                break
        else:
            return None
        # round_trip: pandas' default fast parser is off by one ulp on ~15 % of the values, so a
        # reused run scored differently from the fresh one (a logistic-fit metric moved 0.02)
        df = pd.read_csv(path, dtype={"video_id": str}, float_precision="round_trip")
        df = df.set_index("video_id")
        if not set(video_ids) <= set(df.index):
            return None
        return df.loc[list(video_ids), list(TASKS)].to_numpy(float), json.loads(
            info_path.read_text(encoding="utf-8")
        )


#: Decimals of the metric values in a study table (far below any meaningful difference).
TABLE_DECIMALS = 10

#: What this process used, for :func:`prune_unused`: run keys saved or read per run folder,
#: and (run_key, config) rows appended per study table.
_USED_RUNS: dict[Path, set[str]] = {}
_USED_ROWS: dict[Path, set[tuple[str, str]]] = {}


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    # round_trip: a row re-read and rewritten by every later append keeps its exact values
    return pd.read_csv(
        path,
        dtype={"run_key": str, "config": str, "strategy": str},
        float_precision="round_trip",
    )


def prune_unused(folder: str | Path) -> tuple[int, int]:
    """Drop from a study folder what this process did not use: run files it neither saved
    nor read, study-table rows it did not append, leftover temporary files. Returns
    ``(runs removed, rows removed)``.

    A DVC stage's run cache persists between runs (so an interrupted stage resumes), but
    the folder is also the stage's output: without this it would hold every earlier run of
    the checkout and differ between two clones that computed the same study. Call it once,
    at the end of a stage that finished.
    """
    folder = Path(folder).resolve()
    runs = folder / "runs"
    used = _USED_RUNS.get(runs, set())
    n_runs = 0
    for f in sorted(runs.iterdir()) if runs.is_dir() else []:
        stale_temp = f.name.startswith(".")
        if stale_temp or (f.suffix in (".csv", ".json") and f.stem not in used):
            f.unlink()
            n_runs += not stale_temp and f.suffix == ".json"
    n_rows = 0
    for table in sorted(folder.glob("*.csv")):
        df = _read_table(table)
        if df.empty or not {"run_key", "config"} <= set(df.columns):
            continue
        rows = _USED_ROWS.get(table, set())
        keep = [(k, c) in rows for k, c in zip(df["run_key"].astype(str), df["config"].astype(str))]
        n_rows += len(keep) - sum(keep)
        if not any(keep):
            table.unlink()
        elif not all(keep):
            write_csv(table, df[keep])
    return n_runs, n_rows


def results_dir(params: dict) -> Path:
    """Folder the studies write their results and run cache to (``eval.results_dir``)."""
    return resolve(params.get("eval", {}).get("results_dir", "reports/studies"))


def reuse_dirs(params: dict) -> list[Path]:
    """Result folders whose finished runs are reused read-only (``eval.reuse_results_dirs``)."""
    return [resolve(d) for d in params.get("eval", {}).get("reuse_results_dirs") or []]


def use_results(
    params: dict, write_dir: str | Path | None, reuse: Sequence[str] | None = None
) -> None:
    """Point the studies of ``params`` (in place) at ``write_dir``, reusing ``reuse`` read-only.

    Each DVC stage writes its own folder (one writer per file) and declares the folders it
    reuses as dependencies. ``write_dir=None`` (a manual run): ``eval.results_dir`` itself,
    which no stage writes; ``reuse=None``: every existing sub-folder of it (the stages'
    folders), so a manual run retrains nothing the pipeline has and overwrites none of it.
    """
    ev = params.setdefault("eval", {})
    if reuse is None:
        root = results_dir(params)
        found = sorted(root.glob("*/runs")) if root.is_dir() else []
        reuse = [str(d.parent) for d in found if d.is_dir()]
    if write_dir is not None:
        ev["results_dir"] = str(resolve(write_dir))
    ev["reuse_results_dirs"] = [str(d) for d in reuse]


def run_key(params: dict, inputs_hash: str, strategy: str, seed: int) -> str:
    """Hash of everything that determines one trained model's predictions: the params that
    reach a fit, the inputs, strategy, seed, and the source of ``tqa/model`` (the run caches
    persist between `dvc repro` runs, and a params-only key returned stale fits after a code
    edit).

    The configuration's display name is not part of it: two studies asking for the same
    effective params, strategy and seed share one run.
    """
    computed = without_runtime(params)
    secs = {s: computed.get(s) for s in _RUN_SECTIONS}
    if isinstance(secs.get("split"), dict):  # the study protocol does not change one fit
        secs["split"] = {k: v for k, v in secs["split"].items() if k != "protocol"}
    if isinstance(secs.get("train"), dict):
        secs["train"] = {k: v for k, v in secs["train"].items() if k not in _RUN_IGNORED_TRAIN_KEYS}
    secs["weighting"] = strategy_section(params.get("weighting"), strategy)
    return params_hash(
        {
            "sections": secs,
            "inputs": inputs_hash,
            "strategy": strategy,
            "seed": int(seed),
            "code": code_fingerprint("tqa.model"),  # an edited model retrains
        }
    )


def strategy_section(weighting: Any, strategy: str) -> Any:
    """The part of ``params['weighting']`` that strategy ``strategy`` reads.

    As :func:`tqa.model.weighting.get_weighting`: its own sub-section when it has one, else the
    section's scalar keys (``strategies`` and the other strategies' sub-sections left out),
    so adding or changing another strategy does not change this strategy's run keys.
    """
    if not isinstance(weighting, dict):
        return weighting
    own = weighting.get(strategy)
    if isinstance(own, dict):
        return {"own": own}
    return {
        "shared": {
            k: v for k, v in weighting.items() if k != "strategies" and not isinstance(v, dict)
        }
    }


def inputs_hash(fs: FeatureSet, labels: np.ndarray, split: np.ndarray) -> str:
    """Hash of ids, labels, split and a content hash of the features
    (:func:`features_fingerprint`): two FeatureSets with the same ids and widths but any
    value different are different inputs."""
    return params_hash(
        {
            "ids": list(fs.video_ids),
            "labels": np.round(np.asarray(labels, float), 6).tolist(),
            "split": [str(s) for s in split],
            "dims": {m: a.shape[1:] for m, a in fs.streams.items()},
            "features": features_fingerprint(fs),
        }
    )


#: Videos hashed per chunk by :func:`features_fingerprint` (bounds its temporary copy).
_HASH_CHUNK = 64


def _array_sha1(a: np.ndarray) -> str:
    """SHA-1 of ``a`` as C-ordered float32 bytes, every NaN written as the one quiet NaN and
    -0.0 as 0.0 (the same values give the same digest whatever produced them)."""
    h = hashlib.sha1(str(a.shape).encode())
    for i in range(0, max(len(a), 1), _HASH_CHUNK):
        chunk = np.ascontiguousarray(a[i : i + _HASH_CHUNK], dtype=np.float32) + np.float32(0.0)
        chunk[np.isnan(chunk)] = np.float32("nan")
        h.update(chunk.tobytes())
    return h.hexdigest()


def features_fingerprint(fs: FeatureSet) -> dict[str, str]:
    """SHA-1 of every stream's values and of the sync array (:func:`_array_sha1`).

    A content hash, not a summary: until 2026-12-07 this was each column's mean over videos
    and frames rounded to 6 decimals, which could not tell apart two feature caches that
    differ in a few values (one landmark moved by 1e-3 in one frame moves its column mean
    by ~3e-8) and so reused Transformer runs trained on the other cache
    (docs/evaluation.md, the fresh-clone row of 2026-12-06). One pass over (N, T, D), in
    chunks of videos: ~0.7 s for the sample corpus's 58 M values."""
    out = {"sync": _array_sha1(np.asarray(fs.sync))}
    for m in sorted(fs.streams):
        out[m] = _array_sha1(np.asarray(fs.streams[m]))
    return out


# --------------------------------------------------------------------------- one run
def record_fit(
    result: Any,
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    params: dict,
    seconds: float | None = None,
) -> str:
    """Enter a fit trained outside the studies (notebook 05, ``tqa train``) in the run cache.

    The key is the one :func:`run_one` computes for (params, strategy, seed), so the
    strategy comparison, ablation "full" model and error analysis reuse it untrained.
    """
    store = ResultsStore(results_dir(params), "strategy", reuse_dirs(params))
    key = run_key(params, inputs_hash(fs, labels, split), result.strategy, int(result.seed))
    pred = np.asarray(result.predict(fs), dtype=float)
    history = getattr(result, "history", None)
    info = {
        "epochs": int(len(history)) if history is not None else -1,
        "strategy": result.strategy,
        "seed": int(result.seed),
        "overrides": {},
        "recorded_from": "tqa.model.training",
    }
    store.save_run(key, fs.video_ids, split, pred, info)
    return key
