"""`tqa bundle` (``python -m tqa.serve.bundle``): package a saved fit as a scoring bundle.

The bundle's files and format are described in :mod:`tqa.serve.bundle_format`; it is
written by :mod:`tqa.serve.bundle_save`, loaded and checked against the installed extractors
by :mod:`tqa.serve.bundle_load`. This module picks the fit, the extractor descriptions and
the training provenance a bundle records, and is the command of the DVC ``bundle`` stage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from tqa.core.params import (
    ParamsError,
    add_params_arguments,
    cli_path,
    display_path,
    params_from_args,
    resolve,
)
from tqa.core.schema import LABEL_COUNTS_FILE, TASKS
from tqa.features import pipeline
from tqa.features.cache import cache_file, cached_ids, load_feature_set, read_meta
from tqa.features.config import config_hash_from_params
from tqa.features.tables import features_for_training
from tqa.model.training import load_fit
from tqa.serve.bundle_format import BundleError
from tqa.serve.bundle_load import load_bundle, read_manifest
from tqa.serve.bundle_save import save_bundle
from tqa.serve.stack_bundle import BUNDLE_MODELS, cv_scores, fit_stack

#: load_bundle: notebooks/10_score_your_videos.py imports it from here.
__all__ = ["bundle_from_fit", "load_bundle", "main"]

log = logging.getLogger(__name__)


def bundle_from_fit(
    fit_dir: str | Path,
    params: dict,
    out_dir: str | Path,
    features: Any = None,
    extra: dict | None = None,
    model: str = "chapter",
) -> Path:
    """Bundle a fit saved by ``tqa.model.training`` in ``fit_dir``.

    model: ``chapter`` (the Transformer alone) or ``stack`` (tqa's default model: the fit
    stacked with pooled-feature regressors, :mod:`tqa.serve.stack_bundle`; reads the
    training data of ``params``).

    features: where the extractor descriptions come from — a FeatureSet, a
    FeatureExtractor or a dict; default: the feature table when ``byo.features_table``
    is set, else one cached video of ``features.cache_dir`` made with the current feature
    configuration (see :func:`_default_descriptions`), else the configured
    extractors (``FeatureExtractor(params)``).
    """
    fit = load_fit(fit_dir)
    if features is None:
        features = _default_descriptions(params)
    info = _training_info(fit_dir, params)
    stack = None
    if model == "stack":
        stack, stack_info = fit_stack(fit, fit.strategy, int(fit.seed), params)
        info.update(stack_info)
        info["cv_scores"] = cv_scores()
    elif model != "chapter":
        raise ValueError(f"score.bundle_model must be one of {BUNDLE_MODELS}, got {model!r}")
    info.update(extra or {})
    return save_bundle(fit, params, features, out_dir, extra=info, stack=stack)


def _training_info(fit_dir: str | Path, params: dict) -> dict:
    """What the fit was trained on: data, its metrics and label counts when saved beside it."""
    info: dict[str, Any] = {
        "training_data": {
            "root": params.get("data", {}).get("root"),
            "features_table": (params.get("byo") or {}).get("features_table"),
            "fit_dir": display_path(fit_dir),  # repository-relative: no machine paths
        }
    }
    metrics = Path(fit_dir) / "metrics.json"
    if metrics.exists():
        info["metrics"] = json.loads(metrics.read_text(encoding="utf-8"))
    counts = Path(fit_dir) / LABEL_COUNTS_FILE
    if counts.exists():  # written by tqa.study.runs next to the fit
        n = json.loads(counts.read_text(encoding="utf-8")).get("train_labels", {})
        info["train_label_counts"] = n
        info["trained_heads"] = [t for t in TASKS if int(n.get(t, 0)) > 0]
    return info


def _default_descriptions(params: dict) -> Any:
    """Extractor descriptions for a bundle of a fit trained on ``params``' features.

    The feature table when ``byo.features_table`` is set; else the first cache file of
    ``features.cache_dir`` made with the CURRENT feature configuration (its meta
    ``config_hash`` equals the hash of ``params['features']``; stale files of an earlier
    configuration are skipped); else, with no cache at all, the configured extractors.
    A cache that holds only files of other configurations is an error (the fit cannot have
    been trained on the current configuration's features).
    """
    if (params.get("byo") or {}).get("features_table"):
        return features_for_training(params)

    cache = resolve(params["features"]["cache_dir"])
    ids = cached_ids(cache)
    if not ids:
        return pipeline.FeatureExtractor(params)
    current = config_hash_from_params(params)
    seen: dict[str, int] = {}
    for vid in ids:
        try:
            meta = read_meta(cache_file(cache, vid))
        except Exception as exc:  # noqa: BLE001 - an unreadable file is skipped
            log.warning("%s: unreadable cache file skipped (%s)", cache_file(cache, vid), exc)
            continue
        h = str(meta.get("config_hash"))
        seen[h] = seen.get(h, 0) + 1
        if h == current and meta.get("extractors"):
            return load_feature_set(cache, [vid])
    found = ", ".join(f"{h} ({n} file(s))" for h, n in sorted(seen.items()))
    raise BundleError(
        f"feature cache {cache} has no file made with the current feature configuration "
        "(config_hash "
        f"{current}; found {found or 'no readable file'}): the fit cannot be described from it. "
        "Re-run "
        "`tqa extract` (and retrain) with the current params, or pass the extractor descriptions "
        "explicitly "
        "(bundle_from_fit(..., features=FeatureExtractor_or_FeatureSet))."
    )


def main(argv: list[str] | None = None) -> int:
    """``tqa bundle [--fit DIR] [--out DIR] [--features TABLE...] [--params P] [-S k=v]``."""
    args = _parser().parse_args(argv)
    try:
        out = _bundle_from_args(args)
    except (ParamsError, BundleError, FileNotFoundError, ValueError) as exc:
        print(f"ERROR: tqa bundle: {exc}", file=sys.stderr)
        return 1
    man = read_manifest(out)
    heads = man.get("trained_heads")
    print(
        f"wrote {out} (model: {man.get('model')}"
        + (f"; trained heads: {', '.join(heads)}" if heads is not None else "")
        + ")"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    """The ``tqa bundle`` command line."""
    ap = argparse.ArgumentParser(
        prog="tqa bundle", description="Package a trained model as a scoring bundle."
    )
    ap.add_argument(
        "--fit",
        default=None,
        help="fit directory from `tqa train` "
        "(default: <train.out_dir>/<score.bundle_strategy>/seed<score.bundle_seed>)",
    )
    ap.add_argument("--out", default=None, help="bundle directory (default: score.bundle_dir)")
    ap.add_argument(
        "--features",
        default=None,
        nargs="+",
        metavar="TABLE",
        help="the bring-your-own feature table(s) the fit was trained on (default: "
        "byo.features_table, else the extraction cache)",
    )
    ap.add_argument(
        "--model",
        default=None,
        choices=BUNDLE_MODELS,
        help="stack: tqa's default model (the fit stacked with pooled-feature regressors); "
        "chapter: the Transformer alone (default: score.bundle_model)",
    )
    add_params_arguments(ap)
    return ap


def _bundle_from_args(args: argparse.Namespace) -> Path:
    """Bundle the fit the command line (or params' ``score.bundle_*``) names."""
    params = params_from_args(args)
    if args.features:
        params.setdefault("byo", {})["features_table"] = [str(cli_path(f)) for f in args.features]
    sp = params.get("score", {})
    fit_dir = cli_path(args.fit) or (
        resolve(params["train"]["out_dir"])
        / str(sp.get("bundle_strategy", "fixed"))
        / f"seed{sp.get('bundle_seed', 0)}"
    )
    return bundle_from_fit(
        fit_dir,
        params,
        cli_path(args.out) or resolve(sp.get("bundle_dir", "models/bundle")),
        model=str(args.model or sp.get("bundle_model", "stack")),
    )


if __name__ == "__main__":
    raise SystemExit(main())
