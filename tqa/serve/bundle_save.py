"""Writing a bundle directory for a trained model: its manifest, weights and preprocessor.

The directory is written to a temporary folder beside the target and then swapped in
(:mod:`tqa.serve.bundle_swap`), so a half-written bundle never replaces a good one.
"""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from tqa.core.atomic import write_bytes, write_json
from tqa.core.params import params_hash, without_runtime
from tqa.core.schema import MODALITIES, TASKS
from tqa.core.version import __version__
from tqa.serve.bundle_extractors import descriptions_of
from tqa.serve.bundle_format import (
    BUNDLE_FORMAT,
    MANIFEST,
    PREPROCESSOR,
    SNAPSHOT_SECTIONS,
    WEIGHTS,
    inference_model_params,
)
from tqa.serve.bundle_swap import recover_dir, replace_dir
from tqa.serve.stack_bundle import STACK_FILE, write_stack

# the name `tqa bundle` has always logged under
log = logging.getLogger("tqa.serve.bundle")


def save_bundle(
    fit_result: Any,
    params: dict,
    extractor_descriptions: Any,
    out_dir: str | Path,
    extra: dict | None = None,
    stack: dict | None = None,
) -> Path:
    """Write a bundle directory for a trained model (replacing ``out_dir`` atomically).

    fit_result: a ``tqa.model.training.FitResult`` (``model``, ``preprocessor``, ``input_dims``,
    ``strategy``, ``seed``, ``best_epoch``). params: the whole params dict used for
    training. extractor_descriptions: a FeatureExtractor, the training FeatureSet, or a
    dict modality -> describe(). extra: e.g. ``{"training_data": {...}, "metrics": {...}}``
    merged into bundle.json. Only modalities the model uses are recorded (plus sync when
    ``model.use_sync``). stack: :func:`tqa.serve.stack_bundle.fit_stack`'s stack, written
    as ``stack.joblib`` (None: the Transformer alone, ``model: chapter``).
    """
    out_dir = Path(out_dir)
    manifest = _manifest(fit_result, params, extractor_descriptions, with_stack=stack is not None)
    manifest.update(extra or {})
    _write_atomically(out_dir, fit_result, manifest, stack)
    log.info(
        "wrote model bundle %s (%s)",
        out_dir,
        ", ".join(f"{m}={d['name']}" for m, d in manifest["extractors"].items()),
    )
    return out_dir


def _manifest(fit_result: Any, params: dict, extractor_descriptions: Any, with_stack: bool) -> dict:
    """bundle.json of a fit: what the model is, what it was trained on and with what."""
    descs, config_hash = descriptions_of(extractor_descriptions)
    model_params = inference_model_params(
        getattr(fit_result, "model_params", None) or params.get("model", {})
    )
    input_dims = {m: int(d) for m, d in dict(getattr(fit_result, "input_dims", {}) or {}).items()}
    used = _recorded_modalities(descs, input_dims, model_params)
    computed = without_runtime(params)  # machine knobs would make identical bundles differ
    manifest = {
        "format": BUNDLE_FORMAT,
        "tqa_version": __version__,
        "tasks": list(TASKS),
        "input_dims": input_dims,
        "model_params": model_params,
        "extractors": {m: descs[m] for m in used},
        "feature_config_hash": config_hash,
        "features_params_hash": params_hash(computed.get("features", {})),
        "params": {k: computed[k] for k in SNAPSHOT_SECTIONS if k in computed},
        "strategy": getattr(fit_result, "strategy", None),
        "seed": getattr(fit_result, "seed", None),
        "best_epoch": getattr(fit_result, "best_epoch", None),
        "files": {"weights": WEIGHTS, "preprocessor": PREPROCESSOR},
        "model": "chapter",
    }
    if with_stack:
        manifest["files"]["stack"] = STACK_FILE
    return manifest


def _recorded_modalities(
    descs: dict[str, dict], input_dims: dict[str, int], model_params: dict
) -> list[str]:
    """The modalities whose extractor the bundle records: those the model uses, plus sync."""
    dropped = set(model_params.get("drop_modalities") or [])
    used = (
        [m for m in MODALITIES if m in input_dims]
        if input_dims
        else [m for m in MODALITIES if m in descs and m not in dropped]
    )
    missing = [m for m in used if m not in descs]
    if missing:
        raise ValueError(
            f"no extractor description for modality {missing} (have {sorted(descs)}); pass the "
            "FeatureExtractor or the training FeatureSet whose meta['extractors'] describes them"
        )
    if "sync" in descs:  # the sync triple always enters the preprocessor
        used.append("sync")
    return used


def _write_atomically(out_dir: Path, fit_result: Any, manifest: dict, stack: dict | None) -> None:
    """Write the bundle to a temporary folder beside ``out_dir``, then swap it in."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write_files(tmp, fit_result, manifest, stack)
        replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_files(folder: Path, fit_result: Any, manifest: dict, stack: dict | None) -> None:
    """The bundle's files: weights, preprocessor, stack (when given), then bundle.json."""
    state = {k: v.detach().cpu() for k, v in fit_result.model.state_dict().items()}
    buf = io.BytesIO()  # a fixed archive name inside the file: identical weights, same bytes
    torch.save(state, buf)
    write_bytes(folder / WEIGHTS, buf.getvalue())
    fit_result.preprocessor.save(folder / PREPROCESSOR)
    if stack is not None:
        write_stack(folder, stack)
    write_json(folder / MANIFEST, manifest)
