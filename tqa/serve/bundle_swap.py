"""Replacing a bundle directory atomically, and recovering one lost in an interrupted swap.

On Linux the finished directory and the old bundle are exchanged in one system call
(``renameat2(RENAME_EXCHANGE)``); elsewhere two renames, and a crash between them leaves
``.NAME.old-PID`` beside the target, which :func:`recover_dir` moves back.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import sys
from pathlib import Path

from tqa.serve.bundle_format import MANIFEST

# the name `tqa bundle` and `tqa score` have always logged bundle messages under
log = logging.getLogger("tqa.serve.bundle")


def replace_dir(new: Path, target: Path) -> None:
    """Move the finished directory ``new`` to ``target``, replacing an existing target.

    On Linux the two directories are exchanged atomically (``renameat2(RENAME_EXCHANGE)``):
    ``target`` always holds a complete bundle. Elsewhere (or on a file system without it)
    the old bundle is renamed aside to ``.NAME.old-PID``, the new one renamed in, and the
    old one deleted; a crash between the two renames leaves only ``.NAME.old-PID``, which
    :func:`recover_dir` (called by ``save_bundle`` and ``load_bundle``) moves back.
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
