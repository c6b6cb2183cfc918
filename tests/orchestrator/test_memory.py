"""The C heap's free memory goes back to the system (orchestrator/memory.py)."""

from __future__ import annotations

import os
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


def test_allocator_choice_without_jemalloc(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Asked for and missing: a clear error; "auto" and "glibc" go on with glibc (nothing is
    re-executed: this very process goes on)."""
    monkeypatch.setattr(memory, "JEMALLOC_DIRS", (str(tmp_path),))
    monkeypatch.delenv(memory.CHOSEN_ENV, raising=False)
    assert memory.jemalloc_library() is None
    with pytest.raises(RuntimeError, match="apt install libjemalloc2"):
        memory.use_allocator("jemalloc")
    memory.use_allocator("auto")
    memory.use_allocator("glibc")
    assert memory.allocator() == "glibc"


@pytest.mark.skipif(memory.jemalloc_library() is None, reason="jemalloc not installed")
def test_jemalloc_heap_and_purge_in_a_preloaded_process() -> None:
    code = ("from orchestrator import memory; import numpy as np; "
            "a = [np.ones(900_000, np.uint8) for _ in range(100)]; del a; "
            "h = memory.heap(); print(memory.allocator(), h['in_use'] > 0, memory.trim())")
    env = {**os.environ, "LD_PRELOAD": memory.jemalloc_library()}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    assert out == ["jemalloc", "True", "True"]
