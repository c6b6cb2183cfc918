"""aiohttp application factory."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from aiohttp import web

from api.evidence import evidence_handler
from orchestrator.events.store import EventStore

STORE = web.AppKey("store", EventStore)


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def list_events(request: web.Request) -> web.Response:
    q = request.query
    try:
        since = datetime.fromisoformat(q["since"]) if "since" in q else None
        limit = min(int(q.get("limit", "50")), 1000)
    except ValueError as e:
        raise web.HTTPBadRequest(text=f"bad query: {e}") from None
    events = await asyncio.to_thread(request.app[STORE].query, camera=q.get("camera"),
                                     rule=q.get("rule"), since=since, limit=limit)
    return web.json_response([e.to_json() for e in events])


def create_app(store: EventStore, evidence_root: Path | None = None,
               evidence_secret: str = "") -> web.Application:
    """The API over an event store.

    Example:
        >>> store = EventStore("sqlite:///perishield-data/events.db")  # doctest: +SKIP
        >>> web.run_app(create_app(store))  # doctest: +SKIP
    """
    app = web.Application()
    app[STORE] = store
    app.router.add_get("/healthz", health)
    app.router.add_get("/events", list_events)
    if evidence_root is not None:
        app.router.add_get("/evidence/{path:.+}", evidence_handler(evidence_root,
                                                                  evidence_secret))
    return app
