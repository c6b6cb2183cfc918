"""The operators' API (aiohttp), versioned under ``/api/v1``; every route but health and login
needs a user (session cookie) or an API token, and the role its action needs.

    GET  /api/v1/health                  liveness (no login)
    GET  /api/v1/ready                   the database answers (no login)
    POST /api/v1/login   {name, password} → session cookie + CSRF token
    POST /api/v1/logout
    GET  /api/v1/me
    GET  /api/v1/events                  filters, cursor pagination              viewer
    GET  /api/v1/events/{id}             detail: trajectory, acknowledgements     viewer
    POST /api/v1/events/{id}/ack {verdict: confirmed|false_alarm, note}        operator
    GET  /api/v1/evidence/{path}         snapshot / clip, HTTP range requests     viewer
    GET  /api/v1/status                  workers, leases, cameras (Redis)         viewer
    GET  /evidence/{path}?expires&sig    signed, expiring links in alarms (the platform)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

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
from api.evidence import EvidenceError, evidence_handler, resolve
from orchestrator.events.store import EventStore, StoreError, UnknownEvent

STORE = web.AppKey("store", EventStore)
ROOT = web.AppKey("evidence_root", Path)
LIMITER = web.AppKey("login_limiter", LoginLimiter)
STATUS = web.AppKey("status", object)  # async () -> dict, or None without a control plane
MAX_PAGE = 200
StatusReader = Callable[[], Awaitable[dict[str, Any]]]


@web.middleware
async def who_is_calling(request: web.Request, handler: Any) -> web.StreamResponse:
    who = await authenticate(request.app[STORE], request)
    if who is not None:
        request[PRINCIPAL] = who
    return await handler(request)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """API errors as ``{"error": ...}`` with their status; a store fault is a 503."""
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


def _text(q: Any, key: str, max_len: int = 64) -> str | None:
    v = q.get(key)
    if v is None or v == "":
        return None
    if len(v) > max_len or any(ord(ch) < 32 for ch in v):
        raise web.HTTPBadRequest(text=f"{key}: at most {max_len} printable characters")
    return str(v)


def _time(q: Any, key: str) -> datetime | None:
    v = _text(q, key)
    if v is None:
        return None
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{key}: expected an ISO time, got {v!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


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


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    await asyncio.to_thread(request.app[STORE].ping)
    return web.json_response({"status": "ready"})


async def login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        name, password = str(body["name"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="expected JSON {name, password}") from None
    limiter = request.app[LIMITER]
    keys = (f"ip:{request.remote}", f"user:{name}")
    wait = limiter.blocked(*keys)
    if wait:
        raise web.HTTPTooManyRequests(text="too many failed logins; try again later",
                                      headers={"Retry-After": str(int(wait) + 1)})
    store = request.app[STORE]
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
        await asyncio.to_thread(request.app[STORE].end_session, digest(sid))
    resp = web.json_response({"status": "logged out"})
    resp.del_cookie(COOKIE, path="/")
    return resp


@require("viewer")
async def me(request: web.Request) -> web.Response:
    who = principal_of(request)
    assert who is not None
    return web.json_response({"name": who.name, "role": who.role, "csrf_token": who.csrf})


@require("viewer")
async def list_events(request: web.Request) -> web.Response:
    q = request.query
    raw = q.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise web.HTTPBadRequest(text=f"limit: a whole number from 1 to {MAX_PAGE}")
    status = _text(q, "status")
    if status not in (None, "unacknowledged", "confirmed", "false_alarm"):
        raise web.HTTPBadRequest(text="status: unacknowledged, confirmed or false_alarm")
    limit = int(raw)
    events = await asyncio.to_thread(
        request.app[STORE].query, camera=_text(q, "camera"), rule=_text(q, "rule"),
        class_name=_text(q, "class"), since=_time(q, "since"), until=_time(q, "until"),
        limit=limit + 1, status=status, before=_cursor(_text(q, "cursor", 200)))
    page, more = events[:limit], len(events) > limit
    return web.json_response({
        "events": [e.to_json() for e in page],
        "next_cursor": _next_cursor(page[-1].capture_time, page[-1].id) if more else None})


@require("viewer")
async def event_detail(request: web.Request) -> web.Response:
    store = request.app[STORE]
    eid = request.match_info["id"]
    ev = await asyncio.to_thread(store.get, eid)
    if ev is None:
        raise web.HTTPNotFound(text=f"no event {eid!r}")
    acks = await asyncio.to_thread(store.acknowledgements, eid)
    body = ev.to_json()
    body["acknowledgements"] = [{"operator": a["operator"], "verdict": a["verdict"],
                                 "note": a["note"], "at": a["at"].isoformat()} for a in acks]
    return web.json_response(body)


@require("operator")
async def acknowledge(request: web.Request) -> web.Response:
    who = principal_of(request)
    assert who is not None
    try:
        body = await request.json()
        verdict = body.get("verdict", "confirmed")
        note = body.get("note")
    except (ValueError, AttributeError):
        raise web.HTTPBadRequest(text="expected JSON {verdict, note}") from None
    if verdict not in ("confirmed", "false_alarm") or (note is not None
                                                       and (not isinstance(note, str)
                                                            or len(note) > 1000)):
        raise web.HTTPBadRequest(text="verdict: confirmed or false_alarm; note: text "
                                      "of at most 1000 characters")
    eid = request.match_info["id"]
    try:
        await asyncio.to_thread(request.app[STORE].acknowledge, eid, who.name, verdict, note)
    except UnknownEvent:
        raise web.HTTPNotFound(text=f"no event {eid!r}") from None
    return web.json_response({"event_id": eid, "verdict": verdict, "operator": who.name})


@require("viewer")
async def evidence(request: web.Request) -> web.StreamResponse:
    try:
        path = resolve(request.app[ROOT], request.match_info["path"])
    except EvidenceError as e:
        raise web.HTTPForbidden(text=str(e)) from None
    if not path.is_file():
        raise web.HTTPNotFound(text="no such evidence")
    return web.FileResponse(path)  # answers Range requests (the video player seeks)


@require("viewer")
async def status(request: web.Request) -> web.Response:
    reader = request.app[STATUS]
    if reader is None:
        raise web.HTTPServiceUnavailable(text="no control plane configured")
    try:
        return web.json_response(await reader())  # type: ignore[operator]
    except Exception as e:  # noqa: BLE001 - Redis away: say so, never a 500
        raise web.HTTPServiceUnavailable(text=f"control plane unavailable: {e}") from None


def create_app(store: EventStore, evidence_root: Path | None = None,
               evidence_secret: str = "", status_reader: StatusReader | None = None
               ) -> web.Application:
    """The API over an event store (and, with ``status_reader``, the control plane).

    Example:
        >>> store = EventStore("sqlite:///perishield-data/events.db")  # doctest: +SKIP
        >>> app = create_app(store, Path("perishield-data/evidence"), "secret")  # doctest: +SKIP
        >>> web.run_app(app)  # doctest: +SKIP
    """
    app = web.Application(middlewares=[json_errors, who_is_calling], client_max_size=64 * 1024)
    app[STORE] = store
    app[ROOT] = evidence_root or Path("/nonexistent")
    app[LIMITER] = LoginLimiter()
    app[STATUS] = status_reader
    v1 = "/api/v1"
    app.router.add_get(f"{v1}/health", health)
    app.router.add_get(f"{v1}/ready", ready)
    app.router.add_post(f"{v1}/login", login)
    app.router.add_post(f"{v1}/logout", logout)
    app.router.add_get(f"{v1}/me", me)
    app.router.add_get(f"{v1}/events", list_events)
    app.router.add_get(f"{v1}/events/{{id}}", event_detail)
    app.router.add_post(f"{v1}/events/{{id}}/ack", acknowledge)
    app.router.add_get(f"{v1}/status", status)
    if evidence_root is not None:
        app.router.add_get(f"{v1}/evidence/{{path:.+}}", evidence)
        # The platform's links: signed and expiring; refused when no secret is set.
        app.router.add_get("/evidence/{path:.+}", evidence_handler(evidence_root,
                                                                  evidence_secret))
    return app
