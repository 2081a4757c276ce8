"""MediaPipe Face Mesh construction without its start-up noise in our logs.

MediaPipe 0.10.14 prints absl/TFLite lines straight to the C-level stderr when a graph
starts ("Created TensorFlow Lite XNNPACK delegate") and every time tracking restarts on a
face ("Feedback manager requires a model with a single signature ..."), i.e. per video,
plus a protobuf deprecation warning. They say nothing about the data and drown the
progress logs, so :func:`quiet_native_stderr` wraps graph construction and the per-clip
frame loop. Python exceptions are unaffected: a failure still raises and is logged.

The graph runs its calculators in its own threads, so some of those lines are written after
the redirect has ended. :func:`filter_native_stderr` therefore filters the process's file
descriptor 2 for good, once the first Face Mesh is built: every line goes through a pipe and
a thread that drops absl/TFLite INFO and WARNING lines (``I0000 ...]``, ``W0000 ...]``, the
XNNPACK notice, absl's pre-init notice) and passes everything else on at once (errors,
``E``/``F`` lines, tracebacks, progress bars). ``TQA_NATIVE_LOGS=1`` keeps them all.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

warnings.filterwarnings(
    "ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated", category=UserWarning
)


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Redirect file descriptor 2 to /dev/null for the duration (C++ logging included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


#: A native INFO / WARNING line (absl / glog prefix, TFLite's XNNPACK notice, absl's notice).
_NATIVE_NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate"
    rb"|WARNING: All log messages before absl::InitializeLog)"
)
_FILTER: dict[str, Any] = {}


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _pump(read_fd: int, real_fd: int) -> None:
    """Copy ``read_fd`` to ``real_fd`` without native noise lines; a partial line that may
    become one is held until its newline, anything else goes on at once."""
    held = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        *lines, held = (held + chunk).split(b"\n")
        out = b"".join(line + b"\n" for line in lines if not _NATIVE_NOISE.match(line))
        if held and (held[:1] not in (b"I", b"W") or b"\r" in held):
            out, held = out + held, b""
        if out:
            try:
                _write_all(real_fd, out)
            except OSError:
                break
    if held and not _NATIVE_NOISE.match(held):
        _write_all(real_fd, held)
    os.close(read_fd)


def _restore() -> None:
    """At exit: stderr back to the real file descriptor, the pipe drained."""
    real, thread, pipe = _FILTER.get("real"), _FILTER.get("thread"), _FILTER.get("pipe")
    if real is None:
        return
    _FILTER.clear()
    try:
        sys.stderr.flush()
        if os.fstat(2).st_ino != pipe:  # someone else redirected fd 2 since: leave it
            return
    except (OSError, ValueError):
        return
    os.dup2(real, 2)  # closes the pipe's write end held by fd 2: the thread reads to its end
    thread.join(timeout=2)


def filter_native_stderr() -> None:
    """Filter native INFO/WARNING lines out of this process's stderr (fd 2), from now on.

    Once per process; a no-op when ``TQA_NATIVE_LOGS`` is set. Processes started later
    inherit the filtered stderr.
    """
    if _FILTER or os.environ.get("TQA_NATIVE_LOGS"):
        return
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    real, pipe = os.dup(2), os.fstat(write_fd).st_ino
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(
        target=_pump, args=(read_fd, real), daemon=True, name="tqa-native-stderr"
    )
    thread.start()
    _FILTER.update(real=real, thread=thread, pipe=pipe)
    atexit.register(_restore)
    # worker processes of multiprocessing leave through os._exit, after its finalizers
    from multiprocessing import util  # noqa: PLC0415

    util.Finalize(None, _restore, exitpriority=0)


def face_mesh(static_image_mode: bool, **kwargs: Any):
    """A ``mediapipe.solutions.face_mesh.FaceMesh`` built without start-up log lines."""
    filter_native_stderr()
    with quiet_native_stderr():
        # imported here so that its start-up lines on stderr are silenced too
        import mediapipe as mp  # noqa: PLC0415

        return mp.solutions.face_mesh.FaceMesh(static_image_mode=static_image_mode, **kwargs)
