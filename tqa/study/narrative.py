"""What a notebook says about its run, rendered from the parameters and the data.

A notebook's static prose says what a section of the chapter does and why; everything that
can go stale — the protocol (grouped k-fold or one holdout split), folds, seeds, how many
videos and groups, which methods, where the outputs went — is a Markdown cell rendered here
at run time, so it is true of the run it sits in (``tests/test_notebook_prose.py`` keeps
counts and output paths out of the static prose). The same phrases make figure captions,
table titles and the headline description of ``reports/README.md``.

:func:`run_facts` collects the facts once; :func:`protocol_sentence`, :func:`where_phrase`
and :func:`run_markdown` turn them into words.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tqa.core.params import display_path
from tqa.study.crossval import cv_params
from tqa.study.protocol import kfold_section, protocol

#: The kinds of run a notebook describes: the study protocols of ``split.protocol``, the
#: split file the training notebooks (03-05) read, and the planted-signal toy data.
KINDS: tuple[str, ...] = ("kfold", "holdout", "split", "toy")
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class RunFacts:
    """The countable facts of one run: its kind (:data:`KINDS`), videos, groups, split
    counts, seeds, and — under k-fold — folds and the group column."""

    kind: str
    n_videos: int
    group_column: str | None = None
    n_groups: int | None = None
    split_counts: dict[str, int] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    folds: int | None = None
    val_fraction: float | None = None
    split_method: str | None = None
    split_file: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"run kind must be one of {list(KINDS)}, got {self.kind!r}")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 seed``, ``3 seeds``; ``many``: the plural when it is not ``word + "s"``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def seeds_phrase(seeds: Sequence[int]) -> str:
    """``1 seed (0)``, ``3 seeds (0, 1, 2)``."""
    seeds = [int(s) for s in seeds]
    return f"{plural(len(seeds), 'seed')} ({', '.join(map(str, seeds))})"


def split_counts(split: Sequence[str] | np.ndarray) -> dict[str, int]:
    """Videos per split part, in the order train, val, test, then any other part."""
    counts = pd.Series(np.asarray(split, dtype=object)).value_counts()
    order = [s for s in SPLITS if s in counts.index]
    order += sorted(str(s) for s in counts.index if s not in SPLITS)
    return {s: int(counts[s]) for s in order}


def count_groups(meta: pd.DataFrame | None, column: str | None) -> int | None:
    """Distinct non-empty values of ``meta[column]``; None when there is no such column."""
    if meta is None or not column or column not in meta.columns:
        return None
    values = meta[column].dropna().astype(str).str.strip()
    return int(values[values != ""].nunique())


def run_facts(
    params: dict,
    *,
    kind: str,
    n_videos: int,
    split: Sequence[str] | np.ndarray | None = None,
    meta: pd.DataFrame | None = None,
    seeds: Sequence[int] | None = None,
) -> RunFacts:
    """The facts of a run of ``kind`` from ``params`` and its data (``split``: part per
    video; ``meta``: per-video columns, the group column among them). ``seeds`` defaults to
    the protocol's: ``eval.kfold.seeds`` (with its fall-backs) under k-fold, else
    ``train.seeds``."""
    cv = cv_params(params)
    kfold = kind == "kfold"
    column = cv["group_column"] if kfold else (params.get("split") or {}).get("group_column")
    if seeds is None:
        seeds = kfold_section(params)["seeds"] if kfold else params["train"]["seeds"]
    sp = params.get("split") or {}
    return RunFacts(
        kind=kind,
        n_videos=int(n_videos),
        group_column=column,
        n_groups=count_groups(meta, column),
        split_counts=split_counts(split) if split is not None and not kfold else {},
        seeds=tuple(int(s) for s in seeds),
        folds=int(cv["folds"]) if kfold else None,
        val_fraction=float(cv["val_fraction"]) if kfold else None,
        split_method=None if kfold or kind == "toy" else sp.get("method"),
        split_file=None if kfold or kind == "toy" else sp.get("out"),
    )


def study_kind(params: dict) -> str:
    """The kind of a study notebook's run (06-09): ``split.protocol``."""
    return protocol(params)


def _videos(facts: RunFacts, parts: bool = False) -> str:
    text = plural(facts.n_videos, "video")
    if parts and facts.split_counts:
        text += f" ({_parts(facts)})"
    if facts.n_groups is not None:
        text += f", {plural(facts.n_groups, 'group')} (`{facts.group_column}`)"
    return text


def _parts(facts: RunFacts) -> str:
    return " / ".join(f"{n} {s}" for s, n in facts.split_counts.items())


def protocol_sentence(facts: RunFacts) -> str:
    """One sentence naming the protocol, its folds or split, seeds, videos and groups."""
    if facts.kind == "kfold":
        by = f"by `{facts.group_column}`" if facts.group_column else "(no grouping)"
        return (
            f"Grouped k-fold cross-validation: {plural(facts.folds or 0, 'fold')} {by} x "
            f"{seeds_phrase(facts.seeds)}, over {_videos(facts)}; every video is scored out of "
            f"fold, early stopping on a grouped {facts.val_fraction:.0%} validation part of the "
            "training folds."
        )
    if facts.kind == "toy":
        return (
            f"Planted-signal toy data: {_videos(facts, parts=True)}, "
            f"{seeds_phrase(facts.seeds)} — a smoke test, not a result."
        )
    how = f"`{facts.split_method}` split" + (
        f" by `{facts.group_column}`" if facts.split_method == "group" else ""
    )
    source = f" of `{facts.split_file}`" if facts.split_file else ""
    if facts.kind == "holdout":
        n_test = facts.split_counts.get("test", 0)
        return (
            f"One holdout split ({how}{source}): {_videos(facts, parts=True)}, x "
            f"{seeds_phrase(facts.seeds)}; metrics on the {plural(n_test, 'test video')}."
        )
    return f"The {how}{source}: {_videos(facts, parts=True)}."


def where_phrase(facts: RunFacts) -> str:
    """Where a metric was measured, for captions: ``out-of-fold (5-fold by group)`` or
    ``test split (24 videos)``."""
    if facts.kind == "kfold":
        by = f" by {facts.group_column}" if facts.group_column else ""
        return f"out-of-fold ({facts.folds}-fold{by})"
    return f"test split ({plural(facts.split_counts.get('test', 0), 'video')})"


def outputs_phrase(outputs: Sequence[str | os.PathLike]) -> str:
    """The folders and files a run wrote, repository-relative, in backticks."""
    return ", ".join(f"`{display_path(o)}`" for o in outputs)


def run_markdown(
    facts: RunFacts,
    *,
    provenance: str,
    methods: Sequence[str] = (),
    outputs: Sequence[str | os.PathLike] = (),
    notes: Sequence[str] = (),
) -> str:
    """The Markdown cell "this run": protocol, methods, data and extractors, outputs."""
    lines = [f"**This run.** {protocol_sentence(facts)}", ""]
    if methods:
        lines.append(f"- Methods: {', '.join(f'`{m}`' for m in methods)}.")
    lines.append(f"- {provenance}")
    if outputs:
        lines.append(f"- Outputs: {outputs_phrase(outputs)}.")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines)


def headline_description(params: dict) -> str:
    """What the DVC headline metrics (``metrics/<task>.json``) are, for ``reports/README.md``."""
    kind = study_kind(params)
    if kind == "kfold":
        cv = cv_params(params)
        by = f" by `{cv['group_column']}`" if cv["group_column"] else ""
        how = (
            f"pooled out-of-fold Pearson ({plural(int(cv['folds']), 'fold')}{by} x "
            f"{seeds_phrase(kfold_section(params)['seeds'])}, mean over seeds)"
        )
    else:
        how = f"test-split Pearson (mean over {seeds_phrase(params['train']['seeds'])})"
    return (
        f"Per task: the main model's {how} (`tqa_r`) with its bootstrap CI (`ci_lo`, "
        "`ci_hi`) and the best baseline by the same measure (`base`, `base_r`). All other "
        "numbers are in the tables below."
    )
