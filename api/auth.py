"""Who may do what: users with roles, Argon2 passwords, session cookies with a CSRF token,
API tokens for machines, and a login rate limit.

Roles are ordered: a viewer reads, an operator also acknowledges alarms, an admin also changes
the configuration. A browser logs in (``POST /api/v1/login``) and gets an HttpOnly, SameSite
cookie and a CSRF token that every write must send back (``X-CSRF-Token``); a machine sends
``Authorization: Bearer <token>`` (no cookie, so no CSRF).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from orchestrator.events.store import EventStore

ROLES = ("viewer", "operator", "admin")
COOKIE = "perishield_session"
SESSION_S = 12 * 3600.0
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist: the answer takes as long.
_DUMMY = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored or _DUMMY, password)) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """What is kept of a token or a session id: its SHA-256 (they are random, so no salt)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(store: EventStore, user: str, label: str, days: float | None) -> str:
    """A new API token for ``user``; the token itself is shown once, never stored."""
    if store.user(user) is None:
        raise ValueError(f"no user {user!r}")
    token = "psk_" + secrets.token_urlsafe(32)
    expires = None if days is None else datetime.now(UTC) + timedelta(days=days)
    store.add_token(digest(token), user, label, expires)
    return token


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    csrf: str | None  # set for a browser session: writes must send it back

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class LoginLimiter:
    """At most ``attempts`` failed logins per ``window_s`` per client address and per user."""

    def __init__(self, attempts: int = 5, window_s: float = 60.0) -> None:
        self.attempts, self.window_s = attempts, window_s
        self._failed: dict[str, deque[float]] = {}

    def blocked(self, *keys: str) -> float:
        """Seconds to wait before another try (0: allowed)."""
        now = time.monotonic()
        wait = 0.0
        for k in keys:
            q = self._failed.get(k)
            while q and q[0] < now - self.window_s:
                q.popleft()
            if q and len(q) >= self.attempts:
                wait = max(wait, q[0] + self.window_s - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for k in keys:
            self._failed.setdefault(k, deque()).append(now)
        if len(self._failed) > 10_000:  # forget quiet clients
            self._failed = {k: q for k, q in self._failed.items()
                            if q and q[-1] > now - self.window_s}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


async def authenticate(store: EventStore, request: web.Request) -> Principal | None:
    """The caller, from a bearer token or the session cookie (None: anonymous)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        got = await asyncio.to_thread(store.token_user, digest(header[7:].strip()))
        if got is None:
            raise web.HTTPUnauthorized(text="invalid or expired token")
        return Principal(got["name"], got["role"], None)
    sid = request.cookies.get(COOKIE)
    if sid:
        got = await asyncio.to_thread(store.session_user, digest(sid))
        if got is not None:
            return Principal(got["name"], got["role"], got["csrf"])
    return None


def require(role: str) -> Callable[[Handler], Handler]:
    """A handler for callers with at least ``role``; writes by a browser need its CSRF token."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            who = principal_of(request)
            if who is None:
                raise web.HTTPUnauthorized(text="log in, or send an API token")
            if not who.may(role):
                raise web.HTTPForbidden(text=f"needs the {role} role; {who.name} is a {who.role}")
            if request.method in WRITES and who.csrf is not None:
                sent = request.headers.get("X-CSRF-Token", "")
                if not hmac.compare_digest(sent, who.csrf):
                    raise web.HTTPForbidden(text="missing or wrong CSRF token")
            return await handler(request)

        guarded.required_role = role  # type: ignore[attr-defined]
        return guarded

    return wrap
