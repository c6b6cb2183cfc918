"""Turns rule hits into durable events: snapshot on disk, row in the store, clip when ready."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.alarms.schema import ack_messages, messages_for
from orchestrator.classes import class_name
from orchestrator.config import AlarmConfig, CameraConfig, OutputConfig
from orchestrator.detections import Detections
from orchestrator.events.model import Event, new_ulid, utc
from orchestrator.events.objectstore import S3Evidence
from orchestrator.events.snapshot import annotate, encode_jpeg
from orchestrator.events.store import EventStore, StaleFenceError
from orchestrator.ingest import AnalysisFrame, PacketRing, write_clip
from orchestrator.rules import RuleHit
from orchestrator.rules.rules import Trajectory
from orchestrator.rules.site import site_point

log = logging.getLogger(__name__)
EventCallback = Callable[[Event], None]
ORPHAN_GRACE_S = 30.0  # a clip pending this long after its post-roll has nobody to finish it
LANE_DEPTH = 16  # writes a camera may have queued before its analysis waits for them


class _Lane:
    """One camera's writes, run in order on a task of their own, off its analysis.

    A camera whose event is being written goes on analysing: the snapshot, the insert and the
    clip take milliseconds (seconds for an NVR's clip), and the shared thread pool they run on
    may be busy with other cameras' writes; waiting for them dropped its frames meanwhile.
    Up to ``depth`` writes queue (their frames are held); past that the camera waits, so a
    stuck store slows the camera rather than filling memory. A failed write is logged, the
    next ones still run, and the first failure is kept for ``EventRecorder.check``.
    """

    def __init__(self, name: str, depth: int = LANE_DEPTH) -> None:
        self.name = name
        self._queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue(depth)
        self._task: asyncio.Task[None] | None = None
        self.failure: Exception | None = None

    async def put(self, job: Callable[[], Awaitable[None]]) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.name)
        await self._queue.put(job)

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job()
            except Exception as e:  # noqa: BLE001 - kept for check(); the next writes run
                if not isinstance(e, StaleFenceError):
                    log.error("%s: %s", self.name, e)
                self.failure = self.failure or e
            finally:
                self._queue.task_done()

    async def join(self) -> None:
        """Until every queued write has run."""
        if self._task is not None:
            await self._queue.join()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


RULES_OPERATOR = "perishield"  # who the rules' own verdicts are acknowledged by
OUTCOMES = {  # RuleHit.outcome: (verdict, note)
    "confirmed": ("confirmed", "climb: dropped in (stayed inside, or out of sight there)"),
    "retracted": ("false_alarm", "climb: retracted, went back outside before dropping in"),
}


@dataclass(slots=True)
class _PendingClip:
    event: Event
    start: float  # seconds on the camera clock
    end: float


class EventRecorder:
    """Records the events of one camera.

    The snapshot is written and the row committed before the event is announced
    (``on_event``); the clip follows once the post-roll has been received, or at end of stream,
    and ``on_evidence`` announces the event again with its clip. ``record`` waits for all of
    that; ``submit`` stamps the event and leaves the writing to the camera's own lanes (events
    in order, clips in order), so the camera's analysis goes on meanwhile: call ``check`` each
    frame and ``close`` at the end.
    """

    def __init__(self, camera: CameraConfig, outputs: OutputConfig, store: EventStore,
                 ring: PacketRing | None, on_event: EventCallback | None = None,
                 on_evidence: EventCallback | None = None, fence: int | None = None,
                 alarms: AlarmConfig | None = None) -> None:
        self.camera = camera
        self.outputs = outputs
        self.store = store
        self.ring = ring
        self.on_event = on_event
        self.on_evidence = on_evidence
        self.fence = fence  # lease token: the store refuses writes once a newer one exists
        self.alarms = alarms  # when set, events and ready clips go to the outbox too
        self.s3 = S3Evidence(outputs.s3) if outputs.s3 is not None else None
        self.root = outputs.evidence_dir
        self._pending: list[_PendingClip] = []
        self._busy: set[str] = set()  # events whose clip this recorder is cutting
        self._events = _Lane(f"camera {camera.id}: event writes")
        self._clips = _Lane(f"camera {camera.id}: clip writes")

    def _paths(self, ev: Event) -> tuple[str, str]:
        day = ev.capture_time.strftime("%Y-%m-%d")
        rel = Path(self.camera.id) / day / ev.id
        return str(rel.with_suffix(".jpg")), str(rel.with_suffix(".mp4"))

    def _build(self, hit: RuleHit, frame: AnalysisFrame, det: Detections, row: int,
               trajectory: Trajectory | None) -> Event:
        """The event of ``hit``, stamped with the act; ``det[row]`` is the object then."""
        to_utc = frame.capture_time - frame.timestamp  # camera clock → UTC epoch
        traj = [] if trajectory is None else [
            [round(t + to_utc, 3), round(x, 1), round(y, 1)]
            for t, (x, y) in zip(trajectory.times, trajectory.points, strict=True)]
        cid = int(det.class_id[row])
        ago = frame.timestamp - hit.timestamp  # the act came this long before ``frame``
        ev = Event(
            id=new_ulid(), camera=self.camera.id, rule=hit.rule, rule_kind=hit.kind,
            direction=hit.direction, track_id=hit.track_id, class_id=cid,
            class_name=class_name(cid), score=round(float(det.confidence[row]), 4),
            box=[round(float(v), 1) for v in det.xyxy[row]], trajectory=traj,
            video_time=round(frame.video_time - ago, 3),
            capture_time=utc(frame.capture_time - ago),
            detected_at=utc(time.time()), fence_token=self.fence,
            point=[round(hit.point[0], 1), round(hit.point[1], 1)])
        ev.site = site_point(None if self.camera.ground is None else self.camera.ground.pairs,
                             hit.point)
        ev.snapshot, ev.clip = self._paths(ev)
        if self.ring is None:
            ev.clip, ev.clip_status = None, "failed"
        return ev

    def _write_snapshot(self, ev: Event, frame: AnalysisFrame, det: Detections, index: int,
                        trajectory: Trajectory | None) -> None:
        assert ev.snapshot is not None
        # The moment of the frame shown: its capture time and its place in the video.
        caption = (f"{self.camera.id} {ev.rule} {ev.direction or ''} "
                   f"{utc(frame.capture_time):%Y-%m-%d %H:%M:%S.%f}"[:-3]
                   + f"Z  video {frame.video_time:.2f} s")
        img = annotate(frame.image, self.camera, det, index, ev.rule,
                       trajectory.points if trajectory else [], caption)
        path = self.root / ev.snapshot
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(encode_jpeg(img, self.outputs.snapshot_quality))
        tmp.replace(path)
        self._upload(ev.snapshot)

    async def record(self, hit: RuleHit, frame: AnalysisFrame, det: Detections,
                     trajectory: Trajectory | None,
                     act: tuple[AnalysisFrame, Detections] | None = None) -> Event:
        """Record ``hit``, confirmed on ``frame``; ``act`` is the analysed frame nearest the act
        (its snapshot shows the act) when the pipeline still holds it. Returns once the event
        is stored and announced."""
        ev, write = self._prepare(hit, frame, det, trajectory, act)
        await write()
        return ev

    async def submit(self, hit: RuleHit, frame: AnalysisFrame, det: Detections,
                     trajectory: Trajectory | None,
                     act: tuple[AnalysisFrame, Detections] | None = None) -> Event:
        """``record`` without waiting for the writes: the event is stamped now (its
        ``detected_at`` too) and stored and announced by the camera's event lane, in order.
        Waits only while ``LANE_DEPTH`` writes are already queued."""
        ev, write = self._prepare(hit, frame, det, trajectory, act)
        await self._events.put(write)
        return ev

    def _prepare(self, hit: RuleHit, frame: AnalysisFrame, det: Detections,
                 trajectory: Trajectory | None, act: tuple[AnalysisFrame, Detections] | None
                 ) -> tuple[Event, Callable[[], Awaitable[None]]]:
        shot, shot_det, row = frame, det, hit.index
        if act is not None:
            rows = np.flatnonzero(act[1].tracker_id == hit.track_id)
            if len(rows):
                shot, shot_det, row = act[0], act[1], int(rows[0])
        ev = self._build(hit, frame, shot_det, row, trajectory)
        clip_end = max(hit.timestamp + self.outputs.post_roll_s, frame.timestamp)
        clip_start = hit.timestamp - self.outputs.pre_roll_s

        async def write() -> None:
            await asyncio.to_thread(self._write_snapshot, ev, shot, shot_det, row, trajectory)
            try:
                await asyncio.to_thread(self.store.insert, ev, self.fence, self._messages,
                                        self._link)
            except StaleFenceError:
                (self.root / ev.snapshot).unlink(missing_ok=True)  # type: ignore[operator]
                raise
            log.info("event %s camera=%s rule=%s %s track=%d %s t=%.2fs", ev.id, ev.camera,
                     ev.rule, ev.direction, ev.track_id, ev.class_name, ev.video_time)
            if self.on_event:
                self.on_event(ev)
            if self.ring is not None:
                self._busy.add(ev.id)
                self._pending.append(_PendingClip(ev, clip_start, clip_end))
            elif self.on_evidence:
                self.on_evidence(ev)

        return ev, write

    async def outcome(self, event_id: str, hit: RuleHit) -> None:
        """The rules' verdict on an event they raised (``hit.outcome``: a climb confirmed or
        retracted at its drop), recorded as an acknowledgement by ``perishield`` (confirmed,
        or false_alarm) on the event lane, after the event itself; the platform hears of it
        as of an operator's."""
        verdict, note = OUTCOMES[hit.outcome or ""]
        tell = self.alarms is not None and bool(self.alarms.platform_url)

        async def write() -> None:
            await asyncio.to_thread(self.store.acknowledge, event_id, RULES_OPERATOR, verdict,
                                    note, ack_messages if tell else None)
            log.info("event %s camera=%s rule=%s %s by the rules: %s", event_id,
                     self.camera.id, hit.rule, verdict, note)

        await self._events.put(write)

    def check(self) -> None:
        """Raise the first failure of a write ``submit`` or ``poll`` left to the lanes (a
        ``StaleFenceError`` there: another worker holds the camera now)."""
        for lane in (self._events, self._clips):
            if lane.failure is not None:
                raise lane.failure

    async def close(self) -> None:
        """Write what is queued and every pending clip, then stop the lanes; raises nothing
        (``check`` tells what failed)."""
        try:
            await self.poll(final=True)  # waits for the event lane, then for every clip
        finally:
            self._events.stop()
            self._clips.stop()

    async def poll(self, final: bool = False) -> None:
        """Queue the clips whose post-roll has arrived (all of them when ``final``, and then
        wait for them) on the camera's clip lane."""
        if final:
            await self._events.join()  # their events' clips become pending as they are stored
        if self._pending and self.ring is not None:
            latest = self.ring.latest_time
            due = [p for p in self._pending if final or latest >= p.end]
            self._pending = [p for p in self._pending if p not in due]
            for p in due:
                await self._clips.put(lambda p=p: self._write_clip(p))  # type: ignore[misc]
        if final:
            await self._clips.join()

    @property
    def _link(self) -> tuple[float, float]:
        """How near in time and on the ground two acts are one incident."""
        a = self.alarms or AlarmConfig()
        return a.incident_s, a.incident_m

    def _messages(self, ev: Event, kind: str = "alarm") -> list[tuple[str, str, dict[str, Any]]]:
        if self.alarms is None:
            return []
        links = self.s3.url if self.s3 is not None else None
        return messages_for(ev, self.alarms, self.alarms.evidence_secret, kind, links)

    def _upload(self, rel: str) -> None:
        """Copy a piece of evidence to object storage; on failure the local copy stands."""
        if self.s3 is None:
            return
        try:
            self.s3.upload(self.root, rel)
        except Exception as e:  # noqa: BLE001 - never lose the event over its upload
            log.warning("evidence %s not uploaded: %s", rel, e)

    async def fetch_from_recorder(self, ev: Event, path: Path) -> bool:
        """Fetch the event's clip from the camera's NVR (playback), if it has one, and copy it
        to object storage like any clip."""
        nvr = self.camera.nvr
        if nvr is None:
            return False
        from orchestrator.ingest.nvr import fetch_clip  # noqa: PLC0415

        start = ev.capture_time - timedelta(seconds=self.outputs.pre_roll_s)
        end = ev.capture_time + timedelta(seconds=max(self.outputs.post_roll_s, 1.0))
        try:
            await asyncio.to_thread(fetch_clip, nvr, start, end, path)
        except Exception as e:  # noqa: BLE001 - the event stands without a clip
            log.warning("event %s: recorder clip failed: %s", ev.id, e)
            return False
        if ev.clip is not None:
            await asyncio.to_thread(self._upload, ev.clip)
        return True

    async def _write_clip(self, p: _PendingClip) -> None:
        ev = p.event
        assert self.ring is not None and ev.clip is not None
        clip_path = self.root / ev.clip
        packets = self.ring.slice(p.start, p.end)
        act = p.start + self.outputs.pre_roll_s
        if packets and packets[0].time > act and self.camera.nvr is not None:
            # The ring starts after the act (the camera had just connected): the recorder's
            # copy shows it; the ring's part is the fallback.
            log.info("event %s: the ring starts %.1f s after the act; asking the recorder",
                     ev.id, packets[0].time - act)
            if await self.fetch_from_recorder(ev, clip_path):
                ev.clip_status = "ready"
                await self._finish(ev)
                return
        try:
            if not packets:
                raise ValueError("no packets for the clip's time range in the ring buffer")
            if self.ring.template is None:
                raise ValueError("the source never opened a video stream")
            await asyncio.to_thread(write_clip, packets, self.ring.template, clip_path)
            await asyncio.to_thread(self._upload, ev.clip)
            ev.clip_status = "ready"
        except Exception as e:  # noqa: BLE001 - a failed clip never loses the event
            log.warning("event %s: live clip failed: %s", ev.id, e)
            ev.clip_status = "ready" if await self.fetch_from_recorder(ev, clip_path) else "failed"
        await self._finish(ev)

    async def _finish(self, ev: Event) -> None:
        """Record the clip's outcome with its follow-up to the platform; announce it."""
        if ev.clip_status == "failed":
            ev.clip = None
        try:
            await asyncio.to_thread(self.store.set_clip, ev.id, ev.clip_status, ev.clip,
                                    self.fence, self._messages(ev, f"clip_{ev.clip_status}"))
        finally:
            self._busy.discard(ev.id)
        if self.on_evidence:
            self.on_evidence(ev)

    async def finish_orphans(self) -> int:
        """Finish the clips nobody is cutting any more: events of this camera still pending
        ``ORPHAN_GRACE_S`` after their post-roll (their worker was killed or frozen, or the
        run ended before the clip was written). The recorder (NVR playback) gives the clip
        when the camera has one; otherwise the clip is failed. Either way the platform gets
        the follow-up. Returns how many were finished."""
        age = self.outputs.pre_roll_s + self.outputs.post_roll_s + ORPHAN_GRACE_S
        before = utc(time.time() - age)
        orphans = await asyncio.to_thread(self.store.pending_clips, self.camera.id, before)
        done = 0
        for ev in orphans:
            if ev.id in self._busy or ev.clip is None:
                continue
            self._busy.add(ev.id)
            path = self.root / ev.clip
            # Written whole (clips are renamed into place) but not recorded: it stands.
            how = "written before" if path.exists() else "from the recorder"
            written = path.exists()
            if written:
                await asyncio.to_thread(self._upload, ev.clip)
            got = written or await self.fetch_from_recorder(ev, path)
            ev.clip_status = "ready" if got else "failed"
            log.info("event %s: clip left pending by an earlier run: %s%s", ev.id,
                     ev.clip_status, f" ({how})" if got else "")
            await self._finish(ev)
            done += 1
        return done
