"""The live view, API side: a camera's latest analysed frame and an MJPEG stream of them.

Viewers of a camera mark it watched in Redis (renewed while they watch); the worker that runs
it then encodes its analysed frames (``orchestrator/live.py``). However many viewers a camera
has, this process reads each of its frames once (one fan-out task per camera) and hands it to
every viewer's one-frame mailbox: a slow viewer skips frames, it never holds the others back
or makes a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError

from orchestrator.control.redis_client import ControlPlaneError, Keys

log = logging.getLogger(__name__)
WATCH_S = 6.0  # a mark lives this long; viewers renew it every WATCH_S / 3


class LiveUnavailable(Exception):
    """No fresh frame of the camera came (it is not running, or not held by a worker)."""


class _Camera:
    def __init__(self) -> None:
        self.viewers: set[asyncio.Queue[bytes]] = set()
        self.task: asyncio.Task[None] | None = None


class LiveView:
    def __init__(self, redis: Any, keys: Keys) -> None:
        self.r = redis  # a binary client
        self.k = keys
        self._cams: dict[str, _Camera] = {}
        self.frames_read = 0

    @property
    def viewers(self) -> int:
        return sum(len(c.viewers) for c in self._cams.values())

    async def watch(self, camera: str) -> None:
        until = int((time.time() + WATCH_S) * 1000)
        await self.r.zadd(self.k.live_wanted, {camera: until})

    async def latest(self, camera: str, overlay: bool, wait_s: float = 4.0) -> bytes:
        """The camera's latest analysed frame as JPEG; waits for one when none is fresh."""
        key = self.k.live_frame(camera, overlay)
        try:
            await self.watch(camera)
            got = await self.r.get(key)
            if got:
                return bytes(got)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                got = await self.r.get(key)
                if got:
                    return bytes(got)
        except RedisError as e:
            raise ControlPlaneError(f"live view of {camera!r}: {e}") from None
        raise LiveUnavailable(f"no frame from camera {camera!r} in {wait_s:.0f} s "
                              "(is it running?)")

    @contextlib.asynccontextmanager
    async def stream(self, camera: str) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A mailbox that receives the camera's annotated frames while the context is open."""
        cam = self._cams.setdefault(camera, _Camera())
        box: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        cam.viewers.add(box)
        if cam.task is None or cam.task.done():
            cam.task = asyncio.create_task(self._fan_out(camera, cam))
        try:
            yield box
        finally:
            cam.viewers.discard(box)
            if not cam.viewers and cam.task is not None:
                cam.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await cam.task
                if self._cams.get(camera) is cam and not cam.viewers:
                    del self._cams[camera]

    async def _fan_out(self, camera: str, cam: _Camera) -> None:
        """Read each new frame once and offer it to every viewer; renew the watch mark."""
        key = self.k.live_frame(camera, True)
        while True:
            pubsub = self.r.pubsub()
            try:
                await pubsub.subscribe(self.k.live_channel(camera))
                renewed = 0.0
                first = True
                while True:
                    if time.monotonic() - renewed > WATCH_S / 3:
                        await self.watch(camera)
                        renewed = time.monotonic()
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is None and not first:
                        continue
                    first = False
                    frame = await self.r.get(key)
                    if frame:
                        self.frames_read += 1
                        self._offer(cam, bytes(frame))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as e:
                log.warning("live view of %s: %s; retrying", camera, e)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    @staticmethod
    def _offer(cam: _Camera, frame: bytes) -> None:
        for box in list(cam.viewers):
            if box.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    box.get_nowait()  # the viewer is behind: it gets the newest frame
            box.put_nowait(frame)
