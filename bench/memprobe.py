"""Run a `perishield` command with its memory watched from inside, to say what grows.

    MEMPROBE_DIR=/tmp/probe python bench/memprobe.py worker -c site.yaml --id w0

Every MEMPROBE_EVERY seconds (default 60) it appends one line to MEMPROBE_DIR/memory.tsv: RSS
and glibc's heap (`mallinfo2`: bytes in use and bytes free inside the arenas, mmapped blocks;
C libraries such as FFmpeg and ONNX Runtime allocate there, and so do Python's large objects
and numpy arrays). With MEMPROBE_TRACE=1 it also traces Python's allocations (tracemalloc:
objects and numpy arrays, column python_mb) and dumps a snapshot (MEMPROBE_DIR/snap-NNN.pickle)
that `python bench/memprobe.py --compare A B` diffs by allocation site. (The heap trim is the
orchestrator's own setting: PERISHIELD_PROCESS__HEAP_TRIM_S.)

RSS growth with flat glibc in-use bytes and rising free bytes is memory the allocator keeps
(fragmentation, arenas never trimmed); rising in-use bytes with flat Python is a native leak.
tracemalloc's own tables live in glibc's heap too (column tracemalloc_mb: subtract it), and a
snapshot briefly costs about as much again.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from orchestrator import memory


def rss_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) * 1024  # type: ignore[index]


def _watch(out: Path, every: float) -> None:
    table = out / "memory.tsv"
    table.write_text("t_s\trss_mb\tpython_mb\theap_in_use_mb\theap_free_mb\tmmapped_mb"
                     "\ttracemalloc_mb\n")
    t0 = time.monotonic()
    n = 0
    while True:
        time.sleep(every)
        trace = tracemalloc.is_tracing()
        traced = tracemalloc.get_traced_memory()[0] if trace else float("nan")
        heap = memory.heap() or {"in_use": 0, "free": 0, "mapped": 0}
        with table.open("a") as f:
            f.write(f"{time.monotonic() - t0:.0f}\t{rss_bytes() / 2**20:.1f}\t"
                    f"{traced / 2**20:.1f}\t{heap['in_use'] / 2**20:.1f}\t"
                    f"{heap['free'] / 2**20:.1f}\t{heap['mapped'] / 2**20:.1f}\t"
                    f"{tracemalloc.get_tracemalloc_memory() / 2**20:.1f}\n")
        if trace:
            tracemalloc.take_snapshot().dump(str(out / f"snap-{n:03d}.pickle"))
            n += 1


def compare(a: str, b: str, top: int = 25) -> None:
    old, new = tracemalloc.Snapshot.load(a), tracemalloc.Snapshot.load(b)
    for stat in new.compare_to(old, "traceback")[:top]:
        print(f"{stat.size_diff / 2**20:+8.2f} MB {stat.count_diff:+8d} blocks "
              f"(now {stat.size / 2**20:.2f} MB)")
        for line in stat.traceback.format(limit=6):
            print("    " + line)


def main() -> None:
    if sys.argv[1:2] == ["--compare"]:
        compare(sys.argv[2], sys.argv[3])
        return
    out = Path(os.environ["MEMPROBE_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get("MEMPROBE_TRACE") == "1":
        tracemalloc.start(int(os.environ.get("MEMPROBE_FRAMES", "8")))
    threading.Thread(target=_watch, args=(out, float(os.environ.get("MEMPROBE_EVERY", "60"))),
                     daemon=True, name="memprobe").start()
    sys.argv = ["orchestrator", *sys.argv[1:]]
    runpy.run_module("orchestrator", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
