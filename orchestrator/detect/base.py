"""The detector contract and the batcher that gathers frames of many cameras into one call."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import numpy.typing as npt

from orchestrator.detect.postprocess import FrameTransform
from orchestrator.detections import Detections

Frame = npt.NDArray[np.uint8]


class Picture(Protocol):
    """A decoded frame that makes the model's input itself (ingest's ``AnalysisFrame``), on
    the detector's thread, from the decoder's own pixels."""

    def model_input(self, size: tuple[int, int], keep_ratio: bool
                    ) -> tuple[Frame, FrameTransform]: ...


Image = Frame | Picture  # what a detector takes: a BGR array or a decoded picture


class DetectorError(Exception):
    """A detector that cannot load or run; the message says what and why."""


class FrameRejected(DetectorError):
    """The detector turned these frames down (its queue was full, or they waited past their
    deadline): they are dropped, and the detector stays up for the next ones. Overload is not
    an outage."""


class DetectorUnavailable(DetectorError):
    """The detector is unreachable for now (a served model restarting); frames meanwhile are
    not analysed, and the detector retries by itself."""


class Detector(Protocol):
    """Anything that turns frames (BGR arrays or decoded pictures) into detections, one result
    per frame."""

    max_batch: int

    def detect(self, frames: list[Image]) -> list[Detections]:
        """Blocking; call it from a worker thread."""
        ...

    def close(self) -> None: ...


class AsyncDetector(Protocol):
    """A detector with a native async call (a served model); several calls may be in flight."""

    max_batch: int
    max_inflight: int

    async def detect_async(self, frames: list[Image]) -> list[Detections]: ...

    async def aclose(self) -> None: ...


class DetectionBatcher:
    """Gathers frames submitted by many cameras and runs them through the detector in batches.

    One background task takes whatever is waiting (up to ``max_batch``) and hands it to the
    detector: up to ``max_inflight`` batches at once (1 unless the detector says more), a
    blocking detector on threads of its own (asyncio's shared pool also writes snapshots,
    inserts events and fetches clips: a burst of events or a slow recorder must not hold up
    detection), an async one through its own call. Cameras simply
    ``await batcher.detect(frame)``.
    """

    def __init__(self, detector: Detector | AsyncDetector, max_batch: int | None = None,
                 max_wait_s: float = 0.002) -> None:
        self._detector = detector
        self._max_batch = max_batch or detector.max_batch
        self._max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[Image, asyncio.Future[Detections]]] = asyncio.Queue(
            maxsize=4 * self._max_batch)
        self._task: asyncio.Task[None] | None = None
        inflight = getattr(detector, "max_inflight", 1)
        self._inflight = asyncio.Semaphore(inflight)
        self._threads = (None if hasattr(detector, "detect_async") else
                         ThreadPoolExecutor(inflight, thread_name_prefix="detector"))
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.frames = 0
        self.batch_sizes: dict[int, int] = {}

    async def __aenter__(self) -> DetectionBatcher:
        self._task = asyncio.create_task(self._run(), name="detection-batcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in [self._task, *self._running]:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._threads is not None:
            self._threads.shutdown(wait=False)  # a batch still running ends on its own

    async def detect(self, frame: Image) -> Detections:
        fut: asyncio.Future[Detections] = asyncio.get_running_loop().create_future()
        await self._queue.put((frame, fut))
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            # A free detector slot first, then the batch: frames that queued while every slot
            # was busy go together in the next batch instead of behind a batch formed early.
            await self._inflight.acquire()
            batch = [first]
            deadline = loop.time() + self._max_wait_s
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait() if not self._queue.empty() else
                                 await asyncio.wait_for(self._queue.get(),
                                                        max(deadline - loop.time(), 0)))
                except TimeoutError:
                    break
            live = [(f, fut) for f, fut in batch if not fut.cancelled()]
            if not live:
                self._inflight.release()
                continue
            task = asyncio.create_task(self._run_batch(live))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_batch(self, live: list[tuple[Image, asyncio.Future[Detections]]]) -> None:
        frames = [f for f, _ in live]
        try:
            if hasattr(self._detector, "detect_async"):
                results = await self._detector.detect_async(frames)
            else:
                results = await asyncio.get_running_loop().run_in_executor(
                    self._threads, self._detector.detect, frames)
        except Exception as e:  # noqa: BLE001 - handed to every waiting camera
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(e)
            return
        finally:
            self._inflight.release()
        self.batches += 1
        self.frames += len(live)
        self.batch_sizes[len(live)] = self.batch_sizes.get(len(live), 0) + 1
        for (_, fut), det in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(det)
