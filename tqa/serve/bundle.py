"""The trained-model bundle: one directory that scores videos anywhere tqa is installed.

Layout of a bundle directory (written atomically: a half-written bundle never replaces
a good one)::

    bundle.json        format version, tqa version, input dims, modalities, extractor
                       names/versions/dims + feature config hash, params snapshot
                       (features / preprocess / model sections), training data
                       description, metrics (when given), strategy, seed,
                       trained_heads (tasks with >= 1 training label; the others
                       score NaN)
    model.pt           state_dict of tqa.model.transformer.CrossModalTransformer
    preprocess.joblib  the fitted tqa.model.preprocess.Preprocessor (imputation/scaling/PCA)
    stack.joblib       (tqa's default model only) the pooled-feature regressors and the
                       per-task blend of the stack (tqa.serve.stack_bundle); bundle.json's
                       ``model`` says which model the bundle holds, ``cv_scores`` what it
                       scored in the k-fold study

A bundle is only valid with the extractors it was trained on: :meth:`Bundle.check_extractors`
refuses installed extractors whose name, version or width differ (features from another
extractor would be silently meaningless to the model).
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tqa.core.atomic import write_bytes, write_json
from tqa.core.params import (
    ParamsError,
    add_params_arguments,
    cli_path,
    display_path,
    params_from_args,
    params_hash,
    resolve,
    runtime_keys,
    without_runtime,
)
from tqa.core.schema import LABEL_COUNTS_FILE, MODALITIES, TASKS, FeatureSet
from tqa.core.version import __version__
from tqa.features import pipeline
from tqa.features.cache import cache_file, cached_ids, load_feature_set, read_meta
from tqa.features.tables import features_for_training
from tqa.model.preprocess import Preprocessor
from tqa.model.training import load_fit
from tqa.model.training import predict as model_predict
from tqa.model.transformer import build_model
from tqa.serve.stack_bundle import (
    BUNDLE_MODELS,
    STACK_FILE,
    cv_scores,
    fit_stack,
    load_stack,
    predict_stack,
    write_stack,
)

log = logging.getLogger(__name__)

#: Bump when the bundle layout changes; load_bundle refuses newer formats.
BUNDLE_FORMAT = 1
MANIFEST = "bundle.json"
WEIGHTS = "model.pt"
PREPROCESSOR = "preprocess.joblib"
#: params.yaml sections a bundle snapshots (what is needed to rebuild features + model).
SNAPSHOT_SECTIONS: tuple[str, ...] = ("features", "preprocess", "model")
#: features.* keys that say where the scoring machine keeps its cache; with the machine knobs
#: (``runtime_keys("features")``: weight files, device, workers, ...) taken from the scoring
#: machine's params, not the bundle's.
LOCAL_FEATURE_KEYS: tuple[str, ...] = ("cache_dir",)
#: Description fields reported first; every other field of ``describe()`` (extractor options
#: such as ``face_crop``, ``normalized`` or ``random_init``) must match too.
CHECKED_FIELDS: tuple[str, ...] = ("name", "version", "dim")


class BundleError(RuntimeError):
    """A bundle directory that is missing, incomplete or of an unknown format."""


class BundleMismatchError(BundleError):
    """Installed extractors (or a feature table) differ from those the bundle was trained on."""


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
        problems = describe_mismatches(self.extractors, installed)
        if problems:
            raise BundleMismatchError(mismatch_message(self.path, problems, self.from_table))

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


# ----------------------------------------------------------------------------- checks


def describe_mismatches(
    expected: Mapping[str, Mapping], installed: Mapping[str, Mapping]
) -> list[str]:
    """One line per modality whose installed extractor differs from the expected one."""
    problems = []
    for m in [*MODALITIES, "sync"]:
        if m not in expected:
            continue
        want = expected[m]
        have = installed.get(m)
        if have is None:
            problems.append(
                f"{m}: bundle needs extractor {want.get('name')!r} v{want.get('version')} "
                f"(dim {want.get('dim')}), none is installed/configured"
            )
            continue
        keys = list(CHECKED_FIELDS) + sorted(
            (set(want) | set(have)) - set(CHECKED_FIELDS) - {"modality"}
        )
        diffs = [
            f"{k} {have.get(k)!r} != {want.get(k)!r}"
            for k in keys
            if str(have.get(k)) != str(want.get(k))
        ]
        if diffs:
            problems.append(
                f"{m}: installed {have.get('name')!r} v{have.get('version')} (dim "
                f"{have.get('dim')}) "
                f"vs bundle {want.get('name')!r} v{want.get('version')} (dim {want.get('dim')}): "
                + "; ".join(diffs)
            )
    return problems


def mismatch_message(path: Path | str, problems: list[str], from_table: bool = False) -> str:
    lines = [f"model bundle {path} does not match the features it was given:"]
    lines += [f"  - {p}" for p in problems]
    if from_table:
        lines.append(
            "This bundle was trained on a bring-your-own feature table: score a table with the "
            "same columns (`tqa score --features TABLE`), or retrain on your features."
        )
    else:
        lines.append(
            "Fix: install/select the bundle's extractors (its settings are in "
            f"{Path(path) / MANIFEST} under params.features and extractors) and re-extract, "
            "or retrain the model with the extractors you have (`make repro`)."
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- save / load


def descriptions_of(source: Any) -> tuple[dict[str, dict], str | None]:
    """(modality -> description, config hash) from a FeatureExtractor, a FeatureSet or a dict.

    A FeatureExtractor gives ``{m: e.describe()}`` and its ``config_hash``; a FeatureSet
    gives ``meta['extractors']`` (and ``meta['config_hash']`` when present); a plain
    dict is taken as the descriptions (an optional ``'config_hash'`` entry is split off).
    """
    if hasattr(source, "extractors") and not isinstance(source, Mapping):
        descs = {m: dict(e.describe()) for m, e in source.extractors.items()}
        return descs, getattr(source, "config_hash", None)
    if isinstance(source, FeatureSet):
        descs = dict(source.meta.get("extractors") or {})
        h = source.meta.get("config_hash")
        if isinstance(h, (list, tuple)):  # tqa.features.cache lists the hashes found in the cache
            h = h[0] if len(h) == 1 else None
        return {m: dict(d) for m, d in descs.items()}, h
    if isinstance(source, Mapping):
        d = {m: dict(v) for m, v in source.items() if m != "config_hash"}
        return d, source.get("config_hash")
    raise TypeError(f"cannot read extractor descriptions from {type(source).__name__}")


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
    descs, config_hash = descriptions_of(extractor_descriptions)
    model_params = dict(getattr(fit_result, "model_params", None) or params.get("model", {}))
    model_params["grad_checkpointing"] = False  # inference never needs it
    input_dims = {m: int(d) for m, d in dict(getattr(fit_result, "input_dims", {}) or {}).items()}
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
    computed = without_runtime(params)  # machine knobs would make identical bundles differ
    snapshot = {k: computed[k] for k in SNAPSHOT_SECTIONS if k in computed}
    manifest = {
        "format": BUNDLE_FORMAT,
        "tqa_version": __version__,
        "tasks": list(TASKS),
        "input_dims": input_dims,
        "model_params": model_params,
        "extractors": {m: descs[m] for m in used},
        "feature_config_hash": config_hash,
        "features_params_hash": params_hash(computed.get("features", {})),
        "params": snapshot,
        "strategy": getattr(fit_result, "strategy", None),
        "seed": getattr(fit_result, "seed", None),
        "best_epoch": getattr(fit_result, "best_epoch", None),
        "files": {"weights": WEIGHTS, "preprocessor": PREPROCESSOR},
        "model": "chapter",
    }
    if stack is not None:
        manifest["files"]["stack"] = STACK_FILE
    manifest.update(extra or {})

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        state = {k: v.detach().cpu() for k, v in fit_result.model.state_dict().items()}
        buf = io.BytesIO()  # a fixed archive name inside the file: identical weights, same bytes
        torch.save(state, buf)
        write_bytes(tmp / WEIGHTS, buf.getvalue())
        fit_result.preprocessor.save(tmp / PREPROCESSOR)
        if stack is not None:
            write_stack(tmp, stack)
        write_json(tmp / MANIFEST, manifest)
        _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "wrote model bundle %s (%s)",
        out_dir,
        ", ".join(f"{m}={d['name']}" for m, d in manifest["extractors"].items()),
    )
    return out_dir


def _replace_dir(new: Path, target: Path) -> None:
    """Move the finished directory ``new`` to ``target``, replacing an existing target.

    On Linux the two directories are exchanged atomically (``renameat2(RENAME_EXCHANGE)``):
    ``target`` always holds a complete bundle. Elsewhere (or on a file system without it)
    the old bundle is renamed aside to ``.NAME.old-PID``, the new one renamed in, and the
    old one deleted; a crash between the two renames leaves only ``.NAME.old-PID``, which
    :func:`recover_dir` (called by :func:`save_bundle` and :func:`load_bundle`) moves back.
    """
    if not target.exists():
        os.replace(new, target)
        return
    if _exchange(new, target):  # new <-> target: `new` now holds the old bundle
        shutil.rmtree(new, ignore_errors=True)
        return
    old = target.parent / f"{_old_prefix(target)}{os.getpid()}"
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _old_prefix(target: Path) -> str:
    return f".{target.name}.old-"


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2`` RENAME_EXCHANGE); False when unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def leftover_dirs(target: str | Path) -> list[Path]:
    """``.NAME.old-*`` directories beside ``target`` left by an interrupted swap, newest first."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    found = [p for p in target.parent.glob(f"{_old_prefix(target)}*") if p.is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def recover_dir(target: str | Path) -> bool:
    """Restore a bundle lost in an interrupted swap: when ``target`` is missing but a
    ``.NAME.old-*`` directory with a bundle.json is beside it, move the newest back.
    True when restored."""
    target = Path(target)
    if target.exists():
        return False
    for old in leftover_dirs(target):
        if not (old / MANIFEST).is_file():
            continue
        try:
            os.replace(old, target)
        except OSError as exc:
            log.warning("model bundle %s is missing; could not restore %s (%s)", target, old, exc)
            return False
        log.warning(
            "model bundle %s was missing after an interrupted replacement: restored it from %s",
            target,
            old.name,
        )
        return True
    return False


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
    """Load a bundle written by :func:`save_bundle` (model in eval mode on ``device``)."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    for f in (WEIGHTS, PREPROCESSOR):
        if not (bundle_dir / f).exists():
            raise BundleError(f"{bundle_dir}: {f} is missing (incomplete bundle)")
    input_dims = {m: int(d) for m, d in manifest["input_dims"].items()}
    model_params = dict(manifest.get("model_params") or manifest["params"]["model"])
    model_params["grad_checkpointing"] = False
    model = build_model(input_dims, model_params)
    state = torch.load(bundle_dir / WEIGHTS, map_location=device, weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BundleError(
            f"{bundle_dir / WEIGHTS}: weights do not fit the model described in {MANIFEST}: {exc}"
        ) from exc
    model.to(device).eval()
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


# ----------------------------------------------------------------------------- CLI


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
    info = {
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
    stack = None
    if model == "stack":
        stack, stack_info = fit_stack(fit, fit.strategy, int(fit.seed), params)
        info.update(stack_info)
        info["cv_scores"] = cv_scores()
    elif model != "chapter":
        raise ValueError(f"score.bundle_model must be one of {BUNDLE_MODELS}, got {model!r}")
    info.update(extra or {})
    return save_bundle(fit, params, features, out_dir, extra=info, stack=stack)


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
    current = pipeline.config_hash_from_params(params)
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
    args = ap.parse_args(argv)
    try:
        params = params_from_args(args)
        if args.features:
            params.setdefault("byo", {})["features_table"] = [
                str(cli_path(f)) for f in args.features
            ]
        sp = params.get("score", {})
        fit_dir = cli_path(args.fit) or (
            resolve(params["train"]["out_dir"])
            / str(sp.get("bundle_strategy", "fixed"))
            / f"seed{sp.get('bundle_seed', 0)}"
        )
        out = bundle_from_fit(
            fit_dir,
            params,
            cli_path(args.out) or resolve(sp.get("bundle_dir", "models/bundle")),
            model=str(args.model or sp.get("bundle_model", "stack")),
        )
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


if __name__ == "__main__":
    raise SystemExit(main())
