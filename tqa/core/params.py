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


# --------------------------------------------------------------------------- command lines
#: Dotted params keys that hold a file or folder path. A params file outside the repository
#: has them resolved against its own folder; ``-S`` values against the current folder.
PATH_KEYS: tuple[str, ...] = (
    "data.root",
    "split.out",
    "corpus.out",
    "features.cache_dir",
    "features.summary_path",
    "features.openface_csv_dir",
    "preprocess.out_dir",
    "train.out_dir",
    "eval.results_dir",
    "score.bundle_dir",
    "score.cache_dir",
    "byo.features_table",
    "cv.out_dir",
)


class ParamsError(ValueError):
    """A bad ``--params`` file or ``-S`` override; the message is one line naming it."""


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["train.epochs=2", "model.path_b=false"]`` -> ``{"train.epochs": 2, ...}``.

    Values are parsed as YAML, as ``dvc exp run -S`` does: ``2`` is an int, ``[0, 1]`` a
    list, ``null`` None, ``fixed`` a string.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ParamsError(f"-S {item!r}: expected KEY=VALUE (e.g. -S train.epochs=2)")
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ParamsError(f"-S {item!r}: value is not valid YAML ({exc})") from exc
    return out


def _get_dotted(params: dict, key: str) -> Any:
    node: Any = params
    for p in key.split("."):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def _absolutize(value: Any, base: Path) -> Any:
    """A path value (str or list of str) made absolute against ``base``; None kept."""
    if value is None or value == "":
        return value
    if isinstance(value, (list, tuple)):
        return [_absolutize(v, base) for v in value]
    p = Path(str(value)).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def add_params_arguments(ap: Any) -> None:
    """Add ``--params FILE`` and the repeatable ``-S/--set KEY=VALUE`` to an argparse parser."""
    ap.add_argument(
        "--params",
        default=None,
        help="params.yaml (default: the repository's); its relative paths resolve against "
        "its folder",
    )
    ap.add_argument(
        "-S",
        "--set",
        dest="set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one params key, as `dvc exp run -S` (repeatable; value parsed as YAML)",
    )


def params_from_args(args: Any) -> dict:
    """The params of a command line: ``--params`` (default: the repository's), then ``-S``.

    Relative paths of a params file other than the repository's resolve against that
    file's folder; relative paths given with ``-S`` resolve against the current folder.
    Raises :class:`ParamsError` (one line naming the file or key) on a bad file or key.
    """
    path = getattr(args, "params", None)
    overrides = parse_set(getattr(args, "set", None))
    file = Path(path).expanduser().resolve() if path else ROOT / "params.yaml"
    if not file.is_file():
        raise ParamsError(f"params file not found: {path or file}")
    try:
        params = load_params(file)
    except yaml.YAMLError as exc:
        raise ParamsError(f"{file}: not valid YAML ({exc})") from exc
    if not isinstance(params, dict):
        raise ParamsError(f"{file}: expected a mapping of sections at the top level")
    if file.parent != ROOT.resolve():
        for key in PATH_KEYS:
            value = _get_dotted(params, key)
            if value is not None:
                set_dotted(params, key, _absolutize(value, file.parent))
    for key, value in overrides.items():
        if key in PATH_KEYS:
            value = _absolutize(value, Path.cwd())
        try:
            set_dotted(params, key, value)
        except KeyError as exc:
            raise ParamsError(f"-S {key}=...: {exc.args[0]} in {file.name}") from exc
    return params


def cli_path(path: str | os.PathLike | None) -> Path | None:
    """A path given on the command line: relative to the current folder (None kept)."""
    return None if path is None else Path(path).expanduser().resolve()
