"""The per-host service: every enabled camera in one asyncio process, one detector."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable
from typing import Any

from orchestrator.config import CameraConfig, Settings
from orchestrator.detect import (
    AsyncDetector,
    DetectionBatcher,
    Detector,
    close_detector,
    open_detector,
)
from orchestrator.detections import Detections
from orchestrator.events.model import Event
from orchestrator.events.recorder import EventCallback
from orchestrator.events.store import EventStore
from orchestrator.ingest import AnalysisFrame, SourceError, redact
from orchestrator.pipeline import CameraPipeline, CameraStats

log = logging.getLogger(__name__)


class Service:
    """All enabled cameras of a configuration, each a task of one task group.

    A camera whose source fails, stalls or ends (live) is restarted with exponential backoff
    and jitter; it never takes the others down. ``run(restart_failed=False)`` returns once every
    camera ended or failed (file analysis). ``request_stop()`` stops intake: cameras finish the
    frame in hand, record its events and flush their clips, then ``run`` returns.
    """

    def __init__(self, settings: Settings, on_event: EventCallback | None = None,
                 on_evidence: EventCallback | None = None,
                 on_frame: Callable[[str, AnalysisFrame, Detections], None] | None = None,
                 max_restart_delay_s: float = 30.0,
                 triton_metrics_url: str | None = None,
                 detector: Detector | AsyncDetector | None = None) -> None:
        self.settings = settings
        self.triton_metrics_url = triton_metrics_url
        self.triton_poll_s = 5.0
        self.on_event = on_event
        self.on_evidence = on_evidence
        self.on_frame = on_frame
        self.max_restart_delay_s = max_restart_delay_s
        self.pipelines: dict[str, CameraPipeline] = {}
        self.stats: dict[str, CameraStats] = {}
        self.events: list[Event] = []
        self.batcher: DetectionBatcher | None = None
        self.triton_stats: dict[str, Any] = {}
        self._detector = detector
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, restart_failed: bool = True) -> dict[str, CameraStats]:
        cameras = [c for c in self.settings.cameras if c.enabled]
        detector = self._detector or await open_detector(self.settings.detector)
        poller = None
        if hasattr(detector, "statistics"):
            from orchestrator.metrics import poll_triton  # noqa: PLC0415

            poller = asyncio.create_task(poll_triton(self, detector, self.triton_metrics_url,
                                                     self.triton_poll_s))
        try:
            store = await asyncio.to_thread(EventStore, self.settings.outputs.store_url)
            try:
                async with DetectionBatcher(detector) as batcher, asyncio.TaskGroup() as tg:
                    self.batcher = batcher
                    for cam in cameras:
                        tg.create_task(self._camera(cam, batcher, store, restart_failed),
                                       name=f"camera:{cam.id}")
            finally:
                store.close()
        finally:
            if poller:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            if self._detector is None:
                await close_detector(detector)
        return self.stats

    async def _camera(self, cam: CameraConfig, batcher: DetectionBatcher, store: EventStore,
                      restart_failed: bool) -> None:
        delay = 1.0
        stats = self.stats.setdefault(cam.id, CameraStats())
        on_frame = None if self.on_frame is None else functools.partial(self.on_frame, cam.id)
        while not self._stop.is_set():
            pipe = CameraPipeline(cam, self.settings, batcher, store, self._event,
                                  self.on_evidence, on_frame, stats, self._stop)
            self.pipelines[cam.id] = pipe
            analysed_before = stats.frames_analysed
            try:
                await pipe.run()
            except SourceError as e:
                stats.errors.append(str(e))
                log.error("camera %s: %s", cam.id, e)
                if not restart_failed:
                    return
            except Exception as e:
                stats.errors.append(f"{type(e).__name__}: {e}")
                stats.state, stats.reason = "failed", stats.errors[-1]
                log.exception("camera %s crashed", cam.id)
                if not restart_failed:
                    return
            else:
                if not cam.is_live or self._stop.is_set():
                    return  # a file ended, or the service is stopping
                log.warning("camera %s (%s): stream ended, reconnecting", cam.id,
                            redact(cam.source))
            del stats.errors[:-20]
            if stats.frames_analysed > analysed_before:
                delay = 1.0  # it was live: start the backoff again
            stats.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay * (0.5 + random.random()))
            delay = min(delay * 2, self.max_restart_delay_s)

    def _event(self, ev: Event) -> None:
        self.events.append(ev)
        if self.on_event:
            self.on_event(ev)
