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

That trim slows the growth but does not stop it: the free holes fragment the arenas, and the
pages touched between trims stay in RSS (the soak still grew +86 to +600 MB/h with it). So the
service runs on jemalloc when it is installed (``process.allocator``, default ``auto``; Debian's
``libjemalloc2``, which Redis depends on): ``use_allocator`` re-executes ``run`` and ``worker``
at start with it preloaded. jemalloc keeps blocks of one size class together and hands unused
pages back on a timer (its decay), so what a hand-off of ten cameras frees goes back to the
system. ``heap`` and ``trim`` speak to whichever allocator runs (jemalloc's ``mallctl``:
``stats.allocated``/``resident``, ``arena.<all>.purge``).

On another C library (musl, macOS) without jemalloc this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
JEMALLOC = "libjemalloc.so.2"
JEMALLOC_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                 "/usr/local/lib", "/usr/lib")
CHOSEN_ENV = "PERISHIELD_ALLOCATOR_CHOSEN"  # set by the re-execution: never twice
ARENAS_ALL = 4096  # jemalloc's MALLCTL_ARENAS_ALL


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


def allocator() -> str:
    """The malloc this process runs on: "jemalloc" when it is loaded, else "glibc"."""
    return "jemalloc" if _jemalloc() is not None else "glibc"


@cache
def _jemalloc() -> Any | None:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    path = next((line.split()[-1] for line in maps.splitlines() if "libjemalloc" in line), None)
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                            ctypes.c_void_p, ctypes.c_size_t]
    lib.mallctl.restype = ctypes.c_int
    return lib


def _je_stat(lib: Any, name: str) -> int:
    value, size = ctypes.c_size_t(), ctypes.c_size_t(ctypes.sizeof(ctypes.c_size_t))
    lib.mallctl(name.encode(), ctypes.byref(value), ctypes.byref(size), None, 0)
    return value.value


def heap() -> dict[str, int] | None:
    """The C heap: bytes in use, bytes held free (glibc: inside its arenas; jemalloc: resident
    but not allocated), bytes in mapped blocks (glibc) or mapped in all (jemalloc); None on
    another allocator."""
    je = _jemalloc()
    if je is not None:
        epoch = ctypes.c_uint64(1)  # refresh jemalloc's statistics
        je.mallctl(b"epoch", None, None, ctypes.byref(epoch), ctypes.sizeof(epoch))
        allocated = _je_stat(je, "stats.allocated")
        return {"in_use": allocated, "free": max(0, _je_stat(je, "stats.resident") - allocated),
                "mapped": _je_stat(je, "stats.mapped")}
    libc = _glibc()
    if libc is None:
        return None
    m = libc.mallinfo2()
    return {"in_use": m.uordblks, "free": m.fordblks, "mapped": m.hblkhd}


def trim() -> bool:
    """Give the free pages of every arena back to the system; True if any were (jemalloc:
    if the purge ran)."""
    je = _jemalloc()
    if je is not None:
        return je.mallctl(f"arena.{ARENAS_ALL}.purge".encode(), None, None, None, 0) == 0
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def jemalloc_library() -> str | None:
    """The installed jemalloc (Debian: ``apt install libjemalloc2``), or None."""
    return next((str(p) for d in JEMALLOC_DIRS if (p := Path(d) / JEMALLOC).is_file()), None)


def use_allocator(choice: str) -> None:
    """Run this process on jemalloc when ``choice`` asks for it: "jemalloc", or "auto" when it
    is installed; "glibc" keeps glibc's malloc (with the trims).

    Call it first thing in a long-running command, before any thread starts: it re-executes
    the process in place (same pid, same arguments) with jemalloc preloaded; it returns at
    once when nothing is to change.

    Raises:
        RuntimeError: "jemalloc" was asked for and is not installed.
    """
    if choice == "glibc" or _jemalloc() is not None or os.environ.get(CHOSEN_ENV):
        return
    library = jemalloc_library()
    if library is None:
        if choice == "jemalloc":
            raise RuntimeError(f"process.allocator is jemalloc, but {JEMALLOC} is not "
                               f"installed (Debian: apt install libjemalloc2)")
        log.info("jemalloc is not installed: glibc's malloc, its free memory trimmed every "
                 "process.heap_trim_s")
        return
    preload = " ".join(filter(None, [library, os.environ.get("LD_PRELOAD", "")]))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],
              {**os.environ, "LD_PRELOAD": preload, CHOSEN_ENV: "1"})


@dataclass
class TrimStats:
    trims: int = 0
    seconds: float = 0.0  # spent trimming, in all


async def trim_every(period_s: float, stats: TrimStats) -> None:
    """Trim the heap every ``period_s`` on a worker thread (it takes the arenas' locks, never
    the event loop), until cancelled."""
    if _glibc() is None and _jemalloc() is None:
        return
    while True:
        await asyncio.sleep(period_s)
        t0 = time.perf_counter()
        await asyncio.to_thread(trim)
        stats.trims += 1
        stats.seconds += time.perf_counter() - t0
