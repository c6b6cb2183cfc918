"""Orchestrator overhead without decode or inference: synthetic cameras (no decoding) and a
constant-time detector, through the real batcher, ByteTrack, rules and stats.

Prints camera-frames/s per CPU core (all cameras as fast as they go), and per-camera lag
(analysis done − capture) p50/p99 at 50, 100 and 200 real-time cameras of 5 fps.

    .venv/bin/python bench/service_load.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time

import numpy as np

from orchestrator.config import Settings
from orchestrator.detections import Detections
from orchestrator.service import Service

# Five people standing clear of the zone and the line: the rules run, no event fires.
BOXES = np.array([[20 + 55 * i, 40, 60 + 55 * i, 200] for i in range(5)], np.float32)


class ConstantDetector:
    """Five people, always; costs nothing (no thread hop, no model)."""

    max_batch = 32
    max_inflight = 4

    async def detect_async(self, frames: list[np.ndarray]) -> list[Detections]:
        return [Detections(BOXES, np.full(5, 0.9, np.float32), np.zeros(5, np.int64))
                for _ in frames]

    async def aclose(self) -> None:
        pass


def settings(tmp: str, cameras: int, fps: float) -> Settings:
    zone = {"name": "yard", "points": [[0, 250], [640, 250], [640, 479], [0, 479]]}
    line = {"name": "wall", "points": [[400, 0], [400, 479]]}
    return Settings.model_validate({
        "cameras": [{"id": f"sim{i:03d}", "source": "synthetic://640x480", "analysis_fps": fps,
                     "zones": [zone], "lines": [line]} for i in range(cameras)],
        "outputs": {"data_dir": tmp}})


async def run(cameras: int, fps: float, seconds: float, warmup_s: float = 1.0) -> Service:
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(settings(tmp, cameras, fps), detector=ConstantDetector())
        task = asyncio.create_task(service.run())
        await asyncio.sleep(warmup_s)
        for st in service.stats.values():  # steady state only
            st.lags.clear()
        await asyncio.sleep(seconds)
        service.request_stop()
        await task
    return service


def throughput(cameras: int = 100, seconds: float = 5.0) -> None:
    cpu0, t0 = time.process_time(), time.perf_counter()
    service = asyncio.run(run(cameras, 60.0, seconds))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    frames = sum(s.frames_analysed for s in service.stats.values())
    print(f"throughput: {cameras} cameras x 60 fps (more than it can take) for {seconds:.0f} s: "
          f"{frames} camera-frames, {frames / wall:.0f}/s wall, "
          f"{frames / cpu:.0f} per CPU-second (one core)")


def lag(cameras: int, fps: float = 5.0, seconds: float = 6.0) -> None:
    service = asyncio.run(run(cameras, fps, seconds))
    lags = np.concatenate([np.asarray(s.lags) for s in service.stats.values()]) * 1000
    analysed = sum(s.frames_analysed for s in service.stats.values())
    dropped = sum(s.frames_dropped for s in service.stats.values())
    print(f"{cameras:4d} cameras x {fps:.0f} fps: lag p50 {np.percentile(lags, 50):6.2f} ms  "
          f"p99 {np.percentile(lags, 99):6.2f} ms  analysed {analysed}  dropped {dropped}")


def main() -> None:
    throughput()
    for n in (50, 100, 200):
        lag(n)


if __name__ == "__main__":
    main()
