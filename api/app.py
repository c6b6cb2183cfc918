"""The operators' API and web UI (aiohttp). Routes are one table (``ROUTES``), from which both
the app and its OpenAPI 3.1 document (``/api/v1/openapi.json``, rendered at ``/api/v1/docs``)
are made; every route but health, readiness and login needs a user (session cookie) or an
API token, and the role its action needs. docs/api.md lists them.

Outside ``/api/v1``: ``/`` the web UI (static ES modules under ``/ui/``), ``/evidence/{path}``
the signed, expiring links in alarms (for the platform), ``/metrics`` for Prometheus.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.exceptions import RedisError

from api import cameras, overview
from api.auth import (
    COOKIE,
    PRINCIPAL,
    SESSION_S,
    LoginLimiter,
    authenticate,
    check_password,
    digest,
    principal_of,
    require,
)
from api.evidence import EvidenceError, evidence_handler, file_response, resolve
from api.models import (
    AckIn,
    Acknowledgement,
    CameraDoc,
    CameraList,
    EventDetail,
    EventPage,
    EventQuery,
    FalseAlarmStats,
    FrameQuery,
    Health,
    Layout,
    LoginIn,
    Me,
    Rules,
    RulesIn,
    SiteHealth,
    StatsQuery,
    StatusOut,
    VersionQuery,
    Written,
)
from api.openapi import Route, document, parse_body, parse_query
from api.site import SITE, Control, Site, site_of
from orchestrator.alarms.schema import ack_messages
from orchestrator.config import CameraConfig
from orchestrator.control.redis_client import ControlPlaneError
from orchestrator.events.store import EventStore, StoreError, UnknownEvent

LIMITER = web.AppKey("login_limiter", LoginLimiter)
METRICS = web.AppKey("metrics", dict)
WEB = Path(__file__).parent / "web"
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")


@web.middleware
async def who_is_calling(request: web.Request, handler: Any) -> web.StreamResponse:
    who = await authenticate(request.app[SITE].store, request)
    if who is not None:
        request[PRINCIPAL] = who
    return await handler(request)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """API errors as ``{"error": ...}`` with their status; a store or control-plane fault is
    a 503, never a 500."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if not request.path.startswith("/api/") or e.status < 400:
            raise
        return web.json_response({"error": e.text or e.reason}, status=e.status,
                                 headers={k: v for k, v in e.headers.items()
                                          if k in ("Retry-After", "WWW-Authenticate")})
    except StoreError as e:
        return web.json_response({"error": f"event store unavailable: {e}"}, status=503)
    except (ControlPlaneError, RedisError) as e:
        return web.json_response({"error": f"control plane unavailable: {e}"}, status=503)


@web.middleware
async def measured(request: web.Request, handler: Any) -> web.StreamResponse:
    m = request.app[METRICS]
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    t0 = time.perf_counter()
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        m["requests"].labels(name, request.method, str(status)).inc()
        m["seconds"].labels(name).observe(time.perf_counter() - t0)


@web.middleware
async def secure_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    resp = await handler(request)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    return resp


def _cursor(text: str | None) -> tuple[datetime, str] | None:
    if text is None:
        return None
    try:
        t, eid = base64.urlsafe_b64decode(text.encode() + b"==").decode().split("|")
        return datetime.fromisoformat(t), eid
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="cursor: not one this API gave") from None


def _next_cursor(t: datetime, eid: str) -> str:
    return base64.urlsafe_b64encode(f"{t.isoformat()}|{eid}".encode()).decode().rstrip("=")


def _utc(t: datetime | None) -> datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=UTC)


def _ack_json(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "at": a["at"].isoformat()}


# -- sessions ----------------------------------------------------------------------------------

async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    await asyncio.to_thread(site_of(request).store.ping)
    return web.json_response({"status": "ready"})


async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginIn)
    name, password = body.name, body.password
    limiter = request.app[LIMITER]
    keys = (f"ip:{request.remote}", f"user:{name}")
    wait = limiter.blocked(*keys)
    if wait:
        raise web.HTTPTooManyRequests(text="too many failed logins; try again later",
                                      headers={"Retry-After": str(int(wait) + 1)})
    store = site_of(request).store
    user = await asyncio.to_thread(store.user, name)
    ok = await asyncio.to_thread(check_password, user["password_hash"] if user else None,
                                 password)
    if not ok or user is None:
        limiter.failed(*keys)
        raise web.HTTPUnauthorized(text="wrong name or password")
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    await asyncio.to_thread(store.add_session, digest(sid), name, csrf,
                            datetime.now(UTC) + timedelta(seconds=SESSION_S))
    resp = web.json_response({"name": name, "role": user["role"], "csrf_token": csrf})
    resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", max_age=int(SESSION_S),
                    secure=request.secure, path="/")
    return resp


async def logout(request: web.Request) -> web.Response:
    sid = request.cookies.get(COOKIE)
    if sid:
        await asyncio.to_thread(site_of(request).store.end_session, digest(sid))
    resp = web.json_response({"status": "logged out"})
    resp.del_cookie(COOKIE, path="/")
    return resp


@require("viewer")
async def me(request: web.Request) -> web.Response:
    who = principal_of(request)
    assert who is not None
    return web.json_response({"name": who.name, "role": who.role, "csrf_token": who.csrf})


# -- events ------------------------------------------------------------------------------------

@require("viewer")
async def list_events(request: web.Request) -> web.Response:
    q = parse_query(request, EventQuery)
    store = site_of(request).store
    events = await asyncio.to_thread(
        store.query, camera=q.camera or None, rule=q.rule or None,
        class_name=q.class_name or None, since=_utc(q.since), until=_utc(q.until),
        limit=q.limit + 1, status=q.status, before=_cursor(q.cursor),
        incident=q.incident or None)
    page, more = events[:q.limit], len(events) > q.limit
    verdicts = await asyncio.to_thread(store.verdicts, [e.id for e in page])
    return web.json_response({
        "events": [{**e.to_json(), "acknowledgement":
                    _ack_json(verdicts[e.id]) if e.id in verdicts else None} for e in page],
        "next_cursor": _next_cursor(page[-1].capture_time, page[-1].id) if more else None})


@require("viewer")
async def event_detail(request: web.Request) -> web.Response:
    store = site_of(request).store
    eid = request.match_info["id"]
    ev = await asyncio.to_thread(store.get, eid)
    if ev is None:
        raise web.HTTPNotFound(text=f"no event {eid!r}")
    acks = [_ack_json(a) for a in await asyncio.to_thread(store.acknowledgements, eid)]
    return web.json_response({**ev.to_json(), "acknowledgement": acks[-1] if acks else None,
                              "acknowledgements": acks})


@require("operator")
async def acknowledge(request: web.Request) -> web.Response:
    who = principal_of(request)
    assert who is not None
    body = await parse_body(request, AckIn)
    site = site_of(request)
    eid = request.match_info["id"]
    try:
        ack = await asyncio.to_thread(site.store.acknowledge, eid, who.name, body.verdict,
                                      body.note, ack_messages if site.tell_platform else None)
    except UnknownEvent:
        raise web.HTTPNotFound(text=f"no event {eid!r}") from None
    return web.json_response(_ack_json(ack))


@require("viewer")
async def evidence(request: web.Request) -> web.StreamResponse:
    root = site_of(request).evidence_root
    if root is None:
        raise web.HTTPNotFound(text="no evidence folder configured")
    try:
        path = resolve(root, request.match_info["path"])
    except EvidenceError as e:
        raise web.HTTPForbidden(text=str(e)) from None
    return file_response(path)


@require("viewer")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``alarm`` (a new event), ``clip`` (its clip's outcome), ``ack``
    (a verdict), ``camera`` (a camera's state or worker changed)."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    feed = site_of(request).feed
    try:
        async with feed.subscribe() as q:
            await resp.write(b"retry: 2000\n: connected\n\n")
            while True:
                try:
                    kind, data = await asyncio.wait_for(q.get(), 15.0)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if kind == "closed":
                    break
                await resp.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass
    return resp


# -- the rest ----------------------------------------------------------------------------------

async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    site = site_of(request)
    m["sse"].set(len(site.feed.clients))
    if site.control is not None:
        m["viewers"].set(site.control.live.viewers)
        m["frames"].set(site.control.live.frames_read)
    return web.Response(body=generate_latest(m["registry"]),
                        content_type="text/plain", charset="utf-8")


def _page(name: str) -> Any:
    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / name, headers={
            "Cache-Control": "no-cache", "Content-Security-Policy": CSP,
            "X-Frame-Options": "DENY"})
    return page


V1 = "/api/v1"
ROUTES: list[Route] = [
    Route("GET", f"{V1}/health", health, "Alive", "service", response=Health),
    Route("GET", f"{V1}/ready", ready, "The database answers", "service", response=Health),
    Route("POST", f"{V1}/login", login, "Log in: session cookie and CSRF token", "sessions",
          body=LoginIn, response=Me, errors=(401, 429)),
    Route("POST", f"{V1}/logout", logout, "Log out", "sessions", response=Health),
    Route("GET", f"{V1}/me", me, "Who is calling", "sessions", "viewer", response=Me),
    Route("GET", f"{V1}/events", list_events, "Events, newest first (cursor pages)", "events",
          "viewer", query=EventQuery, response=EventPage),
    Route("GET", f"{V1}/events/{{id}}", event_detail, "An event: trajectory, verdicts",
          "events", "viewer", response=EventDetail, errors=(404,)),
    Route("POST", f"{V1}/events/{{id}}/ack", acknowledge,
          "Acknowledge or mark a false alarm (with the operator's name)", "events",
          "operator", body=AckIn, response=Acknowledgement, errors=(404,),
          links={"event": ("app_event_detail_get", {"id": "$response.body#/event_id"})}),
    Route("GET", f"{V1}/evidence/{{path:.+}}", evidence,
          "A snapshot or clip (HTTP range requests)", "events", "viewer",
          content="application/octet-stream", errors=(404,),
          extra={"x-content": "image/jpeg or video/mp4"}),
    Route("GET", f"{V1}/stream", stream, "Server-sent events: alarm, clip, ack, camera",
          "events", "viewer", content="text/event-stream"),
    Route("GET", f"{V1}/cameras", cameras.list_cameras, "Cameras with their live state",
          "cameras", "viewer", response=CameraList),
    Route("POST", f"{V1}/cameras", cameras.create_camera, "Add a camera", "cameras", "admin",
          body=CameraConfig, response=Written, status=201, errors=(409,),
          links={"camera": ("cameras_get_camera_get", {"id": "$response.body#/id"}),
                 "rules": ("cameras_get_rules_get", {"id": "$response.body#/id"}),
                 "delete": ("cameras_delete_camera_delete", {"id": "$response.body#/id"})}),
    Route("GET", f"{V1}/cameras/{{id}}", cameras.get_camera, "A camera's document and state",
          "cameras", "viewer", response=CameraDoc, errors=(404, 409)),
    Route("PUT", f"{V1}/cameras/{{id}}", cameras.replace_camera, "Replace a camera's document",
          "cameras", "admin", query=VersionQuery, body=CameraConfig, response=Written,
          errors=(409,)),
    Route("DELETE", f"{V1}/cameras/{{id}}", cameras.delete_camera, "Remove a camera",
          "cameras", "admin", errors=(404,)),
    Route("GET", f"{V1}/cameras/{{id}}/rules", cameras.get_rules,
          "A camera's zones, lines and rule settings", "cameras", "viewer", response=Rules,
          errors=(404, 409)),
    Route("PUT", f"{V1}/cameras/{{id}}/rules", cameras.put_rules,
          "Replace a camera's zones, lines (and rule settings)", "cameras", "admin",
          body=RulesIn, response=Written, errors=(404, 409),
          links={"rules": ("cameras_get_rules_get", {"id": "$response.body#/id"})}),
    Route("GET", f"{V1}/cameras/{{id}}/frame.jpg", cameras.frame,
          "The latest analysed frame (with or without the overlay)", "cameras", "viewer",
          query=FrameQuery, content="image/jpeg", errors=(404, 409)),
    Route("GET", f"{V1}/cameras/{{id}}/live.mjpeg", cameras.live,
          "Live view: MJPEG of annotated analysed frames", "cameras", "viewer",
          content="multipart/x-mixed-replace", errors=(404, 409)),
    Route("GET", f"{V1}/status", overview.status, "Workers, leases, cameras", "site",
          "viewer", response=StatusOut),
    Route("GET", f"{V1}/site/health", overview.health,
          "Workers, cameras per state, database, Redis and broker", "site", "viewer",
          response=SiteHealth),
    Route("GET", f"{V1}/site/map", overview.get_map, "The campus plan image", "site",
          "viewer", content="image/png,image/jpeg,image/webp", errors=(404,)),
    Route("PUT", f"{V1}/site/map", overview.put_map, "Upload the campus plan (PNG/JPEG/WebP)",
          "site", "admin", body="image/png,image/jpeg,image/webp"),
    Route("GET", f"{V1}/site/layout", overview.get_layout, "Cameras placed on the map",
          "site", "viewer", response=Layout),
    Route("PUT", f"{V1}/site/layout", overview.put_layout, "Place cameras on the map", "site",
          "admin", body=Layout, response=Layout),
    Route("GET", f"{V1}/stats/false-alarms", overview.false_alarms,
          "Events, confirmed and false alarms per camera, rule and day", "site", "viewer",
          query=StatsQuery, response=FalseAlarmStats),
]
OPENAPI = web.AppKey("openapi", dict)


def create_app(store: EventStore, evidence_root: Path | None = None,
               evidence_secret: str = "", control: Control | None = None,
               tell_platform: bool = False, broker_url: str | None = None) -> web.Application:
    """The API and web UI over an event store (and, with ``control``, the control plane).

    Example:
        >>> store = EventStore("sqlite:///perishield-data/events.db")  # doctest: +SKIP
        >>> app = create_app(store, Path("perishield-data/evidence"), "secret")  # doctest: +SKIP
        >>> web.run_app(app)  # doctest: +SKIP
    """
    app = web.Application(middlewares=[secure_headers, measured, json_errors, who_is_calling],
                          client_max_size=overview.MAP_BYTES + 1024)
    site = Site(store, evidence_root, evidence_secret, control, tell_platform, broker_url)
    app[SITE] = site
    app[LIMITER] = LoginLimiter()
    app[cameras.LIVE_CLOSING] = asyncio.Event()
    reg = CollectorRegistry()
    app[METRICS] = {
        "registry": reg,
        "requests": Counter("perishield_api_requests", "API requests answered",
                            ["route", "method", "status"], registry=reg),
        "seconds": Histogram("perishield_api_request_seconds", "Time to answer (streams: "
                             "their whole life)", ["route"], registry=reg),
        "sse": Gauge("perishield_api_sse_clients", "Browsers on the event stream",
                     registry=reg),
        "viewers": Gauge("perishield_api_live_viewers", "Viewers of live views", registry=reg),
        "frames": Gauge("perishield_api_live_frames_read", "Live frames read from Redis "
                        "(once per frame, whatever the viewers)", registry=reg)}
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.handler)
    app[OPENAPI] = document(ROUTES)
    app.router.add_get(f"{V1}/openapi.json", openapi)
    app.router.add_get(f"{V1}/docs", _page("reference.html"))
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", _page("index.html"))
    app.router.add_static("/ui/", WEB, follow_symlinks=False)
    if evidence_root is not None:
        # The platform's links: signed and expiring; refused when no secret is set.
        app.router.add_get("/evidence/{path:.+}", evidence_handler(evidence_root,
                                                                  evidence_secret))

    async def start(_: web.Application) -> None:
        site.feed.start()

    async def shutdown(_: web.Application) -> None:
        app[cameras.LIVE_CLOSING].set()  # live views end; the server can close
        await site.feed.close()

    async def cleanup(_: web.Application) -> None:
        if control is not None:
            with contextlib.suppress(Exception):
                await control.close()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app
