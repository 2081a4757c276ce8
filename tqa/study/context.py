"""The one call that opens every notebook: ``ctx = notebook_context(globals(), _declared, ...)``.

Right after the cell tagged ``parameters`` (papermill injects its values below that cell),
a notebook calls :func:`notebook_context`, which does what every notebook needs before its
own work, in this order:

1. checks the parameters (:func:`tqa.study.notebook.check_notebook_globals`: an unknown
   name, a value outside its choices, a missing ``params_path`` fail here, before any work);
2. sets up logging and loads ``params.yaml`` (or ``params_path``) with ``overrides``;
3. picks the output folder (``reports_dir``, else ``scratch/reports``) and, for a notebook
   with ``results_dir`` / ``reuse_results`` parameters, points the studies' run cache there;
4. loads the data: none (``data=None``: the notebook reads its own), the training view
   (``"training"``: features, labels and the split file; planted-signal toy data when the
   ``toy_data`` parameter is true) or the study view (``"study"``: every video under
   ``split.protocol: kfold``, the split file under ``holdout``);
5. without data, prints the provenance line (which data, which extractors).

It returns a :class:`NotebookContext`; ``ctx.show(...)`` renders the run's protocol,
provenance, methods and outputs as a Markdown cell (:mod:`tqa.study.narrative`), and a study
notebook's ``ctx.save_study_tables(...)`` writes its per-run and mean ± std tables.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from tqa.core.params import load_params
from tqa.core.schema import FeatureSet
from tqa.model.planted import planted_signal_data
from tqa.study import narrative
from tqa.study.analysis import extractor_names
from tqa.study.error_analysis import near_constant_tasks
from tqa.study.inputs import StudyInputs, load_inputs
from tqa.study.notebook import check_notebook_globals, output_dir
from tqa.study.protocol import kfold_inputs
from tqa.study.reporting import provenance, save_table
from tqa.study.run_cache import use_results
from tqa.study.studies import label_summary, mean_std_table

#: What ``data=`` may ask for.
DATA_VIEWS: tuple[str | None, ...] = (None, "training", "study")
#: Planted-signal toy data (``toy_data=True``): videos, and the provenance line it carries.
TOY_VIDEOS = 90
TOY_PROVENANCE = (
    "Data: planted-signal random features (tqa.model.training.planted_signal_data) — a "
    "smoke test, not a result."
)
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


@dataclass
class NotebookContext:
    """What a notebook's preamble gives it: params, output folder, provenance and — when it
    asked for data — features, labels (N, 5), split (N,) and per-video metadata, row-aligned."""

    params: dict
    reports: Path
    prov: str
    features: FeatureSet | None = None
    labels: np.ndarray | None = None
    split: np.ndarray | None = None
    meta: pd.DataFrame | None = None
    kind: str | None = None  # narrative.KINDS; None: the notebook loads its own data
    seeds: list[int] = field(default_factory=list)

    @property
    def kfold(self) -> bool:
        """True under ``split.protocol: kfold`` (every video scored out of fold)."""
        return self.kind == "kfold"

    @property
    def facts(self) -> narrative.RunFacts:
        """The run's countable facts (protocol, folds, seeds, videos, groups)."""
        if self.features is None:
            raise AttributeError("this notebook context loaded no data (data=None)")
        return narrative.run_facts(
            self.params,
            kind=self.kind or "split",
            n_videos=len(self.features.video_ids),
            split=self.split,
            meta=self.meta,
            seeds=self.seeds or None,
        )

    @property
    def where(self) -> str:
        """Where the metrics are measured, for captions (``out-of-fold (5-fold by group)``)."""
        return narrative.where_phrase(self.facts)

    @property
    def flat(self) -> list[str]:
        """Tasks whose test labels are near-constant (``data.near_zero_std``): shown apart."""
        test = self.split == "test"
        return near_constant_tasks(self.labels[test], self.params["data"]["near_zero_std"])

    def describe(
        self,
        methods: Sequence[str] = (),
        outputs: Sequence[str | os.PathLike] = (),
        notes: Sequence[str] = (),
    ) -> str:
        """The Markdown "this run" text (protocol, methods, provenance, outputs)."""
        return narrative.run_markdown(
            self.facts,
            provenance=self.prov,
            methods=methods,
            outputs=outputs or [self.reports],
            notes=notes,
        )

    def show(self, notes: Sequence[str] = (), **describe: Any) -> None:
        """Display :meth:`describe` (``methods``, ``outputs``, ``notes``) as Markdown; for a
        study (k-fold or holdout) also the near-constant test labels (shown apart) and the
        present labels per task and split."""
        if self.kind in ("kfold", "holdout"):
            notes = [*notes, f"Near-constant test labels (shown apart): {self.flat or 'none'}."]
        display(Markdown(self.describe(notes=notes, **describe)))
        if self.kind in ("kfold", "holdout"):
            table = label_summary(self.labels, self.split)
            display(table.pivot(index="task", columns="split", values="n"))

    def save_study_tables(
        self,
        rows: pd.DataFrame,
        summary: pd.DataFrame,
        study: str,
        names: tuple[str, str],
        unit: str = "config",
        seeds_note: str = "",
    ) -> None:
        """A study's run tables in ``reports/tables``: ``names[0]``, the metrics per run
        (``rows`` without run keys and fit times), and per metric of ``eval.table_metrics``
        ``<names[1]><metric>``, its mean ± std per task over seeds (of ``summary``). Captions:
        ``<study>: <where> ...``, ``seeds_note`` after the seeds, then the provenance."""
        save_table(
            rows.drop(columns=["run_key", "fit_seconds"], errors="ignore"),
            names[0],
            f"{study}: {self.where} metrics per run ({unit} x seed x task). {self.prov}",
            self.reports,
        )
        for metric in self.params["eval"]["table_metrics"]:
            save_table(
                mean_std_table(summary, metric),
                f"{names[1]}{metric}",
                f"{study}: {self.where} {metric} per task, mean ± std over seeds {self.seeds}"
                f"{seeds_note}. {self.prov}",
                self.reports,
            )

    def _load(self, inputs: StudyInputs) -> None:
        self.features, self.labels, self.split, self.meta = (
            inputs.features,
            inputs.labels,
            inputs.split,
            inputs.meta,
        )


def notebook_context(
    namespace: dict[str, Any],
    declared: Iterable[str],
    *,
    where: str,
    data: str | None = None,
    choices: dict[str, Iterable[Any]] | None = None,
    extractors: dict | None = None,
    holdout_seeds: str = "train.seeds",
    quiet: bool = False,
) -> NotebookContext:
    """Check the notebook's parameters, load params, data and provenance (module docstring).

    namespace / declared: the notebook's ``globals()`` and ``set(globals())`` taken at the
    end of its ``parameters`` cell. where: the notebook's name, for messages. data: one of
    :data:`DATA_VIEWS`. choices: parameter -> allowed values. extractors: the provenance's
    extractor names (default: from the loaded features, else ``params.yaml``).
    holdout_seeds: the dotted params key of the seeds a study notebook runs under
    ``split.protocol: holdout`` (under kfold: ``eval.kfold.seeds``, with its fall-backs).
    quiet: print no provenance line (a notebook that names its extractors later, from its
    feature cache or bundle, prints its own). With data, :meth:`NotebookContext.show` states
    the provenance with the run instead.
    """
    if data not in DATA_VIEWS:
        raise ValueError(f"data must be one of {list(DATA_VIEWS)}, got {data!r}")
    # names the opening cell imported (this function among them) are code, never a value
    # papermill injected: papermill injects literals only
    declared = set(declared) | {
        k for k, v in namespace.items() if isinstance(v, ModuleType) or inspect.isroutine(v)
    }
    check_notebook_globals(namespace, declared, choices=choices, paths=["params_path"], where=where)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    params = load_params(namespace.get("params_path"), namespace.get("overrides") or {})
    reports = output_dir(namespace.get("reports_dir"), "reports")
    if "results_dir" in declared:
        use_results(params, namespace.get("results_dir"), namespace.get("reuse_results"))
    ctx = NotebookContext(params, reports, provenance(params, extractors))
    if data == "training" and namespace.get("toy_data"):
        ctx.kind, ctx.prov = "toy", TOY_PROVENANCE
        ctx.features, ctx.labels, ctx.split = planted_signal_data(
            n=TOY_VIDEOS, n_frames=params["features"]["n_frames"], seed=params["seed"] % 1000
        )
        ctx.meta = pd.DataFrame({"video_id": ctx.features.video_ids})
    elif data == "training":  # as training reads them: float32 labels, the split file
        ctx.kind = "split"
        ctx._load(load_inputs(params, progress=False))
        ctx.labels = ctx.labels.astype(np.float32)
        ctx.prov = provenance(params, extractors or extractor_names(ctx.features))
    elif data == "study":
        ctx.kind = narrative.study_kind(params)
        ctx._load(kfold_inputs(params) if ctx.kfold else load_inputs(params, progress=False))
    if ctx.kind == "holdout":
        ctx.seeds = [int(s) for s in _dotted(params, holdout_seeds)]
    if ctx.features is not None:
        ctx.seeds = list(ctx.facts.seeds)
    if not quiet and ctx.features is None:  # with data, ctx.show() states it with the run
        print(ctx.prov)
    return ctx


def _dotted(params: dict, key: str) -> Any:
    value: Any = params
    for part in key.split("."):
        value = value[part]
    return value
