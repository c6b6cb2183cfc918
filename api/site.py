"""What the handlers share: the event store, the evidence folder and, when the site has one,
the control plane (Redis: parameter center, status, live frames, site map)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from api.feed import Feed
from api.live import LiveView
from orchestrator.control.params import ParamCenter, StoredDocumentInvalid
from orchestrator.control.redis_client import Keys, connect
from orchestrator.control.status import SiteStatus, read_status
from orchestrator.events.store import EventStore


class Control:
    """The control plane as the API sees it."""

    def __init__(self, redis: Any, redis_bin: Any, keys: Keys) -> None:
        self.r = redis
        self.r_bin = redis_bin
        self.k = keys
        self.params = ParamCenter(redis, keys)
        self.live = LiveView(redis_bin, keys)

    @classmethod
    def connect(cls, url: str, prefix: str, timeout_s: float = 5.0) -> Control:
        return cls(connect(url, timeout_s), connect(url, timeout_s, binary=True), Keys(prefix))

    async def status(self) -> SiteStatus:
        return await read_status(self.r, self.k)

    async def summaries(self) -> list[dict[str, Any]]:
        """Every camera of the parameter center with its live state (``perishield status``)."""
        docs = await self.params.list()
        st = await self.status()
        out = []
        for d in docs:
            if isinstance(d, StoredDocumentInvalid):  # shown, never run
                out.append(summary(d.camera, None, False, d.version, st.cameras.get(d.camera, {}),
                                   st.leases.get(d.camera), invalid=str(d)))
                continue
            cam = d.camera
            out.append(summary(cam.id, cam.name, cam.enabled, d.version,
                               st.cameras.get(cam.id, {}), st.leases.get(cam.id)))
        return out

    async def close(self) -> None:
        await self.r.aclose()
        await self.r_bin.aclose()


def summary(cid: str, name: str | None, enabled: bool, version: int, status: dict[str, str],
            worker: str | None, invalid: str = "") -> dict[str, Any]:
    def num(k: str) -> float:
        try:
            return float(status.get(k) or 0)
        except ValueError:
            return 0.0

    if invalid:
        state, reason = "invalid", invalid
    elif worker is None:
        state, reason = ("unassigned" if enabled else "disabled"), ""
    else:
        state, reason = status.get("state") or "starting", status.get("reason", "")
    return {"id": cid, "name": name, "enabled": enabled, "version": version, "state": state,
            "reason": reason, "worker": worker, "fps": num("fps"),
            "lag_p50_ms": num("lag_p50_ms"), "lag_p99_ms": num("lag_p99_ms"),
            "last_frame": num("last_frame"), "events": int(num("events")),
            "mode": "night" if status.get("mode") == "night" else "day",
            "heights": _heights(status.get("heights"))}


def _heights(text: str | None) -> dict[str, Any] | None:
    """The status's perspective model, or None (none learned, or not readable)."""
    try:
        got = json.loads(text) if text else None
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


@dataclass
class Site:
    store: EventStore
    evidence_root: Path | None = None
    evidence_secret: str = ""
    control: Control | None = None
    tell_platform: bool = False  # acknowledgements go to the 3D platform
    broker_url: str | None = None
    feed: Feed = field(init=False)

    def __post_init__(self) -> None:
        cameras = None
        if self.control is not None:
            control = self.control

            async def cameras() -> dict[str, dict[str, Any]]:
                return {c["id"]: c for c in await control.summaries()}

        self.feed = Feed(self.store, cameras)


SITE = web.AppKey("site", Site)


def site_of(request: web.Request) -> Site:
    return request.app[SITE]


def control_of(request: web.Request) -> Control:
    c = request.app[SITE].control
    if c is None:
        raise web.HTTPServiceUnavailable(text="no control plane configured (control.redis_url)")
    return c
