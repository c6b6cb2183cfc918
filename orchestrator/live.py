"""The live view's source: a camera's analysed frames as JPEG, made only while someone watches.

The API marks a camera as watched in Redis (a sorted set of camera → until when, renewed by
its viewers); the worker that runs the camera reads that set twice a second and, for watched
cameras only, encodes each analysed frame twice (as analysed, and with the rules and tracked
boxes drawn), at most ``max_fps`` a second, off the event loop, and stores both with a short
expiry plus a notice on the camera's channel. One encoder per camera, whatever the number of
viewers: the API fans each frame out to them. Nothing is re-encoded from the source stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from orchestrator.config import CameraConfig
from orchestrator.control.redis_client import Keys
from orchestrator.detections import Detections
from orchestrator.events.snapshot import encode_jpeg, overlay
from orchestrator.ingest import AnalysisFrame

log = logging.getLogger(__name__)
FRAME_TTL_MS = 15_000  # a frame older than this is not "the latest" any more


class LiveFrames:
    def __init__(self, redis: Any, keys: Keys, camera_of: Callable[[str], CameraConfig | None],
                 max_fps: float = 5.0, quality: int = 75) -> None:
        self.r = redis  # a binary client (connect(..., binary=True))
        self.k = keys
        self.camera_of = camera_of
        self.min_gap_s = 1.0 / max_fps
        self.quality = quality
        self.wanted: set[str] = set()
        self.encoded = 0
        self._last: dict[str, float] = {}
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def refresh(self) -> None:
        """Which cameras someone watches now (expired marks are dropped)."""
        now_ms = int(time.time() * 1000)
        try:
            async with self.r.pipeline(transaction=False) as p:
                p.zremrangebyscore(self.k.live_wanted, "-inf", now_ms)
                p.zrange(self.k.live_wanted, 0, -1)
                _, ids = await p.execute()
        except RedisError as e:
            log.debug("live view: %s", e)
            self.wanted = set()
            return
        self.wanted = {i.decode() if isinstance(i, bytes) else i for i in ids}
        for gone in set(self._last) - self.wanted:
            del self._last[gone]

    async def run(self, period_s: float = 0.5) -> None:
        """Refresh the watched set for ever (a process that runs cameras without a worker)."""
        while True:
            await self.refresh()
            await asyncio.sleep(period_s)

    def on_frame(self, camera_id: str, frame: AnalysisFrame, det: Detections) -> None:
        """Called for every analysed frame; cheap unless the camera is watched."""
        if camera_id not in self.wanted or camera_id in self._busy:
            return
        now = time.monotonic()
        # 80 % of the gap: frames analysed at exactly max_fps arrive with jitter, and a strict
        # gap would skip every one that came a little early (measured: 3.1 of 5 frames/s).
        if now - self._last.get(camera_id, 0.0) < 0.8 * self.min_gap_s:
            return
        cam = self.camera_of(camera_id)
        if cam is None:
            return
        self._last[camera_id] = now
        self._busy.add(camera_id)
        task = asyncio.get_running_loop().create_task(self._publish(cam, frame, det))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, cam: CameraConfig, frame: AnalysisFrame, det: Detections) -> None:
        try:
            raw, drawn = await asyncio.to_thread(self._encode, cam, frame, det)
            async with self.r.pipeline(transaction=False) as p:
                p.set(self.k.live_frame(cam.id, False), raw, px=FRAME_TTL_MS)
                p.set(self.k.live_frame(cam.id, True), drawn, px=FRAME_TTL_MS)
                p.publish(self.k.live_channel(cam.id), str(frame.capture_time))
                await p.execute()
            self.encoded += 1
        except RedisError as e:
            log.debug("live view of %s: %s", cam.id, e)
        except Exception:  # a live frame is never worth a camera
            log.exception("live view of %s", cam.id)
        finally:
            self._busy.discard(cam.id)

    def _encode(self, cam: CameraConfig, frame: AnalysisFrame, det: Detections
                ) -> tuple[bytes, bytes]:
        image = frame.image  # from a decoded picture: converted here, off the loop
        return (encode_jpeg(image, self.quality),
                encode_jpeg(overlay(image, cam, det), self.quality))


FrameHook = Callable[[str, AnalysisFrame, Detections], None]


def chain_frames(*hooks: FrameHook | None) -> FrameHook | None:
    """One per-frame callback that calls each of ``hooks`` (None ones left out)."""
    given = [h for h in hooks if h is not None]
    if len(given) <= 1:
        return given[0] if given else None

    def each(camera_id: str, frame: AnalysisFrame, det: Detections) -> None:
        for h in given:
            h(camera_id, frame, det)

    return each
