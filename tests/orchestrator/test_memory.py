"""The C heap's free memory goes back to the system (orchestrator/memory.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator import memory

# Frames made on threads and partly freed, as decode threads and the event loop do: the
# freed ones stay as holes in the arenas (glibc's dynamic mmap threshold has been raised by
# the first freed frame), counted in RSS until the heap is trimmed.
FRAGMENT = """
import re, threading
from pathlib import Path
import numpy as np
from orchestrator import memory

def rss_mb():
    return int(re.search(r"VmRSS:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]) / 1024

big = np.ones(1_000_000, np.uint8)
del big  # a freed mapped block raises the mmap threshold
held, freed = [], []
def decode():
    for i in range(150):
        (held if i % 2 else freed).append(np.ones((480, 640, 3), np.uint8))
threads = [threading.Thread(target=decode) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
freed.clear()
h = memory.heap()
before = rss_mb()
trimmed = memory.trim()
print(h["free"] / 2**20, before, rss_mb(), trimmed)
"""


@pytest.mark.skipif(memory.heap() is None, reason="glibc only")
def test_trim_gives_free_heap_memory_back() -> None:
    out = subprocess.run([sys.executable, "-c", FRAGMENT], capture_output=True, text=True,
                         check=True).stdout
    free_mb, before, after, trimmed = out.split()
    assert float(free_mb) > 100  # 150 frames of 0.9 MB freed inside the arenas
    assert trimmed == "True"
    assert float(before) - float(after) > 100, out


def test_heap_reads_glibc() -> None:
    h = memory.heap()
    if h is None:
        pytest.skip("glibc only")
    assert set(h) == {"in_use", "free", "mapped"}
    assert h["in_use"] > 0
