"""Logs a person can read (tqa.core.logs): a run-wide warning printed once per run, and a
run's filter gone with the run (the next run in the same process warns again)."""

from __future__ import annotations

import io
import logging

from tqa.core.logs import capture_warnings, once_per_run, replay


def _handler() -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    logger = logging.getLogger("tqa.test_logs")
    logger.propagate = False
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, out, handler


def test_a_repeated_warning_is_printed_once_per_run_and_again_in_the_next_run():
    logger, out, handler = _handler()
    try:
        for _ in range(2):  # two runs in one process
            with once_per_run(logger):
                for _ in range(15):  # e.g. once per (seed, fold) of a k-fold run
                    logger.warning("only 1 labelled task(s)")
                    logger.info("fold done")
                logger.warning("another warning")
        lines = out.getvalue().splitlines()
        assert lines.count("only 1 labelled task(s)") == 2  # once per run
        assert lines.count("another warning") == 2
        assert lines.count("fold done") == 30  # INFO is never filtered
        assert not handler.filters  # the filter left with its run
    finally:
        logger.removeHandler(handler)


def test_worker_warnings_come_back_and_go_through_the_parent_filter():
    parent, out, handler = _handler()  # the parent process's handler
    worker = logging.getLogger("tqa.test_logs.worker")
    try:
        with capture_warnings(worker.name) as got:
            worker.warning("from a worker")
            worker.info("not captured")
        assert got == [(worker.name, logging.WARNING, "from a worker")]
        assert out.getvalue() == ""  # nothing printed by the worker itself
        with once_per_run(parent):
            replay(got * 3)
        assert out.getvalue().splitlines() == ["from a worker"]
    finally:
        parent.removeHandler(handler)
