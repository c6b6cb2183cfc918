"""The monitor: every worker's and camera's status in Redis, and reading it back."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.config import ControlConfig
from orchestrator.control.redis_client import Keys

if TYPE_CHECKING:
    from orchestrator.control.worker import Worker


class StatusPublisher:
    """Writes one worker's registration and its cameras' status (with expiry, so a dead
    worker's entries vanish by themselves)."""

    def __init__(self, redis: Any, keys: Keys, worker: Worker, c: ControlConfig) -> None:
        self.r = redis
        self.k = keys
        self.w = worker
        self.c = c
        self.started = time.time()
        self._last: dict[str, tuple[float, int]] = {}  # camera → (time, frames) for fps

    async def register(self) -> None:
        key = self.k.worker(self.w.id)
        async with self.r.pipeline(transaction=True) as p:
            p.hset(key, mapping={"host": socket.gethostname(), "pid": os.getpid(),
                                 "capacity": self.c.capacity, "started": self.started,
                                 "heartbeat": time.time(), "cameras": len(self.w.held),
                                 "running": ",".join(self.w.service.running_cameras),
                                 "draining": int(self.w.draining),
                                 "detector": self.detector_state()})
            # Gone as soon as its leases would be: the others then take its share.
            p.pexpire(key, int(self.c.ttl_s * 1000))
            p.sadd(self.k.workers, self.w.id)
            await p.execute()

    def detector_state(self) -> str:
        """The detector's backend and whether it answers (Triton: down while backing off)."""
        d = self.w.settings.detector
        where = f" {','.join(d.triton.servers)}" if d.backend == "triton" else ""
        up = getattr(self.w.service.detector, "available", True)
        return f"{d.backend}{where} {'up' if up else 'down'}"

    async def unregister(self) -> None:
        await self.r.delete(self.k.worker(self.w.id))
        await self.r.srem(self.k.workers, self.w.id)

    async def live_workers(self) -> list[str]:
        """Registered, not expired and not draining; dead entries are pruned."""
        ids = sorted(await self.r.smembers(self.k.workers))
        async with self.r.pipeline(transaction=False) as p:
            for w in ids:
                p.hget(self.k.worker(w), "draining")
            rows = await p.execute()
        live, dead = _sort_workers(ids, rows)
        if dead:
            await self.r.srem(self.k.workers, *dead)
        return live

    async def publish(self) -> None:
        await self.register()
        now = time.time()
        ttl = int((3 * self.c.status_interval_s + self.c.heartbeat_s) * 1000)
        for gone in set(self._last) - set(self.w.held):
            del self._last[gone]
        async with self.r.pipeline(transaction=False) as p:
            for cam, h in list(self.w.held.items()):
                st = self.w.service.stats.get(cam)
                frames = st.frames_analysed if st else 0
                t_prev, f_prev = self._last.get(cam, (now, frames))
                fps = (frames - f_prev) / (now - t_prev) if now > t_prev else 0.0
                self._last[cam] = (now, frames)
                state = ("invalid" if h.invalid else "paused" if h.paused
                         else st.state if st else "starting")
                key = self.k.camera_status(cam)
                p.hset(key, mapping={
                    "worker": self.w.id, "token": h.token, "state": state,
                    "reason": h.invalid or (st.reason if st else ""), "fps": round(fps, 2),
                    "lag_p50_ms": round(st.lag_ms(50) or 0, 1) if st else 0,
                    "lag_p99_ms": round(st.lag_ms(99) or 0, 1) if st else 0,
                    "last_frame": st.last_frame_at if st else 0,
                    "blind_s": round(st.blind_s(), 1) if st else 0,
                    "events": st.events if st else 0,
                    "gated": st.frames_gated if st else 0,
                    "mode": st.mode if st else "day",
                    "heights": json.dumps(st.heights) if st and st.heights else "",
                    "errors": (st.errors[-1] if st and st.errors else ""),
                    "params_version": h.version, "updated": now})
                p.pexpire(key, ttl)
            await p.execute()

    async def camera_applied(self, camera: str, version: int) -> None:
        await self.r.hset(self.k.camera_status(camera),
                          mapping={"params_version": version, "applied_at": time.time()})


def live_workers_sync(redis: Any, keys: Keys) -> list[str]:
    """``StatusPublisher.live_workers`` on a synchronous client (a worker's claim thread)."""
    ids = sorted(redis.smembers(keys.workers))
    with redis.pipeline(transaction=False) as p:
        for w in ids:
            p.hget(keys.worker(w), "draining")
        rows = p.execute()
    live, dead = _sort_workers(ids, rows)
    if dead:
        redis.srem(keys.workers, *dead)
    return live


def _sort_workers(ids: list[str], draining: list[str | None]) -> tuple[list[str], list[str]]:
    """(live and not draining, dead: registration expired) from each one's draining flag."""
    return ([w for w, d in zip(ids, draining, strict=True) if d == "0"],
            [w for w, d in zip(ids, draining, strict=True) if d is None])


@dataclass(slots=True)
class SiteStatus:
    workers: dict[str, dict[str, str]] = field(default_factory=dict)
    cameras: dict[str, dict[str, str]] = field(default_factory=dict)  # every known camera
    leases: dict[str, str] = field(default_factory=dict)  # camera → worker


async def read_status(redis: Any, keys: Keys) -> SiteStatus:
    out = SiteStatus()
    for w in sorted(await redis.smembers(keys.workers)):
        info = await redis.hgetall(keys.worker(w))
        if info:
            out.workers[w] = info
    cameras = sorted(await redis.smembers(keys.cameras))
    sec, usec = await redis.time()
    now_ms = sec * 1000 + usec // 1000
    async with redis.pipeline(transaction=False) as p:
        for cam in cameras:
            p.hgetall(keys.camera_status(cam))
            p.hmget(keys.lease(cam), "worker", "expires")
        rows = await p.execute()
    for cam, status, (holder, expires) in zip(cameras, rows[::2], rows[1::2], strict=True):
        out.cameras[cam] = status
        if holder and expires and int(expires) > now_ms:
            out.leases[cam] = holder
    return out
