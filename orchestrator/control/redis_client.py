"""Redis access for the control plane: one client per process, our errors, key names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError


class ControlPlaneError(Exception):
    """Redis cannot be reached or refused an operation; the message says which."""


@dataclass(frozen=True, slots=True)
class Keys:
    """Every key and channel of one site, under its prefix."""

    prefix: str

    def params(self, camera: str) -> str:
        return f"{self.prefix}params:{camera}"

    @property
    def cameras(self) -> str:
        return f"{self.prefix}cameras"

    @property
    def enabled(self) -> str:
        return f"{self.prefix}cameras:enabled"

    @property
    def paused(self) -> str:
        return f"{self.prefix}cameras:paused"

    @property
    def changes(self) -> str:
        return f"{self.prefix}params:changes"

    @property
    def control(self) -> str:
        return f"{self.prefix}control"

    def lease(self, camera: str) -> str:
        return f"{self.prefix}lease:{camera}"

    def fence(self, camera: str) -> str:
        return f"{self.prefix}fence:{camera}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}workers"

    def worker(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}"

    def camera_status(self, camera: str) -> str:
        return f"{self.prefix}status:camera:{camera}"

    @property
    def live_wanted(self) -> str:
        """Sorted set: camera → until when someone watches it (epoch ms)."""
        return f"{self.prefix}live:wanted"

    def live_frame(self, camera: str, overlay: bool) -> str:
        return f"{self.prefix}live:frame:{camera}:{'overlay' if overlay else 'raw'}"

    def live_channel(self, camera: str) -> str:
        return f"{self.prefix}live:new:{camera}"

    @property
    def site_map(self) -> str:
        return f"{self.prefix}site:map"

    @property
    def site_layout(self) -> str:
        return f"{self.prefix}site:layout"


def connect(url: str, timeout_s: float = 5.0, binary: bool = False) -> Any:
    """An asyncio Redis client with deadlines on connect and on every call (``binary``: values
    come back as bytes, for images)."""
    return aioredis.from_url(url, decode_responses=not binary, socket_timeout=timeout_s,
                             socket_connect_timeout=timeout_s, health_check_interval=5,
                             retry_on_timeout=False)


def connect_sync(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A blocking client with the same deadlines, for a thread of its own."""
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                socket_connect_timeout=timeout_s, health_check_interval=5,
                                retry_on_timeout=False)


def wrap(e: RedisError, what: str) -> ControlPlaneError:
    return ControlPlaneError(f"{what}: {type(e).__name__}: {e}")
