"""params.yaml loading: the single source of truth for every stage and notebook."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

#: Repository root (the folder holding params.yaml), found from this file.
ROOT = Path(__file__).resolve().parents[2]


def load_params(
    path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> dict:
    """Read params.yaml (default: the repository's) and apply dotted overrides.

    ``overrides={"train.epochs": 2}`` sets ``params["train"]["epochs"] = 2``; the key
    must already exist so that a typo fails loudly instead of being ignored.
    """
    path = Path(path) if path else ROOT / "params.yaml"
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh)
    for key, value in (overrides or {}).items():
        set_dotted(params, key, value)
    return params


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
