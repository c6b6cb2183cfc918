"""Server-sent events: new alarms, clip outcomes, acknowledgements and camera state changes.

One poller serves every client (the database sees one query every half second, whatever the
number of browsers), and only while someone listens. An alarm reaches the browsers within a
poll period of its commit; nothing is lost to a missed notification because the poller reads
the store itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.events.store import EventStore

log = logging.getLogger(__name__)
WINDOW_S = 120.0  # events detected this long ago are still watched for their clip
Message = tuple[str, dict[str, Any]]
CLOSED: Message = ("closed", {})


class Feed:
    def __init__(self, store: EventStore,
                 cameras: Callable[[], Awaitable[dict[str, dict[str, Any]]]] | None = None,
                 period_s: float = 0.5, camera_period_s: float = 2.0) -> None:
        self.store = store
        self.cameras = cameras
        self.period_s = period_s
        self.camera_period_s = camera_period_s
        self.clients: set[asyncio.Queue[Message]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sse-feed")

    async def close(self) -> None:
        for q in list(self.clients):
            self._put(q, CLOSED)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Message]]:
        q: asyncio.Queue[Message] = asyncio.Queue(maxsize=256)
        self.clients.add(q)
        self._wake.set()
        try:
            yield q
        finally:
            self.clients.discard(q)

    def _put(self, q: asyncio.Queue[Message], msg: Message) -> None:
        try:
            q.put_nowait(msg)
        except asyncio.QueueFull:  # a client this far behind is dropped; it reconnects
            self.clients.discard(q)
            with contextlib.suppress(asyncio.QueueEmpty):
                q.get_nowait()
            q.put_nowait(CLOSED)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        for q in list(self.clients):
            self._put(q, (kind, data))
        self.sent += 1

    async def _run(self) -> None:
        known: dict[str, str] | None = None  # event id → clip status, over the window
        last_ack: int | None = None
        states: dict[str, tuple[str, str]] | None = None
        next_cameras = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if not self.clients:  # nobody listens: forget, sleep until someone does
                known, last_ack, states = None, None, None
                self._wake.clear()
                await self._wake.wait()
            try:
                known = await self._events(known)
                last_ack = await self._acks(last_ack)
                if self.cameras is not None and loop.time() >= next_cameras:
                    next_cameras = loop.time() + self.camera_period_s
                    states = await self._camera_states(states)
            except Exception as e:  # noqa: BLE001 - the store or Redis away: try again
                log.warning("live feed: %s", e)
            await asyncio.sleep(self.period_s)

    async def _events(self, known: dict[str, str] | None) -> dict[str, str]:
        since = datetime.now(UTC) - timedelta(seconds=WINDOW_S)
        evs = await asyncio.to_thread(self.store.detected_since, since)
        now_known = {e.id: e.clip_status for e in evs}
        if known is not None:
            for e in evs:
                if e.id not in known:
                    self.publish("alarm", e.to_json())
                elif known[e.id] != e.clip_status:
                    self.publish("clip", {"id": e.id, "clip_status": e.clip_status,
                                          "clip": e.clip})
        return now_known

    async def _acks(self, last: int | None) -> int:
        if last is None:
            return await asyncio.to_thread(self.store.last_acknowledgement_id)
        for a in await asyncio.to_thread(self.store.acknowledgements_after, last):
            self.publish("ack", {**a, "at": a["at"].isoformat()})
            last = a["id"]
        return last

    async def _camera_states(self, before: dict[str, tuple[str, str]] | None
                             ) -> dict[str, tuple[str, str]]:
        assert self.cameras is not None
        now = {cid: (str(s.get("state", "unassigned")), str(s.get("worker", "")))
               for cid, s in (await self.cameras()).items()}
        if before is not None:
            for cid, (state, worker) in now.items():
                if before.get(cid) != (state, worker):
                    self.publish("camera", {"id": cid, "state": state, "worker": worker})
            for cid in set(before) - set(now):
                self.publish("camera", {"id": cid, "state": "removed", "worker": ""})
        return now
