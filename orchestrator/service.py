"""The per-host service: cameras as asyncio tasks sharing one detector, one batcher, one store.

Cameras come from the configuration (``run``) or are started, updated and stopped while it runs
(``start_camera`` / ``update_camera`` / ``stop_camera``, used by the control plane's worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from orchestrator.config import CameraConfig, DetectorConfig, Settings
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
from orchestrator.events.store import EventStore, StaleFenceError
from orchestrator.ingest import AnalysisFrame, SourceError, redact
from orchestrator.memory import TrimStats, trim_every
from orchestrator.pipeline import CameraPipeline, CameraState, CameraStats
from orchestrator.tracking import TrackingBatcher

log = logging.getLogger(__name__)

RECENTLY_LIVE_S = 300.0  # a camera live this recently is retried every few seconds
RECENT_RETRY_S = 3.0
RECENT_EVENTS = 1000
# Settings a running camera takes without touching its stream; anything else restarts it.
HOT_FIELDS = {"name", "zones", "lines", "rules", "nvr", "detector"}


def next_retry_delay(delay: float, blind_s: float, max_s: float) -> float:
    """The wait before the next reconnect (jitter is applied on top): doubling up to
    ``max_s``, but a camera live minutes ago is most likely back in seconds (a network blip,
    a camera reboot), so it is retried every few seconds."""
    cap = RECENT_RETRY_S if blind_s < RECENTLY_LIVE_S else max_s
    return min(delay * 2, cap)


class Service:
    """Cameras of one host, each a task; a failing camera never takes the others down.

    A camera whose source fails, stalls or ends (live) is restarted with exponential backoff
    and jitter. ``run(restart_failed=False)`` returns once every camera ended or failed (file
    analysis). ``request_stop()`` stops intake: cameras finish the frame in hand, record its
    events and flush their clips, then ``run`` returns.
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
        self.restart_failed = True
        self.pipelines: dict[str, CameraPipeline] = {}
        self.stats: dict[str, CameraStats] = {}
        self.cameras: dict[str, CameraConfig] = {}
        # The latest events, for a look from inside (tests, the API); the store keeps them all.
        self.events: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.batcher: DetectionBatcher | None = None
        # Every camera's tracks, tracked per detector batch (one call for all its cameras).
        self.tracking = TrackingBatcher(settings.tracker)
        self.store: EventStore | None = None
        self.triton_stats: dict[str, Any] = {}
        self.detector: Any = None  # while running
        self._detector = detector
        self._stop = asyncio.Event()
        self._others: contextlib.AsyncExitStack | None = None  # detectors besides the site's
        self._batchers: dict[str, DetectionBatcher] = {}
        self._opening = asyncio.Lock()
        self._camera_stops: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._fences: dict[str, int | None] = {}
        self.on_lease_lost: Callable[[str], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # while running (for /metrics)
        self.heap_trims = TrimStats()

    def request_stop(self) -> None:
        self._stop.set()
        for ev in self._camera_stops.values():
            ev.set()

    async def run(self, restart_failed: bool = True) -> dict[str, CameraStats]:
        """Run every enabled camera of the configuration until they end or stop is requested."""
        self.restart_failed = restart_failed
        async with self.running():
            for cam in self.settings.cameras:
                if cam.enabled:
                    self.start_camera(cam)
            await self.wait_cameras()
        return self.stats

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        """Detector, store and batcher open; cameras may be started inside."""
        self.loop = asyncio.get_running_loop()
        detector = self._detector or await open_detector(self.settings.detector)
        self.detector = detector
        poller = None
        if hasattr(detector, "statistics"):
            from orchestrator.metrics import poll_triton  # noqa: PLC0415

            poller = asyncio.create_task(poll_triton(self, detector, self.triton_metrics_url,
                                                     self.triton_poll_s))
        trim_s = self.settings.process.heap_trim_s
        trimmer = asyncio.create_task(trim_every(trim_s, self.heap_trims)) if trim_s else None
        try:
            self.store = await asyncio.to_thread(EventStore, self.settings.outputs.store_url)
            try:
                async with DetectionBatcher(detector) as batcher, \
                        contextlib.AsyncExitStack() as others:
                    self.batcher = batcher
                    self._others = others
                    try:
                        yield self
                    finally:
                        self.request_stop()
                        await self.wait_cameras()
            finally:
                self.store.close()
        finally:
            for task in (poller, trimmer):
                if task:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if self._detector is None:
                await close_detector(detector)

    async def batcher_for(self, config: DetectorConfig) -> DetectionBatcher:
        """The batcher of a detector setting other than the site's (a camera's night
        setting), opened on first use and shared by every camera that asks for it; closed
        with the service."""
        if config == self.settings.detector:
            assert self.batcher is not None
            return self.batcher
        key = config.model_dump_json()
        async with self._opening:
            got = self._batchers.get(key)
            if got is None:
                assert self._others is not None
                detector = await open_detector(config)
                self._others.push_async_callback(close_detector, detector)
                got = await self._others.enter_async_context(DetectionBatcher(detector))
                self._batchers[key] = got
                log.info("detector %s opened for a camera's night setting",
                         config.model or "(default model)")
        return got

    async def wait_cameras(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # -- cameras ------------------------------------------------------------------------------

    def start_camera(self, cam: CameraConfig, fence: int | None = None,
                     state: CameraState | None = None) -> None:
        """Run ``cam`` (no-op if it runs). ``fence``: the lease's token its writes carry;
        ``state``: what the camera knew when it was last running (a restart for new settings).
        """
        if cam.id in self._tasks:
            return
        self.cameras[cam.id] = cam
        self._fences[cam.id] = fence
        self._camera_stops[cam.id] = stop = asyncio.Event()
        if state is not None:
            state.rules.reconfigure(cam)
        else:
            state = CameraState(cam, self.settings.tracker, self.tracking)
        task = asyncio.create_task(self._camera(cam, stop, state), name=f"camera:{cam.id}")
        self._tasks[cam.id] = task
        task.add_done_callback(functools.partial(self._forget_task, cam.id))

    def _forget_task(self, camera_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(camera_id) is task:
            del self._tasks[camera_id]

    async def stop_camera(self, camera_id: str, deadline_s: float = 10.0) -> None:
        """Stop one camera: it finishes its frame, records events, flushes clips."""
        task = self._tasks.get(camera_id)
        if camera_id in self._camera_stops:
            self._camera_stops[camera_id].set()
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), deadline_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def release_camera(self, camera_id: str, deadline_s: float = 10.0) -> None:
        """Stop a camera that leaves this host (handed to another worker, lease lost) and
        forget it: its pipeline, packet ring, counters and metrics go with it."""
        await self.stop_camera(camera_id, deadline_s)
        self.forget_camera(camera_id)

    def forget_camera(self, camera_id: str) -> None:
        """Drop what is kept of a camera that no longer runs here."""
        if camera_id in self._tasks:
            return
        for kept in (self.cameras, self.pipelines, self.stats, self._fences,
                     self._camera_stops):
            kept.pop(camera_id, None)

    async def update_camera(self, cam: CameraConfig) -> str:
        """Apply new settings: rules in place, anything else by restarting this camera alone.

        Returns "hot", "restarted" or "stopped" (disabled)."""
        old = self.cameras.get(cam.id)
        if old is None or cam.id not in self._tasks:
            if cam.enabled:
                self.start_camera(cam, self._fences.get(cam.id))
                return "restarted"
            return "stopped"
        changed = {k for k in CameraConfig.model_fields
                   if getattr(old, k) != getattr(cam, k)}
        if not cam.enabled:
            await self.stop_camera(cam.id)
            return "stopped"
        self.cameras[cam.id] = cam
        pipe = self.pipelines.get(cam.id)
        if changed <= HOT_FIELDS and pipe is not None:
            pipe.apply_rules(cam)
            return "hot"
        fence = self._fences.get(cam.id)
        state = pipe.state if pipe is not None else None
        await self.stop_camera(cam.id)
        self.start_camera(cam, fence, state)
        return "restarted"

    @property
    def running_cameras(self) -> list[str]:
        return sorted(self._tasks)

    async def _camera(self, cam: CameraConfig, stop: asyncio.Event, state: CameraState) -> None:
        delay = 1.0
        stats = self.stats.setdefault(cam.id, CameraStats())
        on_frame = None if self.on_frame is None else functools.partial(self.on_frame, cam.id)
        assert self.batcher is not None and self.store is not None
        while not stop.is_set():
            cam = self.cameras.get(cam.id, cam)
            pipe = CameraPipeline(cam, self.settings, self.batcher, self.store, self._event,
                                  self.on_evidence, on_frame, stats, stop,
                                  fence=self._fences.get(cam.id), state=state,
                                  batcher_for=self.batcher_for)
            self.pipelines[cam.id] = pipe
            analysed_before = stats.frames_analysed
            try:
                await pipe.run()
            except StaleFenceError as e:
                # Another worker holds this camera now: stop it here, never write again.
                stats.state, stats.reason = "lost", str(e)
                log.error("camera %s: lease lost, stopping: %s", cam.id, e)
                if self.on_lease_lost:
                    self.on_lease_lost(cam.id)
                return
            except SourceError as e:
                stats.errors.append(str(e))
                log.error("camera %s: %s", cam.id, e)
                if not self.restart_failed:
                    return
            except Exception as e:
                stats.errors.append(f"{type(e).__name__}: {e}")
                stats.state, stats.reason = "failed", stats.errors[-1]
                log.exception("camera %s crashed", cam.id)
                if not self.restart_failed:
                    return
            else:
                if not cam.is_live or stop.is_set():
                    return  # a file ended, or the camera is stopping
                log.warning("camera %s (%s): stream ended, reconnecting", cam.id,
                            redact(cam.source))
            del stats.errors[:-20]
            if stats.frames_analysed > analysed_before:
                delay = 1.0  # it was live: start the backoff again
            stats.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay * (0.5 + random.random()))
            blind = (time.monotonic() - stats.last_analysed if stats.frames_analysed
                     else float("inf"))  # never live: the full backoff
            delay = next_retry_delay(delay, blind, self.max_restart_delay_s)

    def _event(self, ev: Event) -> None:
        self.events.append(ev)
        if self.on_event:
            self.on_event(ev)
