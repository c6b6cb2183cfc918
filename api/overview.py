"""The site as a whole: status of workers and leases, health of what the API depends on, the
campus map with the cameras placed on it, and false alarms per camera and rule per day."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from redis.exceptions import RedisError

from api.auth import require
from api.models import Layout, StatsQuery
from api.openapi import parse_body, parse_query
from api.site import control_of, site_of
from orchestrator.events.store import StoreError

MAP_BYTES = 8 * 1024 * 1024
# What a map image may be: the first bytes of each format (no SVG: it can carry scripts).
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
               b"RIFF": "image/webp"}


@require("viewer")
async def status(request: web.Request) -> web.Response:
    st = await control_of(request).status()
    return web.json_response({"workers": st.workers, "cameras": st.cameras,
                              "leases": st.leases})


async def _check(what: Any) -> dict[str, Any]:
    try:
        detail = await what()
        return {"ok": True, "detail": detail or "reachable"}
    except Exception as e:  # noqa: BLE001 - a health page reports every failure
        return {"ok": False, "detail": f"{type(e).__name__}: {e}"[:300]}


async def _broker_reachable(url: str | None) -> str:
    """A TCP connection to the broker and its AMQP greeting (no login: cheap, no side effect)."""
    if not url:
        raise RuntimeError("no broker configured (alarms.amqp_url)")
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 5672
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3.0)
    try:
        writer.write(b"AMQP\x00\x00\x09\x01")
        await writer.drain()
        head = await asyncio.wait_for(reader.read(7), 3.0)
        if len(head) < 7 or head[0] != 1:
            raise RuntimeError("not an AMQP 0-9-1 broker")
        return f"{host}:{port} answers AMQP"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@require("viewer")
async def health(request: web.Request) -> web.Response:
    """Workers, their detectors, cameras per state, database, Redis and broker reachability."""
    site = site_of(request)

    async def db() -> str:
        await asyncio.to_thread(site.store.ping)
        return "answers"

    async def redis() -> str:
        c = control_of(request)
        await c.r.ping()
        return "answers"

    async def broker() -> str:
        return await _broker_reachable(site.broker_url)

    checks = list(await asyncio.gather(_check(db), _check(redis), _check(broker)))
    workers: dict[str, dict[str, str]] = {}
    per_state: Counter[str] = Counter()
    unassigned: list[str] = []
    if checks[1]["ok"]:
        try:
            control = control_of(request)
            st = await control.status()
            workers = st.workers
            for cam in await control.summaries():
                per_state[cam["state"]] += 1
                if cam["state"] == "unassigned":
                    unassigned.append(cam["id"])
        except (RedisError, OSError) as e:
            checks[1] = {"ok": False, "detail": str(e)}
    return web.json_response({"database": checks[0], "redis": checks[1], "broker": checks[2],
                              "workers": workers, "cameras": dict(per_state),
                              "unassigned": unassigned})


@require("viewer")
async def get_map(request: web.Request) -> web.Response:
    control = control_of(request)
    img = await control.r_bin.get(control.k.site_map)
    if not img:
        raise web.HTTPNotFound(text="no site map uploaded yet")
    return web.Response(body=bytes(img), content_type=_image_type(bytes(img)) or "image/png",
                        headers={"Cache-Control": "no-cache"})


def _image_type(data: bytes) -> str | None:
    for magic, kind in IMAGE_MAGIC.items():
        if data.startswith(magic) and (kind != "image/webp" or data[8:12] == b"WEBP"):
            return kind
    return None


@require("admin")
async def put_map(request: web.Request) -> web.Response:
    data = await request.read()
    if len(data) > MAP_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAP_BYTES, len(data),
                                            text=f"at most {MAP_BYTES} bytes")
    kind = _image_type(data)
    if kind is None:
        raise web.HTTPBadRequest(text="the map must be a PNG, JPEG or WebP image")
    control = control_of(request)
    await control.r_bin.set(control.k.site_map, data)
    return web.json_response({"content_type": kind, "bytes": len(data)})


@require("viewer")
async def get_layout(request: web.Request) -> web.Response:
    control = control_of(request)
    raw = await control.r.get(control.k.site_layout)
    try:
        layout = Layout.model_validate_json(raw) if raw else Layout()
    except ValueError:
        layout = Layout()
    return web.json_response(layout.model_dump(mode="json"))


@require("admin")
async def put_layout(request: web.Request) -> web.Response:
    layout = await parse_body(request, Layout)
    control = control_of(request)
    body = layout.model_dump(mode="json")
    await control.r.set(control.k.site_layout, json.dumps(body))
    return web.json_response(body)


@require("viewer")
async def false_alarms(request: web.Request) -> web.Response:
    days = parse_query(request, StatsQuery).days
    since = (datetime.now(UTC) - timedelta(days=days)).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
    try:
        rows = await asyncio.to_thread(site_of(request).store.verdict_counts, since)
    except StoreError as e:
        raise web.HTTPServiceUnavailable(text=str(e)) from None
    return web.json_response({"since": since.isoformat(), "rows": rows})
