"""Loading a bundle directory, and the loaded :class:`Bundle` that predicts only from the
features it was trained on (the extractor checks of :mod:`tqa.serve.bundle_extractors`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tqa.core.params import runtime_keys
from tqa.core.schema import MODALITIES, TASKS, FeatureSet
from tqa.model.preprocess import Preprocessor
from tqa.model.training import predict as model_predict
from tqa.model.transformer import build_model
from tqa.serve.bundle_extractors import describe_mismatches, mismatch_message
from tqa.serve.bundle_format import (
    BUNDLE_FORMAT,
    MANIFEST,
    PREPROCESSOR,
    WEIGHTS,
    BundleError,
    BundleMismatchError,
    inference_model_params,
)
from tqa.serve.bundle_swap import leftover_dirs, recover_dir
from tqa.serve.stack_bundle import STACK_FILE, load_stack, predict_stack

#: features.* keys that say where the scoring machine keeps its cache; with the machine knobs
#: (``runtime_keys("features")``: weight files, device, workers, ...) taken from the scoring
#: machine's params, not the bundle's.
LOCAL_FEATURE_KEYS: tuple[str, ...] = ("cache_dir",)


@dataclass
class Bundle:
    """A loaded bundle: model + preprocessor + the provenance needed to use them safely."""

    path: Path
    model: Any
    preprocessor: Any
    manifest: dict
    input_dims: dict[str, int] = field(default_factory=dict)
    stack: dict | None = None  # tqa.serve.stack_bundle: None = the Transformer alone

    @property
    def params(self) -> dict:
        """The params snapshot (features / preprocess / model sections)."""
        return self.manifest["params"]

    @property
    def extractors(self) -> dict[str, dict]:
        """modality (incl. 'sync') -> {name, modality, version, dim} the model was trained on."""
        return self.manifest["extractors"]

    @property
    def modalities(self) -> list[str]:
        return [m for m in MODALITIES if m in self.extractors]

    @property
    def trained_heads(self) -> list[str]:
        """Tasks whose head saw at least one training label (``bundle.json`` ``trained_heads``;
        bundles written before it was recorded: all five)."""
        heads = self.manifest.get("trained_heads")
        return list(TASKS) if heads is None else [t for t in TASKS if t in heads]

    @property
    def from_table(self) -> bool:
        """True when the bundle was trained on a bring-your-own feature table."""
        return any(d.get("name") == "table" for d in self.extractors.values())

    def feature_params(self, runtime: dict | None = None) -> dict:
        """Whole-params dict for ``FeatureExtractor``: the bundle's features section, with
        machine-specific keys (runtime knobs, LOCAL_FEATURE_KEYS) taken from ``runtime`` params."""
        feats = json.loads(json.dumps(self.params["features"]))
        for k in sorted(runtime_keys("features", runtime) | set(LOCAL_FEATURE_KEYS)):
            if runtime and k in (runtime.get("features") or {}):
                feats[k] = runtime["features"][k]
        out = {k: json.loads(json.dumps(v)) for k, v in self.params.items()}
        out["features"] = feats
        return out

    def check_extractors(self, installed: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse extractors that differ from the bundle's (name, version, dim, options).

        ``installed``: modality -> ``Extractor.describe()`` (e.g. from
        ``FeatureExtractor(bundle.feature_params()).extractors``) or a FeatureSet's
        ``meta['extractors']``. Raises :class:`BundleMismatchError` listing every mismatch.
        """
        self._refuse(describe_mismatches(self.extractors, installed))

    def check_features(self, fs: FeatureSet) -> None:
        """Refuse a FeatureSet lacking a modality of the model or of another width."""
        problems = []
        for m in self.modalities:
            want = self.extractors[m].get("dim")
            if m not in fs.streams:
                problems.append(f"{m}: missing from the features (bundle expects {want} columns)")
            elif want is not None and fs.streams[m].shape[2] != int(want):
                problems.append(f"{m}: {fs.streams[m].shape[2]} columns, bundle expects {want}")
        fs_desc = fs.meta.get("extractors") if isinstance(fs.meta, dict) else None
        if fs_desc:
            problems += [
                p for p in describe_mismatches(self.extractors, fs_desc) if p not in problems
            ]
        self._refuse(problems)

    def _refuse(self, problems: list[str]) -> None:
        """Raise :class:`BundleMismatchError` naming every problem (none: nothing to refuse)."""
        if problems:
            raise BundleMismatchError(mismatch_message(self.path, problems, self.from_table))

    def predict(self, fs: FeatureSet, check: bool = True) -> np.ndarray:
        """Five scores (N, 5) in TASKS order, in [1, 5], for the videos of ``fs``.

        NaN for a task whose head never saw a training label (:attr:`trained_heads`): its
        output is the untrained initialisation, not a score.
        """
        if check:
            self.check_features(fs)
        pred = np.asarray(model_predict(self.model, self.preprocessor, fs), dtype=np.float64)
        if pred.shape != (len(fs.video_ids), len(TASKS)):
            raise BundleError(
                f"model returned shape {pred.shape}, expected ({len(fs.video_ids)}, {len(TASKS)})"
            )
        if self.stack is not None:
            pred = predict_stack(self.stack, fs, pred, {})
        heads = set(self.trained_heads)
        pred[:, [k for k, t in enumerate(TASKS) if t not in heads]] = np.nan
        return pred


def read_manifest(bundle_dir: str | Path) -> dict:
    """bundle.json of a bundle directory (BundleError naming what is missing)."""
    bundle_dir = Path(bundle_dir)
    man = bundle_dir / MANIFEST
    if not bundle_dir.exists():
        recover_dir(bundle_dir)
    if not bundle_dir.is_dir():
        left = leftover_dirs(bundle_dir)
        hint = (
            (
                f" ({left[0]} is left from an interrupted replacement: rename it to "
                f"{bundle_dir.name} "
                "to use it)"
            )
            if left
            else ""
        )
        raise BundleError(
            f"no model bundle at {bundle_dir}{hint}: run `make repro` (or `python -m "
            "tqa.serve.bundle`) "
            "to build one, or pass --model DIR"
        )
    if not man.exists():
        raise BundleError(f"{bundle_dir} is not a model bundle: {MANIFEST} is missing")
    manifest = json.loads(man.read_text(encoding="utf-8"))
    if int(manifest.get("format", 0)) > BUNDLE_FORMAT:
        raise BundleError(
            f"{bundle_dir}: bundle format {manifest.get('format')} is newer than this tqa "
            f"understands ({BUNDLE_FORMAT}); upgrade tqa"
        )
    for key in ("extractors", "params", "input_dims"):
        if key not in manifest:
            raise BundleError(f"{man}: key {key!r} missing")
    return manifest


def load_bundle(bundle_dir: str | Path, device: str = "cpu") -> Bundle:
    """Load a bundle written by :func:`tqa.serve.bundle_save.save_bundle` (model in eval mode
    on ``device``)."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    for f in (WEIGHTS, PREPROCESSOR):
        if not (bundle_dir / f).exists():
            raise BundleError(f"{bundle_dir}: {f} is missing (incomplete bundle)")
    input_dims = {m: int(d) for m, d in manifest["input_dims"].items()}
    model = _load_model(bundle_dir, input_dims, manifest, device)
    preprocessor = Preprocessor.load(bundle_dir / PREPROCESSOR)
    stack = load_stack(bundle_dir)
    if manifest.get("files", {}).get("stack") and stack is None:
        raise BundleError(f"{bundle_dir}: {STACK_FILE} is missing (incomplete bundle)")
    return Bundle(
        path=bundle_dir,
        model=model,
        preprocessor=preprocessor,
        manifest=manifest,
        input_dims=input_dims,
        stack=stack,
    )


def _load_model(bundle_dir: Path, input_dims: dict[str, int], manifest: dict, device: str) -> Any:
    """The Transformer described in bundle.json with the bundle's weights, in eval mode."""
    model_params = inference_model_params(
        manifest.get("model_params") or manifest["params"]["model"]
    )
    model = build_model(input_dims, model_params)
    state = torch.load(bundle_dir / WEIGHTS, map_location=device, weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BundleError(
            f"{bundle_dir / WEIGHTS}: weights do not fit the model described in {MANIFEST}: {exc}"
        ) from exc
    return model.to(device).eval()
