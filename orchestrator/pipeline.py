"""One camera's chain: ingest → detect → track → rules → events."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.config import (
    CameraConfig,
    DetectorConfig,
    NightConfig,
    Settings,
    TrackerConfig,
)
from orchestrator.detect import DetectionBatcher, DetectorError, FrameRejected, regions
from orchestrator.detect.motion import DETECT, HOLD, SKIP, Gate
from orchestrator.detect.night import NIGHT, NightSwitch, night_detector
from orchestrator.detect.perspective import Perspective
from orchestrator.detections import Detections
from orchestrator.events.recorder import EventCallback, EventRecorder
from orchestrator.events.store import EventStore, StaleFenceError
from orchestrator.ingest import AnalysisFrame, PacketRing, SourceError, StreamStalled
from orchestrator.ingest.record import RecordingStream
from orchestrator.ingest.synthetic import FrameSource, make_source
from orchestrator.rules import RuleEngine, RuleHit
from orchestrator.tracking import TrackingBatcher
from trackers import ByteTrack

log = logging.getLogger(__name__)
BatcherFor = Callable[[DetectorConfig], Awaitable[DetectionBatcher]]
SAVE_HEIGHTS_S = 60.0  # how often a camera's learned heights are written to disk
FrameCallback = Callable[[AnalysisFrame, Detections], None]
HISTORY_FRAMES = 64  # analysed frames held at most for snapshots of acts being confirmed
HISTORY_TAIL_S = 0.5
ORPHAN_SWEEP_S = 60.0  # how often a live camera finishes clips an earlier run left pending
BLIND_AFTER_S = 1.0  # analysed frames further apart than this (or 3 periods) left a blind gap


def outside_frame(camera: CameraConfig, size: tuple[int, int]) -> list[str]:
    """The zones and lines of ``camera`` whose points all lie beyond one edge of a frame of
    ``size`` (width, height)."""
    w, h = size
    out = []
    for kind, rules in (("zone", camera.zones), ("line", camera.lines),
                        ("climb", camera.climbs)):
        for r in rules:
            xs, ys = [p[0] for p in r.points], [p[1] for p in r.points]
            if max(xs) < 0 or min(xs) > w or max(ys) < 0 or min(ys) > h:
                out.append(f"{kind} {r.name!r}")
    return out


class CameraState:
    """What a camera knows of the scene: tracks, and each rule's sides, dwell and cooldowns.

    It lives as long as the camera is held (its lease), across reconnects and rule edits: a
    person standing in a zone through a network blip has not entered it again. Its tracks are
    one camera of ``tracking``'s batch (the service's, shared by its cameras; or its own).
    Analysed frames further apart than ``blind_after_s`` mark the time between as blind
    (``bridge``); frames going back in time (a file analysed again from its start) begin a new
    state.
    """

    def __init__(self, camera: CameraConfig, tracker: TrackerConfig,
                 tracking: TrackingBatcher | None = None) -> None:
        self.config = tracker
        self.tracking = tracking or TrackingBatcher(tracker)
        self.blind_after_s = max(BLIND_AFTER_S, 3.0 / camera.analysis_fps)
        self._begin(camera)

    def _begin(self, camera: CameraConfig) -> None:
        self.tracker = self.tracking.tracker()
        self.rules = RuleEngine(camera, forget_after_s=max(10.0, 4 * self.config.lost_s),
                                bridge_s=self.config.bridge_s)
        # The event of each climb awaiting its drop, by (rule, track): the rules' outcome
        # ("confirmed" or "retracted") is recorded on it.
        self.awaiting: dict[tuple[str, int], str] = {}
        self._night: NightSwitch | None = None
        self.last_t: float | None = None
        self.perspective: Perspective | None = None  # see ``perspective_for``

    def perspective_for(self, camera: CameraConfig, size: tuple[int, int],
                        path: Path) -> Perspective:
        """The camera's learned heights, kept across reconnects and saved at ``path`` (loaded
        from there when the camera is first held here)."""
        p = self.perspective
        if p is None or p.config != camera.perspective:
            p = self.perspective = Perspective(camera.perspective, size)
            p.load(path)
        p.size = size
        return p

    def night_switch(self, camera: CameraConfig) -> NightSwitch:
        """The camera's day/night switch, kept across reconnects; afresh when its night
        settings change."""
        assert camera.night is not None
        if self._night is None or self._night.config != camera.night:
            self._night = NightSwitch(camera.night, camera.timezone, camera.id)
        return self._night

    def advance(self, camera: CameraConfig, t: float) -> None:
        """Called with each analysed frame's time before it is tracked."""
        last, self.last_t = self.last_t, t
        if last is None:
            return
        if t < last:
            log.info("camera %s: time went back %.1f s: tracks and rule state start afresh",
                     camera.id, last - t)
            self._begin(camera)
            self.last_t = t
        elif t - last > self.blind_after_s:
            self.tracker.bridge(last, t)
            self.rules.bridge(last, t)


@dataclass(slots=True)
class CameraStats:
    """What a camera has done since the service started (kept across reconnects)."""

    state: str = "idle"  # idle | connecting | live | degraded | stalled | ended | failed
    reason: str = ""
    frames_analysed: int = 0
    detector_errors: int = 0
    frames_rejected: int = 0  # turned down by an overloaded detector: dropped, not an outage
    frames_gated: int = 0  # analysed without the detector: nothing moved (skipped or held)
    region_inputs: int = 0  # far-target regions sent to the detector besides their frames
    mode: str = "day"  # the detector setting in use: day, or night (cameras[].night)
    screened: int = 0  # detections whose score the perspective model lowered
    heights: dict[str, Any] | None = None  # the perspective model, as last fitted
    height_fits: int = 0
    frames_decoded: int = 0
    frames_dropped: int = 0
    decode_errors: int = 0
    events: int = 0
    restarts: int = 0
    last_video_time: float = 0.0
    last_frame_at: float = 0.0  # UTC epoch of the last analysed frame's capture
    last_analysed: float = field(default_factory=time.monotonic)  # monotonic; or creation
    errors: list[str] = field(default_factory=list)
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=2048))

    def blind_s(self, now: float | None = None) -> float:
        """Seconds since the camera last had a frame analysed; 0 while it is live."""
        if self.state == "live":
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self.last_analysed)

    def lag_ms(self, q: float) -> float | None:
        """Percentile ``q`` of (analysis done − capture time) over recent frames, in ms."""
        return float(np.percentile(np.asarray(self.lags), q) * 1000) if self.lags else None


def _gate(camera: CameraConfig) -> Gate | None:
    return Gate(camera.detector.motion) if camera.detector.gate == "motion" else None


class CameraPipeline:
    """Runs one camera until its source ends (files), fails, or ``stop`` is set."""

    def __init__(self, camera: CameraConfig, settings: Settings, batcher: DetectionBatcher,
                 store: EventStore, on_event: EventCallback | None = None,
                 on_evidence: EventCallback | None = None,
                 on_frame: FrameCallback | None = None, stats: CameraStats | None = None,
                 stop: asyncio.Event | None = None, fence: int | None = None,
                 state: CameraState | None = None,
                 batcher_for: BatcherFor | None = None) -> None:
        self.camera = camera
        self.settings = settings
        self.batcher = batcher
        out = settings.outputs
        synthetic = camera.source.startswith("synthetic://")  # no packets to clip
        self.ring = None if synthetic else PacketRing(out.pre_roll_s + out.post_roll_s + 5.0)
        self.state = state or CameraState(camera, settings.tracker)
        self.recorder = EventRecorder(camera, out, store, self.ring, on_event, on_evidence,
                                      fence=fence, alarms=settings.alarms)
        self.on_frame = on_frame
        self.stats = stats or CameraStats()
        self.stop = stop or asyncio.Event()
        self.source: FrameSource | None = None
        self._history: deque[tuple[AnalysisFrame, Detections]] = deque(maxlen=HISTORY_FRAMES)
        self._checked_size: tuple[int, int] | None = None
        self._gate = _gate(camera)
        self._detected = Detections.empty()  # the detector's last answer (held, see Gate)
        self._batcher_for = batcher_for  # a detector setting's batcher (a night setting)
        self._night: tuple[NightConfig, DetectionBatcher] | None = None  # its batcher, held
        self._saved_heights = float("-inf")  # camera time the learned heights were last saved
        self._base = (self.stats.frames_decoded, self.stats.frames_dropped,
                      self.stats.decode_errors)

    @property
    def tracker(self) -> ByteTrack:
        return self.state.tracker

    @property
    def rules(self) -> RuleEngine:
        return self.state.rules

    def apply_rules(self, camera: CameraConfig) -> None:
        """New zones, lines and rule settings, without touching the stream or the tracker;
        rules whose geometry did not change keep their state."""
        if camera.detector != self.camera.detector:
            self._gate = _gate(camera)
        self.camera = camera
        self.rules.reconfigure(camera)
        self.recorder.camera = camera
        self._checked_size = None

    def _look(self, frame: AnalysisFrame) -> bool:
        """The motion gate's look at ``frame`` (on the source's decode thread)."""
        gate = self._gate
        return True if gate is None else gate.look(frame)

    def _check_geometry(self, size: tuple[int, int]) -> None:
        """Once the frame size is known: say which zones and lines lie wholly outside the
        frame (drawn for another camera or resolution): they can never fire."""
        self._checked_size = size
        for name in outside_frame(self.camera, size):
            log.warning("camera %s: %s lies wholly outside its %dx%d frame and can never fire",
                        self.camera.id, name, *size)

    async def run(self) -> CameraStats:
        """Analyse the source to its end. Raises ``SourceError`` when it cannot be read."""
        cam = self.camera
        recording = None
        if cam.record_source and self.ring is not None:
            recording = RecordingStream(cam.record_source, self.ring, cam.is_live,
                                        cam.rtsp_transport, cam.open_timeout_s)
            recording.start()
        self.source = make_source(cam, None if recording else self.ring, self._look)
        self.stats.state = "connecting"
        source = self.source
        watcher = asyncio.create_task(self._stop_source_on_request(source))
        sweeper = asyncio.create_task(self._sweep_orphans()) if cam.is_live else None
        try:
            async for frame in self.source:
                await self._analyse(frame)
                if self.stop.is_set():
                    self.stats.state, self.stats.reason = "ended", "stopped"
                    break
            else:
                self.stats.state = "ended"
                self.stats.reason = "stopped" if self.stop.is_set() else "end of stream"
        except SourceError as e:
            state = "stalled" if isinstance(e, StreamStalled) else "failed"
            self.stats.state, self.stats.reason = state, str(e)
            raise
        finally:
            watcher.cancel()
            if sweeper is not None:
                sweeper.cancel()
            self.source.stop()
            if recording:
                recording.stop()
            self._count()
            if self.state.perspective is not None and self.camera.perspective.enabled:
                try:  # what was learned outlives the run
                    await asyncio.to_thread(self.state.perspective.save, self._heights_path)
                except OSError as e:
                    log.warning("camera %s: learned heights not saved: %s", self.camera.id, e)
            await self.recorder.close()  # the events and clips still being written
        self.recorder.check()
        return self.stats

    async def _sweep_orphans(self) -> None:
        """While the camera is held: finish the clips earlier runs left pending."""
        while True:
            try:
                await self.recorder.finish_orphans()
            except StaleFenceError:
                return  # another worker holds the camera; the pipeline finds out itself
            except Exception as e:  # noqa: BLE001 - the sweep is retried; the camera goes on
                log.warning("camera %s: pending clips not finished: %s", self.camera.id, e)
            await asyncio.sleep(ORPHAN_SWEEP_S)

    async def _stop_source_on_request(self, source: FrameSource) -> None:
        """A stop request ends the source at once (not at its next frame)."""
        await self.stop.wait()
        source.stop()

    async def _analyse(self, frame: AnalysisFrame) -> None:
        self.recorder.check()  # a write left to the recorder failed: the camera stops here
        batcher = self.batcher
        if self.camera.night is not None and self._batcher_for is not None:
            night = self.state.night_switch(self.camera)
            self.stats.mode = night.update(frame.timestamp, frame.capture_time, frame=frame)
            if self.stats.mode == NIGHT:
                batcher = await self._night_batcher(self.camera.night)
        gate = DETECT if self._gate is None else self._gate.decide(
            frame, frame.timestamp, self.tracker.alive > 0)
        if gate == SKIP:  # nothing moved and nothing is followed: nothing to detect or judge
            det = Detections.empty()
            self.stats.frames_gated += 1
        elif gate == HOLD:  # nothing moved: the tracks stay where they were last detected
            last = self._detected
            det = Detections(last.xyxy, last.confidence, last.class_id)
            self.stats.frames_gated += 1
        else:
            try:
                det = await (self._detect_regions(frame, batcher) if self.camera.detect_regions
                             else batcher.detect(frame))
            except FrameRejected:
                # Overload, not an outage: this frame is dropped (as a stale one would be) and
                # the camera stays live; the next frame goes to the detector as usual.
                self.stats.frames_rejected += 1
                return
            except DetectorError as e:
                # The frame is not analysed; the camera keeps running and resumes with the
                # detector.
                self.stats.detector_errors += 1
                if self.stats.state != "degraded":
                    log.error("camera %s: frames not analysed: %s", self.camera.id, e)
                self.stats.state, self.stats.reason = "degraded", str(e)
                return
            if self.camera.perspective.enabled:
                det = self._perspective(frame).screen(det)
            self._detected = det
        self.stats.state, self.stats.reason = "live", ""
        self.state.advance(self.camera, frame.timestamp)
        width, height = frame.size
        if self._checked_size != (width, height):
            self._check_geometry((width, height))
        hits: list[RuleHit] = []
        if gate != SKIP:
            # Tracked, and the rules judged, with the other cameras of this detector batch.
            det.tracker_id, hits = await self.state.tracking.judge(
                self.tracker, det, frame.timestamp, self.rules, frame.capture_time,
                (width, height))
            if self.camera.perspective.enabled and gate == DETECT:
                persp = self._perspective(frame)
                persp.learn(det)
                self.stats.screened = persp.screened
                if persp.fits != self.stats.height_fits:  # for the status (the UI's ruler)
                    self.stats.height_fits, self.stats.heights = persp.fits, persp.to_json()
                if frame.timestamp - self._saved_heights >= SAVE_HEIGHTS_S:
                    self._saved_heights = frame.timestamp
                    try:
                        await asyncio.to_thread(persp.save, self._heights_path)
                    except OSError as e:  # the camera goes on; it is kept in memory
                        log.warning("camera %s: learned heights not saved: %s",
                                    self.camera.id, e)
        self._history.append((frame, det))
        for hit in hits:
            awaiting = self.state.awaiting
            if hit.outcome is not None:  # not an event: the verdict on the track's last one
                event_id = awaiting.pop((hit.rule, hit.track_id), None)
                if event_id is not None:
                    await self.recorder.outcome(event_id, hit)
                continue
            # Stored and announced on the recorder's lane: the next frame does not wait.
            ev = await self.recorder.submit(hit, frame, det,
                                            self.rules.trajectories.get(hit.track_id),
                                            self._frame_at(hit.timestamp))
            if hit.kind == "climb":
                awaiting[(hit.rule, hit.track_id)] = ev.id
            self.stats.events += 1
        self._forget_frames(frame.timestamp)
        self.stats.frames_analysed += 1
        self.stats.last_video_time = frame.video_time
        self.stats.last_frame_at = frame.capture_time
        self.stats.last_analysed = time.monotonic()
        self.stats.lags.append(time.time() - frame.capture_time)
        self._count()
        if self.on_frame:
            self.on_frame(frame, det)
        await self.recorder.poll()

    async def _night_batcher(self, night: NightConfig) -> DetectionBatcher:
        """The night setting's batcher, looked up once per setting (not every night frame:
        the lookup builds and serialises a detector config)."""
        if self._night is None or self._night[0] is not night:
            assert self._batcher_for is not None
            self._night = night, await self._batcher_for(
                night_detector(self.settings.detector, night))
        return self._night[1]

    def _perspective(self, frame: AnalysisFrame) -> Perspective:
        return self.state.perspective_for(self.camera, frame.size, self._heights_path)

    @property
    def _heights_path(self) -> Path:
        return self.settings.outputs.data_dir / "perspective" / f"{self.camera.id}.json"

    async def _detect_regions(self, frame: AnalysisFrame, batcher: DetectionBatcher
                              ) -> Detections:
        """The frame and its far-target regions, at the source's resolution, in one batch;
        their boxes merged (orchestrator/detect/regions.py)."""
        crops = regions.cut(frame.image, self.camera.detect_regions)
        found = await asyncio.gather(batcher.detect(frame),
                                     *(batcher.detect(c) for c, _ in crops))
        self.stats.region_inputs += len(crops)
        return regions.merge(found[0], found[1:],
                             [(at, (c.shape[1], c.shape[0])) for c, at in crops], frame.size)

    def _frame_at(self, t: float) -> tuple[AnalysisFrame, Detections] | None:
        """The analysed frame still held that is nearest to time ``t``."""
        if not self._history:
            return None
        return min(self._history, key=lambda fd: abs(fd[0].timestamp - t))

    def _forget_frames(self, now: float) -> None:
        """Hold frames only as long as an act being confirmed may need one for its snapshot
        (and a short tail for tracks confirmed late); the deque's length bounds the rest."""
        keep_from = now - HISTORY_TAIL_S
        pending = self.rules.pending_since()
        if pending is not None:
            keep_from = min(keep_from, pending)
        while self._history and self._history[0][0].timestamp < keep_from:
            self._history.popleft()

    def _count(self) -> None:
        if self.source:
            d, dr, e = self._base
            self.stats.frames_decoded = d + self.source.decoded
            self.stats.frames_dropped = dr + self.source.dropped
            self.stats.decode_errors = e + self.source.decode_errors
