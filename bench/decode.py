"""Decoding cost through the real ingest path, against the ffmpeg CLI on the same file.

The file is what cameras send: the Stadtmitte sequence looped 8 times (57 s, 1432 frames),
transcoded to H.264 640×480 (GOP 25, no B-frames) and to HEVC.

Sides, each timed by the CPU time (user + system, all threads) it spends, per decoded frame:
- ``ffmpeg -threads 1 -f null``: the CLI's own `-benchmark` utime + stime, which leaves out its
  start-up and probing;
- bare PyAV, one decoder thread (the floor of decoding from Python);
- ``VideoSource`` at 5 analysed fps and at every frame: the orchestrator's ingest (decode
  thread, packets copied into the ring, frame picking, the hand-over to asyncio of the decoded
  pictures), consumed by a loop that does nothing else; one decoder thread (the default
  ``decode_threads: 1``), and once with FFmpeg's own threads (``decode_threads: 0``);
- the same with the detector's input made from each analysed frame, as the detector's thread
  does (BGR, then resized and letterboxed to 416×416 uint8): decode plus conversion.

Besides the cost per decoded frame it prints the cost per camera-second (25 decoded frames,
5 analysed) against the CLI's bare decode of the same second.

Rounds are interleaved (each side once per round); it prints medians and ranges. It leaves out
the network (RTSP) and detection.

    .venv/bin/python bench/decode.py [--rounds 5]      # needs the ffmpeg CLI
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
from figures import median_range

from orchestrator.detect.postprocess import prepare
from orchestrator.ingest.packets import PacketRing
from orchestrator.ingest.source import VideoSource
from orchestrator.paths import find_data

ROUNDS = 5


def encode(tmp: Path, codec: str) -> Path:
    out = tmp / f"{codec}.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "7", "-i",
                    str(find_data("TUD-Stadtmitte.mp4")), "-c:v", codec, "-preset", "veryfast",
                    "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
                    *(["-x265-params", "log-level=error"] if codec == "libx265" else []),
                    str(out)], check=True)
    return out


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ffmpeg_cli(path: Path) -> float:
    """CPU seconds of the CLI's decode loop (its -benchmark figure, start-up left out)."""
    p = subprocess.run(["ffmpeg", "-hide_banner", "-benchmark", "-threads", "1", "-i",
                        str(path), "-map", "0:v", "-f", "null", "-"],
                       capture_output=True, text=True, check=True)
    m = re.search(r"bench: utime=([\d.]+)s stime=([\d.]+)s", p.stderr)
    assert m, p.stderr[-500:]
    return float(m[1]) + float(m[2])


def pyav_bare(path: Path) -> float:
    t0 = cpu_s()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        for _ in c.decode(s):
            pass
    return cpu_s() - t0


def ingest(fps: float, model_input: bool = False, threads: int = 1
           ) -> Callable[[Path], float]:
    def run(path: Path) -> float:
        async def consume() -> int:
            n = 0
            async for f in VideoSource(str(path), analysis_fps=fps, ring=PacketRing(20.0),
                                       live=False, decode_threads=threads):
                if model_input:
                    prepare(f, (416, 416))
                n += 1
            return n

        t0 = cpu_s()
        asyncio.run(consume())
        return cpu_s() - t0
    return run


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.demux(video=0) if _.size)


def measure(rounds: int = ROUNDS) -> dict:
    sides: dict[str, Callable[[Path], float]] = {
        "ffmpeg -threads 1 (-benchmark)": ffmpeg_cli,
        "PyAV, 1 thread": pyav_bare,
        "VideoSource, 5 analysed fps": ingest(5.0),
        "VideoSource, 5 fps + detector input": ingest(5.0, model_input=True),
        "VideoSource, 5 fps + detector input, FFmpeg threads": ingest(5.0, True, threads=0),
        "VideoSource, every frame analysed": ingest(1000.0),
        "VideoSource, every frame + detector input": ingest(1000.0, model_input=True),
    }
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for codec in ("libx264", "libx265"):
            path = encode(Path(tmp), codec)
            frames = frame_count(path)
            ms: dict[str, list[float]] = {k: [] for k in sides}
            for fn in sides.values():  # warm-up: page cache, first imports
                fn(path)
            for _ in range(rounds):
                for name, fn in sides.items():
                    ms[name].append(fn(path) / frames * 1000)
            out[codec] = {"frames": frames, "cpu_ms_per_decoded_frame": ms}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    res = measure(ap.parse_args().rounds)
    for codec, r in res.items():
        print(f"{codec}, 640x480, {r['frames']} frames: CPU ms per decoded frame, median (range)")
        ms = r["cpu_ms_per_decoded_frame"]
        ref = statistics.median(ms["ffmpeg -threads 1 (-benchmark)"])
        for name, xs in ms.items():
            print(f"  {name:52} {median_range(xs):>22}  {statistics.median(xs) / ref:5.2f}x")
        print("  per camera-second (25 decoded, 5 analysed frames): CLI "
              f"{ref * 25:.1f} ms, VideoSource + detector input "
              f"{statistics.median(ms['VideoSource, 5 fps + detector input']) * 25:.1f} ms")


if __name__ == "__main__":
    main()
