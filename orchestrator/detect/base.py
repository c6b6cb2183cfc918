"""The detector contract and the batcher that gathers frames of many cameras into one call."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import numpy as np
import numpy.typing as npt

from orchestrator.detections import Detections

Frame = npt.NDArray[np.uint8]


class DetectorError(Exception):
    """A detector that cannot load or run; the message says what and why."""


class Detector(Protocol):
    """Anything that turns BGR frames into detections, one result per frame."""

    max_batch: int

    def detect(self, frames: list[Frame]) -> list[Detections]:
        """Blocking; call it from a worker thread."""
        ...

    def close(self) -> None: ...


class DetectionBatcher:
    """Gathers frames submitted by many cameras and runs them through the detector in batches.

    One background task takes whatever is waiting (up to ``max_batch``) and runs one detector
    call in a thread; cameras simply ``await batcher.detect(frame)``.
    """

    def __init__(self, detector: Detector, max_batch: int | None = None,
                 max_wait_s: float = 0.002) -> None:
        self._detector = detector
        self._max_batch = max_batch or detector.max_batch
        self._max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[Frame, asyncio.Future[Detections]]] = asyncio.Queue(
            maxsize=4 * self._max_batch)
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.frames = 0

    async def __aenter__(self) -> DetectionBatcher:
        self._task = asyncio.create_task(self._run(), name="detection-batcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def detect(self, frame: Frame) -> Detections:
        fut: asyncio.Future[Detections] = asyncio.get_running_loop().create_future()
        await self._queue.put((frame, fut))
        return await fut

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + self._max_wait_s
            while len(batch) < self._max_batch:
                try:
                    timeout = deadline - asyncio.get_running_loop().time()
                    batch.append(await asyncio.wait_for(self._queue.get(), max(timeout, 0)))
                except TimeoutError:
                    break
            live = [(f, fut) for f, fut in batch if not fut.cancelled()]
            if not live:
                continue
            try:
                results = await asyncio.to_thread(self._detector.detect, [f for f, _ in live])
            except Exception as e:  # noqa: BLE001 - handed to every waiting camera
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.batches += 1
            self.frames += len(live)
            for (_, fut), det in zip(live, results, strict=True):
                if not fut.done():
                    fut.set_result(det)
