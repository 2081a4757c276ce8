"""Logs a person can read: a warning that applies to a whole run is printed once.

:class:`OnceFilter` on the ``tqa`` command's log handler drops a WARNING (or ERROR) whose
logger, level and text were already printed in this run (``tqa cv`` on a one-task dataset
says "only 1 labelled task(s) ... coincides with fixed weighting" once, not once per fold and
seed). Worker processes do not print their warnings: they hand them back with their result
(:func:`capture_warnings`) and the parent logs them through the same filter.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


class OnceFilter(logging.Filter):
    """Pass a record at WARNING or above only the first time its (logger, level, text) is seen;
    INFO and DEBUG records always pass."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, record.getMessage())
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


@contextlib.contextmanager
def once_per_run(logger: logging.Logger | None = None) -> Iterator[None]:
    """Within the block, a fresh :class:`OnceFilter` on every handler of ``logger`` (default:
    the root logger); removed on exit, so one run's warnings never silence the next run's in
    the same process (a notebook kernel, a test session calling ``tqa.cli.main``)."""
    added = []
    for handler in (logger or logging.getLogger()).handlers:
        f = OnceFilter()
        handler.addFilter(f)
        added.append((handler, f))
    try:
        yield
    finally:
        for handler, f in added:
            handler.removeFilter(f)


class _ListHandler(logging.Handler):
    def __init__(self, out: list[tuple[str, int, str]]) -> None:
        super().__init__(logging.WARNING)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.append((record.name, record.levelno, record.getMessage()))


@contextlib.contextmanager
def capture_warnings(name: str = "tqa") -> Iterator[list[tuple[str, int, str]]]:
    """In a worker: collect the WARNING+ records of logger ``name`` as (logger, level, text)
    instead of printing them; hand the list back and :func:`replay` it in the parent."""
    out: list[tuple[str, int, str]] = []
    logger = logging.getLogger(name)
    handler, propagate = _ListHandler(out), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def replay(records: list[tuple[str, int, str]]) -> None:
    """Log records captured in a worker (:func:`capture_warnings`) in this process."""
    for name, level, text in records:
        logging.getLogger(name).log(level, "%s", text)
