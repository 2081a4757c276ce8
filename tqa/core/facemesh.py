"""MediaPipe Face Mesh construction without its start-up noise in our logs.

MediaPipe 0.10.14 prints absl/TFLite lines straight to the C-level stderr when a graph
starts ("Created TensorFlow Lite XNNPACK delegate") and every time tracking restarts on a
face ("Feedback manager requires a model with a single signature ..."), i.e. per video,
plus a protobuf deprecation warning. They say nothing about the data and drown the
progress logs, so :func:`quiet_native_stderr` wraps graph construction and the per-clip
frame loop. Python exceptions are unaffected: a failure still raises and is logged.
"""

from __future__ import annotations

import os
import sys
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


def face_mesh(static_image_mode: bool, **kwargs: Any):
    """A ``mediapipe.solutions.face_mesh.FaceMesh`` built without start-up log lines."""
    with quiet_native_stderr():
        # imported here so that its start-up lines on stderr are silenced too
        import mediapipe as mp  # noqa: PLC0415

        return mp.solutions.face_mesh.FaceMesh(static_image_mode=static_image_mode, **kwargs)
