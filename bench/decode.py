"""Decoding cost: PyAV (what the orchestrator uses) versus the ffmpeg CLI on the same file, and
decoding several streams in threads versus processes.

    .venv/bin/python bench/decode.py        # needs the ffmpeg CLI (scripts/system-deps.sh)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import av

from orchestrator.paths import find_data


def h264_file(tmp: Path) -> Path:
    """An H.264 640x480 file (as cameras send): the demo video, 8 times (57 s, 1432 frames)."""
    out = tmp / "h264.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "7", "-i",
                    str(find_data("TUD-Stadtmitte.mp4")), "-c:v", "libx264", "-preset",
                    "veryfast", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", str(out)],
                   check=True)
    return out


def pyav_decode(path: str, threads: int = 1) -> int:
    with av.open(path) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = threads
        s.thread_type = "AUTO" if threads != 1 else "SLICE"
        return sum(1 for _ in c.decode(s))


def ffmpeg_decode(path: str, threads: int = 1) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-threads", str(threads), "-i", path, "-map",
                    "0:v", "-f", "null", "-"], check=True)


def best(fn: object, *args: object, rounds: int = 3) -> float:
    t = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        t = min(t, time.perf_counter() - t0)
    return t


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(h264_file(Path(tmp)))
        frames = pyav_decode(path)
        print(f"{frames} frames, H.264 640x480")
        print(f"{'decoder':28} {'threads':>7} {'ms/frame':>9} {'vs ffmpeg':>9}")
        for threads in (1, 2):
            ff = best(ffmpeg_decode, path, threads) / frames * 1000
            pa = best(pyav_decode, path, threads) / frames * 1000
            print(f"{'ffmpeg CLI':28} {threads:7d} {ff:9.3f} {1.0:8.2f}x")
            print(f"{'PyAV':28} {threads:7d} {pa:9.3f} {pa / ff:8.2f}x")

        streams = 4
        print(f"\n{streams} streams decoded at once (1 decoder thread each):")
        for name, pool in (("threads", ThreadPoolExecutor), ("processes", ProcessPoolExecutor)):
            with pool(streams) as ex:
                list(ex.map(pyav_decode, [path] * streams))  # warm-up (process start)
                t0 = time.perf_counter()
                total = sum(ex.map(pyav_decode, [path] * streams))
                wall = time.perf_counter() - t0
            print(f"  {name:10} {total / wall:8.0f} frames/s")


if __name__ == "__main__":
    sys.exit(main())
