"""The package version (one place; read by manifests and cache metadata) and fingerprints of
tqa's own code for caches that must follow code changes (not to be confused with
``tqa.features.cache.source_fingerprint``, which fingerprints an input video file)."""

import hashlib
from functools import cache
from pathlib import Path

__version__ = "0.1.0"


@cache
def code_fingerprint(*modules: str) -> str:
    """SHA-1 (16 hex) of the source bytes of ``modules`` (dotted names under ``tqa``; a
    package means every ``.py`` below it), in sorted path order.

    Study run caches persist between `dvc repro` runs (``persist: true``); a key made of
    params alone would hand back fits of the previous model code after an edit of
    ``tqa/model``. Adding this fingerprint to the key retrains exactly when that code changed.
    """
    root = Path(__file__).resolve().parents[1]  # the tqa package folder
    files: list[Path] = []
    for mod in modules:
        rel = Path(*mod.split(".")[1:])
        pkg = root / rel
        files += sorted(pkg.rglob("*.py")) if pkg.is_dir() else [pkg.with_suffix(".py")]
    h = hashlib.sha1()
    for f in sorted(set(files)):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
