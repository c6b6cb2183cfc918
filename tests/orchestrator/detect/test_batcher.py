"""The batcher forms a batch when the detector can take it, from everything waiting then."""

from __future__ import annotations

import asyncio
import threading

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
