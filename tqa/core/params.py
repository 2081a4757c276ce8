"""params.yaml loading: the single source of truth for every stage and notebook."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

#: Repository root (the folder holding params.yaml), found from this file.
ROOT = Path(__file__).resolve().parents[2]
#: The params.yaml section of machine knobs (workers, device, engine, weight files, caches,
#: batch sizes for speed): ``runtime.<section>.<key>`` says where and how fast
#: ``<section>`` runs, never what it computes. No DVC stage, cache hash, study run key or
#: bundle hash includes it (see :func:`runtime_keys`, :func:`without_runtime`).
RUNTIME = "runtime"


def load_params(
    path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> dict:
    """Read params.yaml (default: the repository's) and apply dotted overrides.

    ``overrides={"train.epochs": 2}`` sets ``params["train"]["epochs"] = 2``; the key
    must already exist so that a typo fails loudly instead of being ignored. The
    ``runtime`` section is copied onto the sections it names (:func:`apply_runtime`), so
    code reads ``params["features"]["workers"]`` wherever the knob is declared;
    ``overrides={"runtime.features.workers": 1}`` sets both places.
    """
    path = Path(path) if path else ROOT / "params.yaml"
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh)
    if not isinstance(params, dict):
        raise ValueError(f"{path}: not a YAML mapping of params sections")
    apply_runtime(params)
    for key, value in (overrides or {}).items():
        set_dotted(params, key, value)
        parts = key.split(".")
        if parts[0] == RUNTIME and len(parts) == 3:
            params.setdefault(parts[1], {})[parts[2]] = value
    return params


def apply_runtime(params: dict) -> dict:
    """Copy ``runtime.<section>.<key>`` onto ``params[section][key]`` (in place; returned).

    The one compatibility read of the runtime knobs: readers keep using the section they
    configure (``features.workers``, ``train.device``, ``score.cache_dir``, ...). A key the
    section already holds wins (a params dict saved after :func:`load_params` and edited
    there, as tests do, keeps its edits).
    """
    for section, knobs in (params.get(RUNTIME) or {}).items():
        if isinstance(knobs, dict):
            target = params.setdefault(section, {})
            if isinstance(target, dict):
                for key, value in knobs.items():
                    target.setdefault(key, copy.deepcopy(value))
    return params


@functools.lru_cache(maxsize=1)
def _repository_runtime() -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return (yaml.safe_load(fh) or {}).get(RUNTIME) or {}


def runtime_keys(section: str, params: dict | None = None) -> frozenset[str]:
    """Keys of ``section`` that are machine knobs: those under ``runtime.<section>``.

    The single definition of "runtime" keys: taken from ``params['runtime']`` when the
    dict has one, else from the repository's params.yaml (callers holding only a section).
    """
    runtime = (params or {}).get(RUNTIME)
    if not isinstance(runtime, dict):
        runtime = _repository_runtime()
    knobs = runtime.get(section) or {}
    return frozenset(knobs) if isinstance(knobs, dict) else frozenset()


def without_runtime(params: dict) -> dict:
    """A copy of ``params`` without the runtime section and without its knobs in other sections.

    What a hash of "what is computed" (study run key, bundle snapshot) should see.
    """
    out = {k: copy.deepcopy(v) for k, v in params.items() if k != RUNTIME}
    for section, value in out.items():
        if isinstance(value, dict):
            drop = runtime_keys(section, params)
            out[section] = {k: v for k, v in value.items() if k not in drop}
    return out


def set_dotted(params: dict, key: str, value: Any) -> None:
    node = params
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(node, dict) or p not in node:
            raise KeyError(f"unknown parameter {key!r} (no section {p!r})")
        node = node[p]
    if parts[-1] not in node:
        raise KeyError(f"unknown parameter {key!r}")
    node[parts[-1]] = value


def merged(base: dict, update: dict) -> dict:
    """Deep-merge ``update`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merged(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def params_hash(obj: Any) -> str:
    """Stable short hash of a JSON-able object (used to key caches to their params)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def display_path(path: str | os.PathLike, root: Path | None = None) -> str:
    """``path`` relative to the repository root when inside it (for reports: no machine paths)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to((root or ROOT).resolve()))
    except ValueError:
        return str(path)


def resolve(path: str | os.PathLike, root: Path | None = None) -> Path:
    """A params path relative to the repository root (absolute paths kept)."""
    p = Path(path)
    return p if p.is_absolute() else (root or ROOT) / p
