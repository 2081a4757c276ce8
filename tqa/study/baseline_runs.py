"""Baseline predictions of one split, kept in the shared run cache.

The k-fold engine (:mod:`tqa.study.crossval`), the stacked model's pooled components
(:mod:`tqa.study.stack_runs`) and the diagnosis (:mod:`tqa.study.learning_curve`) key a
baseline run the same way (:func:`baseline_runs`), so a run of ``tqa cv`` on the same data
and folds is reused by the others, and vice versa.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from tqa.core.params import merged, params_hash
from tqa.core.schema import FeatureSet
from tqa.core.version import code_fingerprint
from tqa.study.baselines import BASELINE_CODE, baseline_params, run_baselines
from tqa.study.pooled import task_inputs
from tqa.study.run_cache import ResultsStore

T = TypeVar("T")

#: One split's baseline runs to fit ahead: (names, split (N,), seed, fold hash, params).
BaselineJob = tuple[list[str], np.ndarray, int, str, dict]


def fold_hash(base: str, split: np.ndarray) -> str:
    """The inputs hash of one split: the inputs hash ``base`` and the split (run keys)."""
    return params_hash({"inputs": base, "split": np.asarray(split).tolist()})


def baseline_runs(
    names: list[str],
    fs: FeatureSet,
    labels: np.ndarray,
    split: np.ndarray,
    meta: pd.DataFrame,
    params: dict,
    seed: int,
    fhash: str,
    store: ResultsStore | None,
) -> dict[str, np.ndarray]:
    """(N, 5) per baseline for one fold; cached ones loaded, the others fitted together.

    A run's key: the baseline, ``fhash`` (:func:`fold_hash`), the baseline and data params,
    the seed and the source of :data:`tqa.study.baselines.BASELINE_CODE` (an edit refits).
    """
    p = merged(params, {"seed": int(seed)})
    keys = {
        n: params_hash(
            {
                "baseline": n,
                "inputs": fhash,
                "eval.baselines": baseline_params(p),
                "data": p.get("data"),
                "seed": int(seed),
                "code": code_fingerprint(*BASELINE_CODE),
            }
        )
        for n in names
    }
    out: dict[str, np.ndarray] = {}
    for n in names:
        cached = store.load_run(keys[n], fs.video_ids) if store is not None else None
        if cached is not None:
            out[n] = cached[0]
    todo = [n for n in names if n not in out]
    if todo:
        fresh = run_baselines(fs, labels, split, p, names=todo, meta=meta)
        for n, pred in fresh.items():
            out[n] = np.asarray(pred, dtype=float)
            if store is not None:  # no timings: the run cache is a DVC output (byte-stable)
                info = {"baseline": n, "seed": int(seed)}
                store.save_run(keys[n], fs.video_ids, split, out[n], info)
    return out


def prefit_baseline_runs(
    jobs: Sequence[BaselineJob],
    fs: FeatureSet,
    labels: np.ndarray,
    meta: pd.DataFrame,
    store: ResultsStore,
    workers: int,
    progress: bool = True,
    desc: str = "baseline fits",
) -> None:
    """Every job's :func:`baseline_runs` into the run cache, ``workers`` threads at a time
    (the tree and boosting fits release the GIL); the caller's fold loop then reads them
    back. Results are those of a serial run: each fit is seeded and runs on one BLAS thread.
    """
    if not jobs:
        return
    calls = [partial(baseline_runs, names, fs, labels, split, meta, params, seed, fhash, store)
             for names, split, seed, fhash, params in jobs]  # fmt: skip
    routes = [(names, params) for names, _, _, _, params in jobs]
    in_fit_threads(fs, routes, tqdm(calls, desc=desc, disable=not progress), workers)


def in_fit_threads(
    fs: FeatureSet,
    routes: Iterable[tuple[Sequence[str], dict]],
    calls: Iterable[Callable[[], T]],
    workers: int,
) -> list[T]:
    """The results of ``calls`` (pooled-feature fits, no arguments), ``workers`` threads at a
    time (the tree and boosting fits release the GIL), each fit on one BLAS thread; every
    (regressor names, params) of ``routes`` is pooled first, so the threads only read the
    pooled-feature cache. The k-fold's baselines and the scoring bundle's components both
    run here: the results are those of a serial loop (each fit is seeded)."""
    for names, params in routes:
        for name in names:
            task_inputs(fs, params, name)
    # one BLAS thread per fit, set here for all threads at once (threadpoolctl's limit is
    # process-wide: a thread leaving its own limit would lift the other's): two threads
    # sharing a multi-threaded BLAS changed ridge's last bits from run to run (2 of the 331
    # cached runs of a fresh clone), and so dvc.lock
    with threadpool_limits(1):
        return Parallel(n_jobs=max(1, workers), backend="threading")(
            delayed(call)() for call in calls
        )
