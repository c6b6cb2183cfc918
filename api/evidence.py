"""Serving snapshots and clips: signed, time-limited links; nothing outside the evidence root."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from orchestrator.alarms.schema import sign_path


class EvidenceError(Exception):
    """A request for evidence that is refused; the message says why (never which files exist)."""


def resolve(root: Path, rel: str) -> Path:
    """The file ``rel`` names inside ``root``; refuses anything that leaves it."""
    if (not rel or len(rel) > 1024 or rel.startswith(("/", "\\")) or "\x00" in rel
            or any(len(part.encode()) > 255 for part in rel.split("/"))):
        raise EvidenceError("bad path")
    base = root.resolve()
    try:
        target = (base / rel).resolve()
    except (OSError, RuntimeError):  # a name too long, a symlink loop
        raise EvidenceError("bad path") from None
    if target != base and base not in target.parents:
        raise EvidenceError("path outside the evidence root")
    return target


def check_signature(rel: str, expires: str | None, sig: str | None, secret: str,
                    now: float | None = None) -> None:
    if not secret:  # nothing to check a link against: refuse rather than serve to anyone
        raise EvidenceError("evidence links are not signed on this site "
                            "(alarms.evidence_secret is empty)")
    if not expires or not sig or not expires.isdigit():
        raise EvidenceError("missing signature")
    if int(expires) < (time.time() if now is None else now):
        raise EvidenceError("link expired")
    if not hmac.compare_digest(sign_path(rel, secret, int(expires)), sig):
        raise EvidenceError("bad signature")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def evidence_handler(root: Path, secret: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        try:
            check_signature(rel, request.query.get("expires"), request.query.get("sig"), secret)
            path = resolve(root, rel)
        except EvidenceError as e:
            raise web.HTTPForbidden(text=str(e)) from None
        return file_response(path)

    return handler


def file_response(path: Path) -> web.FileResponse:
    """The file, answering HTTP range requests (the browser's video player seeks)."""
    try:
        found = path.is_file()
    except OSError:
        found = False
    if not found:
        raise web.HTTPNotFound(text="no such evidence")
    return web.FileResponse(path)
