"""Ctrl-C at any moment (tqa.core.interrupt): held while workers start, never a worker's
traceback, exit 130, finished items kept.

No test here relies on speed: signals are sent when an event is seen (a log line, a worker
process, a finished item's file), and the only time limits are generous hang guards.

A test that signals the pytest process itself sends the SIGINT to the main thread
(:func:`to_main_thread`), never to the process: the kernel hands a process-directed signal to
any thread that does not block it (BLAS, OpenMP and torch threads started by earlier tests do
not), and that thread may run its handler after the window has closed, on a loaded machine
milliseconds later. The main thread then raises ``KeyboardInterrupt`` wherever it is, inside
pytest's own code, and the whole session stops (CI saw this once, in capture.py). A
thread-directed SIGINT stays pending on the main thread while it blocks it and is delivered
when it unblocks it, inside ``signal.pthread_sigmask``, which runs the handlers before it
returns: the same order on every machine.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from test_media import face_frames, tone

from tqa.core.interrupt import EXIT_INTERRUPTED, abort_pool, ignore_sigint, sigint_deferred
from tqa.core.params import ROOT
from tqa.features.decode import write_video

HANG_GUARD_S = 240  # a hang guard on a loaded 2-core machine, not a timing assertion


def to_main_thread() -> None:
    """SIGINT to this process's main thread only (see the module docstring for why not
    ``os.kill(os.getpid(), ...)``)."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def test_sigint_inside_the_window_is_raised_on_leaving_it() -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_deferred():
            to_main_thread()
            time.sleep(0)  # a bytecode boundary: a SIGINT not held would raise here
            reached.append(True)
    assert reached == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_window_without_sigint_and_ignored_sigint_raise_nothing() -> None:
    with sigint_deferred():
        pass
    prev = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with sigint_deferred():
            to_main_thread()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, prev)


def test_window_outside_the_main_thread_changes_nothing() -> None:
    seen = []

    def body() -> None:
        with sigint_deferred():
            seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen and signal.SIGINT not in seen[0]


def _probe_init(path: str) -> None:
    """Worker initializer: record whether SIGINT was blocked and pending at start, then
    whether :func:`ignore_sigint` left it pending."""
    before = {
        "blocked": signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []),
        "pending": signal.SIGINT in signal.sigpending(),
    }
    ignore_sigint()
    before["pending_after"] = signal.SIGINT in signal.sigpending()
    Path(path).write_text(json.dumps(before))


def _square(x: int) -> int:
    return x * x


def test_worker_started_in_the_window_holds_then_drops_a_sigint(tmp_path, capfd) -> None:
    """A Ctrl-C reaching a worker during its start-up (before its initializer) and the parent
    inside the window: the worker neither dies nor prints; the parent raises on leaving."""
    probe = tmp_path / "probe.json"
    pool = ProcessPoolExecutor(
        1, mp.get_context("spawn"), initializer=_probe_init, initargs=(str(probe),)
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            with sigint_deferred():
                fut = pool.submit(_square, 7)  # spawns the worker
                (proc,) = pool._processes.values()
                os.kill(proc.pid, signal.SIGINT)  # the worker is still starting up
                to_main_thread()
        assert fut.result(timeout=HANG_GUARD_S) == 49  # the worker survived the SIGINT
    finally:
        abort_pool(pool)
    got = json.loads(probe.read_text())
    assert got == {"blocked": True, "pending": True, "pending_after": False}
    assert "Traceback" not in capfd.readouterr().err


# ---------------------------------------------------------------------- a real command
N_VIDEOS = 8


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ctrl_c_videos")
    for i in range(N_VIDEOS):
        write_video(d / f"v{i}.mp4", face_frames(50, 96), 25, tone(2.0, 300 + 40 * i, 0.3))
    return d


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _done(cache: Path) -> list[Path]:
    """Finished videos' metrics files (not the temporary ``.<name>.*`` of a write)."""
    return [f for f in cache.glob("*.json") if not f.name.startswith(".")]


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the command and everything it started)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class _Stderr:
    """Collects a process's stderr in a thread (the pipe never fills); ``seen(s)``."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.text = ""
        self._t = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._t.start()

    def _read(self, proc: subprocess.Popen) -> None:
        # chunks as they come, not lines: a progress bar redraws with "\r", no newline
        fd = proc.stderr.fileno()
        while chunk := os.read(fd, 65536):
            self.text += chunk.decode(errors="replace")

    def join(self) -> str:
        self._t.join(timeout=HANG_GUARD_S)
        return self.text


def start_in_own_group(cmd: list[str], cwd, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """``cmd`` started in a new session (its own process group, for ``os.killpg``) with tqa
    importable (``PYTHONPATH``), stderr piped."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True
    )


def _wait_for(what, proc: subprocess.Popen, desc: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not what():
        if proc.poll() is not None:
            pytest.fail(f"tqa metrics ended (rc {proc.returncode}) before {desc}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"{desc}: not seen within {HANG_GUARD_S} s")
        time.sleep(0.02)


#: When the SIGINT is sent: an event of the run, not a delay.
MOMENTS = {
    # the progress bar is drawn just before the pool starts: SIGINT lands before or while
    # the workers are spawned
    "before_workers": "the progress bar, drawn before the workers start",
    "worker_starting": "a worker process exists (importing, initializer not run)",
    "first_item_done": "the first video's metrics file is written",
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_ctrl_c_at_any_moment_of_a_two_worker_run(tiny_videos, tmp_path, moment) -> None:
    """SIGINT to the process group of `tqa metrics --workers 2` at several moments: exit 130
    within seconds, no traceback, every measured video kept, the rest marked interrupted."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tqa.cli", "metrics", str(tiny_videos), "--out", str(out)]
    cmd += ["--workers", "2", "--no-plot", "--max-seconds", "2"]
    proc = start_in_own_group(cmd, tmp_path)
    err = _Stderr(proc)
    cache = out / ".cache"
    if moment == "before_workers":
        # the tqdm bar is drawn just before the pool starts its workers
        _wait_for(lambda: "metrics:   0%" in err.text, proc, "the progress bar")
    elif moment == "worker_starting":
        _wait_for(lambda: any(map(_is_worker, _children(proc.pid))), proc, "a worker")
    else:
        _wait_for(lambda: cache.is_dir() and bool(_done(cache)), proc, "a finished video")
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"tqa metrics did not stop after SIGINT ({moment})")
    stop_s = time.monotonic() - t0
    text = err.join()
    assert proc.returncode == EXIT_INTERRUPTED, text
    assert "Traceback" not in text, text
    assert "interrupted" in text
    rows = pd.read_csv(out / "metrics.csv")
    assert len(rows) == N_VIDEOS
    assert (rows["status"] == "interrupted").sum() >= 1
    assert set(rows["status"]) <= {"ok", "failed", "interrupted"}
    # every video measured before the Ctrl-C is kept in the cache for the next run
    assert len(_done(cache)) >= (rows["status"] == "ok").sum()
    # no worker left behind (the resource tracker leaves when the command has gone)
    _wait_for_gone = time.monotonic() + HANG_GUARD_S
    while _session(proc.pid) and time.monotonic() < _wait_for_gone:
        time.sleep(0.1)
    assert not _session(proc.pid)
    print(f"{moment}: stopped {stop_s:.2f} s after SIGINT")
    assert stop_s < 60, f"{moment}: {stop_s:.1f} s to stop"  # the bar is 5 s; a guard
