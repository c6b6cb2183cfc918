"""Cameras through the parameter center: list with live state, read, create, replace, delete;
their zones, lines and rule settings; the latest analysed frame and the live view.

Every write goes through ``ParamCenter.put``: validated exactly as a configuration file is,
versioned (a write based on a stale version answers 409), and announced on the changes
channel, so the worker that runs the camera applies it within a second, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from aiohttp import web

from api.auth import principal_of, require
from api.live import LiveUnavailable
from api.models import FrameQuery, RulesIn, VersionQuery
from api.openapi import parse_body, parse_query
from api.site import control_of, summary
from orchestrator.control.params import (
    InvalidParameters,
    StaleVersion,
    StoredDocumentInvalid,
    VersionedCamera,
)
from orchestrator.control.redis_client import ControlPlaneError

CAMERA_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_CREDENTIALS = re.compile(r"(?<=://)([^:/@]+):([^@/]+)@")


def mask(doc: dict[str, Any]) -> dict[str, Any]:
    """A camera document without its secrets (RTSP passwords, the recorder's password)."""
    out = dict(doc)
    for k in ("source", "record_source"):
        if isinstance(out.get(k), str):
            out[k] = _CREDENTIALS.sub(r"\1:***@", out[k])
    if isinstance(out.get("nvr"), dict) and out["nvr"].get("password"):
        out["nvr"] = {**out["nvr"], "password": "***"}
    return out


def _camera_id(request: web.Request) -> str:
    cid = request.match_info["id"]
    if not CAMERA_ID.match(cid):
        raise web.HTTPBadRequest(text="camera id: 1-64 letters, digits, '_', '.', '-'")
    return cid


async def _get(request: web.Request, cid: str) -> VersionedCamera:
    try:
        got = await control_of(request).params.get(cid)
    except StoredDocumentInvalid as e:
        raise web.HTTPConflict(text=str(e)) from None
    if got is None:
        raise web.HTTPNotFound(text=f"no camera {cid!r}")
    return got


async def _put(request: web.Request, doc: dict[str, Any], version: int | None) -> web.Response:
    try:
        v = await control_of(request).params.put(doc, version)
    except StaleVersion as e:
        raise web.HTTPConflict(text=str(e)) from None
    except InvalidParameters as e:
        raise web.HTTPBadRequest(text=str(e)) from None
    return web.json_response({"id": doc["id"], "version": v},
                             status=201 if request.method == "POST" else 200)


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected a JSON body") from None


@require("viewer")
async def list_cameras(request: web.Request) -> web.Response:
    return web.json_response({"cameras": await control_of(request).summaries()})


@require("viewer")
async def get_camera(request: web.Request) -> web.Response:
    cid = _camera_id(request)
    control = control_of(request)
    got = await _get(request, cid)
    st = await control.status()
    doc = got.camera.model_dump(mode="json")
    who = principal_of(request)
    if who is None or not who.may("admin"):
        doc = mask(doc)
    return web.json_response({"camera": doc, "version": got.version, "status": summary(
        cid, got.camera.name, got.camera.enabled, got.version, st.cameras.get(cid, {}),
        st.leases.get(cid))})


@require("admin")
async def create_camera(request: web.Request) -> web.Response:
    doc = await _json(request)
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text="expected a camera document (a JSON object)")
    try:
        return await _put(request, doc, 0)  # version 0: only if it does not exist yet
    except web.HTTPConflict:
        raise web.HTTPConflict(text=f"camera {doc.get('id')!r} exists; PUT to change it"
                               ) from None


@require("admin")
async def replace_camera(request: web.Request) -> web.Response:
    cid = _camera_id(request)
    version = parse_query(request, VersionQuery).version
    doc = await _json(request)
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text="expected a camera document (a JSON object)")
    if doc.get("id", cid) != cid:
        raise web.HTTPBadRequest(text=f"document id {doc.get('id')!r} is not {cid!r}")
    return await _put(request, {**doc, "id": cid}, version)


@require("admin")
async def delete_camera(request: web.Request) -> web.Response:
    cid = _camera_id(request)
    control = control_of(request)
    if cid not in await control.r.smembers(control.k.cameras):
        raise web.HTTPNotFound(text=f"no camera {cid!r}")
    await control.params.delete(cid)
    return web.json_response({"id": cid, "deleted": True})


@require("viewer")
async def get_rules(request: web.Request) -> web.Response:
    got = await _get(request, _camera_id(request))
    doc = got.camera.model_dump(mode="json")
    return web.json_response({"zones": doc["zones"], "lines": doc["lines"],
                              "climbs": doc["climbs"], "routes": doc["routes"],
                              "ground": doc["ground"], "rules": doc["rules"],
                              "version": got.version})


@require("admin")
async def put_rules(request: web.Request) -> web.Response:
    """Replace a camera's zones, lines (and climbs, routes, rule settings): the rule editor's
    save."""
    cid = _camera_id(request)
    edit = await parse_body(request, RulesIn)
    got = await _get(request, cid)
    doc = got.camera.model_dump(mode="json")
    doc["zones"] = [z.model_dump(mode="json") for z in edit.zones]
    doc["lines"] = [ln.model_dump(mode="json") for ln in edit.lines]
    if edit.climbs is not None:
        doc["climbs"] = [c.model_dump(mode="json") for c in edit.climbs]
    if edit.routes is not None:
        doc["routes"] = [r.model_dump(mode="json") for r in edit.routes]
    if "ground" in edit.model_fields_set:
        doc["ground"] = None if edit.ground is None else edit.ground.model_dump(mode="json")
    if edit.rules is not None:
        doc["rules"] = edit.rules.model_dump(mode="json")
    return await _put(request, doc, got.version if edit.version is None else edit.version)


@require("viewer")
async def frame(request: web.Request) -> web.Response:
    cid = _camera_id(request)
    overlay = parse_query(request, FrameQuery).overlay
    await _get(request, cid)
    try:
        jpeg = await control_of(request).live.latest(cid, overlay)
    except LiveUnavailable as e:  # the camera is not running: there is no latest frame
        raise web.HTTPNotFound(text=str(e)) from None
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})


BOUNDARY = "perishield-frame"


@require("viewer")
async def live(request: web.Request) -> web.StreamResponse:
    """MJPEG (multipart/x-mixed-replace) of the camera's annotated analysed frames."""
    cid = _camera_id(request)
    await _get(request, cid)
    view = control_of(request).live
    resp = web.StreamResponse(headers={
        "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    closing = request.app[LIVE_CLOSING]
    async with view.stream(cid) as box:
        while not closing.is_set():
            getter = asyncio.ensure_future(box.get())
            stop = asyncio.ensure_future(closing.wait())
            done, _ = await asyncio.wait({getter, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if getter not in done:
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
                break
            jpeg = getter.result()
            try:
                await resp.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg
                                 + b"\r\n")
            except (ConnectionResetError, ConnectionError):
                break
    return resp


LIVE_CLOSING = web.AppKey("live_closing", asyncio.Event)


def control_errors(e: Exception) -> web.HTTPException | None:
    if isinstance(e, ControlPlaneError):
        return web.HTTPServiceUnavailable(text=f"control plane unavailable: {e}")
    return None
