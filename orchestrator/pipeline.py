"""One camera's chain (ingest → detect → track → rules → events) and the service running many."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import CameraConfig, Settings, TrackerConfig
from orchestrator.detect import DetectionBatcher, DetectorError, close_detector, open_detector
from orchestrator.detections import Detections
from orchestrator.events.model import Event
from orchestrator.events.recorder import EventCallback, EventRecorder
from orchestrator.events.store import EventStore
from orchestrator.ingest import AnalysisFrame, PacketRing, SourceError, VideoSource, redact
from orchestrator.rules import RuleEngine
from trackers import ByteTrack, ByteTrackConfig

log = logging.getLogger(__name__)
FrameCallback = Callable[[AnalysisFrame, Detections], None]


def tracker_for(config: TrackerConfig) -> ByteTrack:
    return ByteTrack(ByteTrackConfig(
        high_threshold=config.high_threshold, low_threshold=config.low_threshold,
        new_track_threshold=config.new_track_threshold, match_iou=config.match_iou,
        lost_s=config.lost_s, min_hits=config.min_hits))


@dataclass(slots=True)
class CameraStats:
    """What a camera has done so far (read by the CLI and, later, the monitor)."""

    state: str = "idle"  # idle | connecting | live | degraded | ended | failed
    reason: str = ""
    frames_analysed: int = 0
    detector_errors: int = 0
    frames_decoded: int = 0
    frames_dropped: int = 0
    decode_errors: int = 0
    events: int = 0
    last_video_time: float = 0.0
    errors: list[str] = field(default_factory=list)


class CameraPipeline:
    """Runs one camera until its source ends (files) or it is cancelled."""

    def __init__(self, camera: CameraConfig, settings: Settings, batcher: DetectionBatcher,
                 store: EventStore, on_event: EventCallback | None = None,
                 on_evidence: EventCallback | None = None,
                 on_frame: FrameCallback | None = None) -> None:
        self.camera = camera
        self.settings = settings
        self.batcher = batcher
        out = settings.outputs
        self.ring = PacketRing(out.pre_roll_s + out.post_roll_s + 5.0)
        self.tracker = tracker_for(settings.tracker)
        self.rules = RuleEngine(camera, forget_after_s=max(10.0, 4 * settings.tracker.lost_s))
        self.recorder = EventRecorder(camera, out, store, self.ring, on_event, on_evidence)
        self.on_frame = on_frame
        self.stats = CameraStats()
        self.source: VideoSource | None = None

    async def run(self) -> CameraStats:
        """Analyse the source to its end. Raises ``SourceError`` when it cannot be read."""
        cam = self.camera
        self.source = VideoSource(cam.source, cam.analysis_fps, self.ring, live=cam.is_live,
                                  rtsp_transport=cam.rtsp_transport, loop_file=cam.loop)
        self.stats.state = "connecting"
        try:
            async for frame in self.source:
                await self._analyse(frame)
            self.stats.state, self.stats.reason = "ended", "end of stream"
        except SourceError as e:
            self.stats.state, self.stats.reason = "failed", str(e)
            raise
        finally:
            self.source.stop()
            self._count()
            await self.recorder.poll(final=True)
        return self.stats

    async def _analyse(self, frame: AnalysisFrame) -> None:
        try:
            det = await self.batcher.detect(frame.image)
        except DetectorError as e:
            # The frame is not analysed; the camera keeps running and resumes with the detector.
            self.stats.detector_errors += 1
            if self.stats.state != "degraded":
                log.error("camera %s: frames not analysed: %s", self.camera.id, e)
            self.stats.state, self.stats.reason = "degraded", str(e)
            return
        self.stats.state, self.stats.reason = "live", ""
        det.tracker_id = self.tracker.update(det.xyxy, det.confidence, det.class_id,
                                             frame.timestamp)
        hits = self.rules.update(det, frame.timestamp)
        for hit in hits:
            await self.recorder.record(hit, frame, det, self.rules.trajectories.get(hit.track_id))
            self.stats.events += 1
        self.stats.frames_analysed += 1
        self.stats.last_video_time = frame.video_time
        if self.on_frame:
            self.on_frame(frame, det)
        await self.recorder.poll()

    def _count(self) -> None:
        if self.source:
            self.stats.frames_decoded = self.source.decoded
            self.stats.frames_dropped = self.source.dropped
            self.stats.decode_errors = self.source.decode_errors


class Service:
    """All enabled cameras of a configuration in one asyncio process.

    A camera whose source fails is restarted with exponential backoff and jitter; it never
    takes the others down. ``run(until_sources_end=True)`` returns once every file ended.
    """

    def __init__(self, settings: Settings, on_event: EventCallback | None = None,
                 on_evidence: EventCallback | None = None,
                 on_frame: Callable[[str, AnalysisFrame, Detections], None] | None = None,
                 max_restart_delay_s: float = 30.0,
                 triton_metrics_url: str | None = None) -> None:
        self.settings = settings
        self.triton_metrics_url = triton_metrics_url
        self.triton_poll_s = 5.0
        self.on_event = on_event
        self.on_evidence = on_evidence
        self.on_frame = on_frame
        self.max_restart_delay_s = max_restart_delay_s
        self.pipelines: dict[str, CameraPipeline] = {}
        self.events: list[Event] = []
        self.batcher: DetectionBatcher | None = None
        self.triton_stats: dict[str, Any] = {}

    async def run(self, restart_failed: bool = True) -> dict[str, CameraStats]:
        cameras = [c for c in self.settings.cameras if c.enabled]
        detector = await open_detector(self.settings.detector)
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
            await close_detector(detector)
        return {cid: p.stats for cid, p in self.pipelines.items()}

    async def _camera(self, cam: CameraConfig, batcher: DetectionBatcher, store: EventStore,
                      restart_failed: bool) -> None:
        delay = 1.0
        errors: list[str] = []
        while True:
            on_frame = None if self.on_frame is None else functools.partial(self.on_frame, cam.id)
            pipe = CameraPipeline(cam, self.settings, batcher, store, self._event,
                                  self.on_evidence, on_frame)
            pipe.stats.errors = errors
            self.pipelines[cam.id] = pipe
            try:
                await pipe.run()
            except SourceError as e:
                errors.append(str(e))
                log.error("camera %s: %s", cam.id, e)
                if not restart_failed:
                    return
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
                pipe.stats.state, pipe.stats.reason = "failed", errors[-1]
                log.exception("camera %s crashed", cam.id)
                if not restart_failed:
                    return
            else:
                if not cam.is_live:
                    return  # a file ended
                log.warning("camera %s (%s): stream ended, reconnecting", cam.id,
                            redact(cam.source))
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.max_restart_delay_s)

    def _event(self, ev: Event) -> None:
        self.events.append(ev)
        if self.on_event:
            self.on_event(ev)


async def cancel_on(stop: asyncio.Event, task: asyncio.Task[object]) -> None:
    """Cancel ``task`` when ``stop`` is set."""
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
