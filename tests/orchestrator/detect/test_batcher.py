"""The batcher forms a batch when the detector can take it, from everything waiting then."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from orchestrator.detect import DetectionBatcher
from orchestrator.detections import Detections


class GatedDetector:
    """A blocking detector whose first call waits until the test opens the gate."""

    max_batch = 8

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[int] = []

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        self.calls.append(len(frames))
        self.gate.wait(10)
        return [Detections.empty() for _ in frames]

    def close(self) -> None:
        pass


def test_frames_that_arrive_while_the_detector_is_busy_go_in_one_batch() -> None:
    frame = np.zeros((8, 8, 3), np.uint8)

    async def scenario() -> list[int]:
        det = GatedDetector()
        async with DetectionBatcher(det, max_wait_s=0.002) as batcher:
            first = asyncio.create_task(batcher.detect(frame))
            while not det.calls:  # the first batch is in the detector
                await asyncio.sleep(0.001)
            later = []
            for _ in range(4):  # cameras asking one after another, 20 ms apart
                later.append(asyncio.create_task(batcher.detect(frame)))
                await asyncio.sleep(0.02)
            det.gate.set()
            await asyncio.gather(first, *later)
        return det.calls

    assert asyncio.run(scenario()) == [1, 4]


def test_detection_goes_on_while_asyncios_shared_threads_are_all_busy() -> None:
    """Snapshots, event inserts and clip fetches run on asyncio's shared thread pool; when
    every one of its threads is stuck (a slow NVR, a slow disk) the detector still runs."""
    frame = np.zeros((8, 8, 3), np.uint8)
    det = GatedDetector()
    det.gate.set()

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        stuck = threading.Event()
        loop.set_default_executor(ThreadPoolExecutor(2))
        blockers = [loop.run_in_executor(None, stuck.wait, 30) for _ in range(2)]
        try:
            async with DetectionBatcher(det) as batcher:
                got = await asyncio.wait_for(
                    asyncio.gather(*(batcher.detect(frame) for _ in range(3))), 20)
        finally:
            stuck.set()
            await asyncio.gather(*blockers)
        return len(got)

    assert asyncio.run(scenario()) == 3
