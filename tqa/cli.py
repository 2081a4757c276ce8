"""`tqa` command line: one entry point, one sub-command per stage.

Each sub-command lives in the module that does the work, as ``main(argv) -> int``,
so that ``tqa extract ...`` and ``python -m tqa.features.pipeline ...`` are the same.
"""

from __future__ import annotations

import importlib
import logging
import sys

from tqa.core.interrupt import EXIT_INTERRUPTED
from tqa.core.logs import once_per_run
from tqa.core.registry import Registry
from tqa.features.engines import ENGINES
from tqa.features.extractors.base import EXTRACTORS
from tqa.model.weighting import WEIGHTINGS
from tqa.study.baselines import BASELINES

COMMANDS: dict[str, tuple[str, str]] = {
    "corpus": ("tqa.data.corpus.build", "build the embedded synthetic sample corpus"),
    "validate": ("tqa.data.validate", "validate a dataset folder (labels.csv + videos)"),
    "import-thqa": ("tqa.data.mos_import", "convert a THQA-style MOS CSV into labels.csv"),
    "split": ("tqa.data.splits", "write the train/val/test split file"),
    "extract": ("tqa.features.extract", "extract per-frame features into the cache"),
    "train": ("tqa.study.runs", "train the cross-modal Transformer"),
    "cv": ("tqa.study.cv_command", "grouped k-fold x seeds: model vs baselines, out-of-fold"),
    "evaluate": ("tqa.study.evaluation", "evaluate trained models and write reports"),
    "bundle": ("tqa.serve.bundle", "package a trained fit as a scoring bundle"),
    "score": ("tqa.serve.scoring", "score your own videos with a trained bundle"),
    "metrics": ("tqa.serve.metrics_report", "no-reference metrics table per video and per folder"),
    "list": ("tqa.cli", "list the registered extractors, weightings, engines and baselines"),
}


def _usage() -> str:
    lines = ["usage: tqa COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`tqa COMMAND --help` for a command's options."]
    return "\n".join(lines)


def registries() -> dict[str, Registry]:
    """Every registry of the package, by family (what ``tqa list`` prints)."""
    return {
        "extractors": EXTRACTORS,
        "weightings": WEIGHTINGS,
        "engines": ENGINES,
        "baselines": BASELINES,
    }


def main_list(argv: list[str] | None = None) -> int:
    """``tqa list``: one line per registered part, grouped by family; unloadable modules named."""
    for family, reg in registries().items():
        print(f"{family}:")
        for name, obj in reg.items().items():
            extra = f"  ({obj.modality})" if family == "extractors" else ""
            print(f"  {name}{extra}")
        for what, why in reg.unavailable().items():
            print(f"  [unavailable] {what}: {why}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"tqa: unknown command {cmd!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    # --quiet: warnings and errors only, plus the command's own one-line summary
    logging.basicConfig(
        level=logging.WARNING if "--quiet" in rest else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        module = importlib.import_module(COMMANDS[cmd][0])
        entry = getattr(module, "main_" + cmd.replace("-", "_"), None) or module.main
        with once_per_run():  # a warning that applies to the whole run is printed once
            return int(entry(rest) or 0)
    except KeyboardInterrupt:  # Ctrl-C where the command has no handler of its own
        print(f"\ntqa {cmd}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
