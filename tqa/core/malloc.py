"""glibc's malloc thresholds for worker processes: keep large buffers on the heap.

glibc serves an allocation at or above its *mmap threshold* with a fresh ``mmap`` and gives
it back with ``munmap`` when freed, so the next allocation of that size faults its pages in
again. By default the threshold adapts upwards to the largest freed block, but only to
32 MiB, and setting ``MALLOC_TRIM_THRESHOLD_`` (as Dask does in its workers) switches the
adaptation off, leaving it at 128 KiB (glibc ``mallopt(3)``, "M_MMAP_THRESHOLD").
Extraction allocates and frees the same large arrays for every video: the ``fer`` network's
convolution buffers on 150 faces (some above 32 MiB) and a video's frames and NSS maps
(tens of MB). :func:`keep_large_buffers` raises the mmap and trim thresholds together
(``runtime.features.malloc_threshold``, 256 MiB), so those arrays are reused from the heap.
Measured (docs/scaling.md): the ``fer`` forward on 150 faces in a fresh process 0.32 s at
glibc's default, 0.33 s at 32 MiB, 0.17 s at 256 MiB, 0.58 s with Dask's trim setting;
the Dask engine 0.75 -> 0.91 videos/s on 2 cores, the local engine unchanged. It changes
where memory comes from, never a computed value; a worker may keep up to the threshold of
freed memory for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: ``mallopt`` parameter numbers (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Largest value ``mallopt`` takes (a C ``int``).
MAX_THRESHOLD = 2**31 - 1


def _mallopt():
    """glibc's ``mallopt`` or None (another C library, or none found)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def keep_large_buffers(threshold: int | None) -> bool:
    """Set this process's glibc mmap and trim thresholds to ``threshold`` bytes (None or
    <= 0: leave glibc's own); True when both were set. Not glibc (macOS, musl): nothing to
    set, False. Call it once per worker process, before the work."""
    if threshold is None or int(threshold) <= 0:
        return False
    value = int(threshold)
    if value > MAX_THRESHOLD:
        raise ValueError(f"malloc threshold {value} bytes is above mallopt's {MAX_THRESHOLD}")
    fn = _mallopt()
    if fn is None:
        log.debug("no glibc mallopt here: malloc thresholds left as they are")
        return False
    ok = fn(M_MMAP_THRESHOLD, value) == 1 and fn(M_TRIM_THRESHOLD, value) == 1
    if not ok:
        log.warning("glibc refused a malloc threshold of %d bytes: left as it was", value)
    return ok
