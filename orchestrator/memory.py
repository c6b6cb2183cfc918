"""Giving the C heap's free memory back, for processes that decode video for months.

glibc's malloc serves a block of at least 128 KiB with a mapping of its own and unmaps it when
it is freed, until the first such block is freed: then it raises that threshold to the block's
size ("dynamic mmap threshold"), and from then on blocks of a video frame's size (a 640×480 BGR
image is 900 KiB, a letterboxed detector input as much) are carved out of the arenas, one
arena per busy thread. Frames made on decode threads and freed on the event loop leave holes
that the arenas keep: a soak of two workers with 10 RTSP cameras each (bench/soak.py with
bench/memprobe.py) held 190 MB of free heap after one minute and 356 MB after nine, with the
bytes in use flat (~230 MB), and RSS rising with the free part.

Two remedies were measured. Pinning the threshold (``mallopt(M_MMAP_THRESHOLD)``) keeps frames
in mappings of their own, but then every frame costs a mapping and its page faults: 1.5 ms to
allocate, fill and free 900 KiB on this machine under load, against 0.1–0.2 ms from the heap.
``malloc_trim(0)`` instead gives the free pages inside all arenas back to the system
(``madvise(MADV_DONTNEED)``) while the heap keeps its shape; run every ``heap_trim_s`` on a
thread, it costs milliseconds a minute and nothing per frame.

On another C library (musl, macOS) this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import time
from dataclasses import dataclass
from functools import cache
from typing import Any


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


@cache
def _glibc() -> Any | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33 (no mallinfo2)
        return None
    return libc


def heap() -> dict[str, int] | None:
    """glibc's heap: bytes in use and free inside its arenas, bytes in mapped blocks; None
    elsewhere."""
    libc = _glibc()
    if libc is None:
        return None
    m = libc.mallinfo2()
    return {"in_use": m.uordblks, "free": m.fordblks, "mapped": m.hblkhd}


def trim() -> bool:
    """Give the free pages of every arena back to the system; True if any were."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


@dataclass
class TrimStats:
    trims: int = 0
    seconds: float = 0.0  # spent trimming, in all


async def trim_every(period_s: float, stats: TrimStats) -> None:
    """Trim the heap every ``period_s`` on a worker thread (it takes the arenas' locks, never
    the event loop), until cancelled."""
    if _glibc() is None:
        return
    while True:
        await asyncio.sleep(period_s)
        t0 = time.perf_counter()
        await asyncio.to_thread(trim)
        stats.trims += 1
        stats.seconds += time.perf_counter() - t0
