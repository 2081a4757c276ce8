"""tqa.core.malloc: glibc's own accounting (mallinfo2) says where a large array came from."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys

import pytest

from tqa.core import malloc as M

PROBE = r"""
import ctypes, ctypes.util, json, sys
import numpy as np
from tqa.core.malloc import keep_large_buffers

class MallInfo2(ctypes.Structure):  # glibc >= 2.33, malloc.h
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = MallInfo2
set_ok = keep_large_buffers(int(sys.argv[1]))
before = libc.mallinfo2()
a = np.ones(100 * 2**20, np.uint8)  # 100 MiB
during = libc.mallinfo2()
del a
after = libc.mallinfo2()
print(json.dumps({"set": set_ok,
                  "mmapped": during.hblkhd - before.hblkhd,
                  "heap_in_use": during.uordblks - before.uordblks,
                  "heap_free_after": after.fordblks - before.fordblks}))
"""


def _glibc_mallinfo2() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return hasattr(libc, "mallinfo2") and hasattr(libc, "mallopt")
    except OSError:
        return False


def _probe(threshold: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(threshold)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _glibc_mallinfo2(), reason="needs glibc >= 2.33 (mallinfo2, mallopt)")
def test_a_large_array_comes_from_the_heap_and_stays_there_for_the_next_video():
    """glibc's default serves 100 MiB with mmap (and unmaps it when freed); with the
    threshold at 256 MiB it comes from the heap, and once freed it stays there for reuse."""
    plain = _probe(0)
    assert plain["set"] is False
    assert plain["mmapped"] >= 100 * 2**20 and plain["heap_in_use"] < 2**20
    kept = _probe(256 * 2**20)
    assert kept["set"] is True
    assert kept["mmapped"] < 2**20 and kept["heap_in_use"] >= 100 * 2**20
    assert kept["heap_free_after"] >= 99 * 2**20  # not trimmed: the next video reuses it


def test_threshold_bounds():
    assert M.keep_large_buffers(None) is False
    assert M.keep_large_buffers(-5) is False
    with pytest.raises(ValueError, match="above mallopt"):
        M.keep_large_buffers(2**31)


def test_each_extraction_worker_sets_it_once(monkeypatch):
    """The first FeatureExtractor a worker process builds (process pool or Dask: both call
    extract_one -> _extractor_for) sets the params' threshold; later builds do not."""
    from tqa.core.params import load_params
    from tqa.features import pipeline as P

    calls: list = []
    monkeypatch.setattr(P, "keep_large_buffers", calls.append)
    monkeypatch.setattr(P, "FeatureExtractor", lambda params: object())
    monkeypatch.setattr(P, "_WORKER_EXTRACTORS", {})
    params = load_params()
    params["features"]["malloc_threshold"] = 12345
    P._extractor_for(params)
    P._extractor_for(params)
    other = {**params, "seed": 99}
    P._extractor_for(other)
    assert calls == [12345]
