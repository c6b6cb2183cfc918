"""Camera leases: atomic claims with fencing tokens, renewals, releases (Lua on Redis).

A lease is a hash ``lease:<camera>`` {worker, token, expires (ms)}; ``fence:<camera>`` counts
claims, so every claim gets a larger token. A lease is free when absent or expired; only the
holder (same worker and token) renews or releases it. Expiry is judged on the time passed to
the scripts (``now_ms``; Redis' own clock when omitted), so the protocol can be tested with a
controlled clock; the key's own TTL only collects garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from orchestrator.control.redis_client import Keys, wrap

_NOW = """
local function now_ms(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# Every key a script touches comes in KEYS (Redis Cluster: give the site's prefix a hash tag,
# e.g. "{campus}:", so they share a slot); the camera list is read before the call.

# KEYS: lease, fence of each candidate camera; ARGV: worker, now, ttl_ms, max_new, the cameras.
CLAIM = _NOW + """
local worker, now = ARGV[1], now_ms(ARGV[2])
local ttl, max_new = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 1, #KEYS, 2 do
  if #out >= 2 * max_new then break end
  local expires = tonumber(redis.call('HGET', KEYS[i], 'expires') or '0')
  if expires <= now then
    local token = redis.call('INCR', KEYS[i + 1])
    redis.call('HSET', KEYS[i], 'worker', worker, 'token', token, 'expires', now + ttl)
    redis.call('PEXPIRE', KEYS[i], 2 * ttl + 60000)
    table.insert(out, ARGV[4 + (i + 1) / 2])
    table.insert(out, token)
  end
end
return out
"""

# KEYS: the leases; ARGV: worker, now, ttl_ms, then each lease's camera and token.
# Returns the cameras lost.
RENEW = _NOW + """
local worker, now, ttl = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3])
local lost = {}
for i = 1, #KEYS do
  local cam, token = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local held = redis.call('HMGET', KEYS[i], 'worker', 'token')
  if held[1] == worker and held[2] == token then
    redis.call('HSET', KEYS[i], 'expires', now + ttl)
    redis.call('PEXPIRE', KEYS[i], 2 * ttl + 60000)
  else
    table.insert(lost, cam)
  end
end
return lost
"""

# KEYS: the leases; ARGV: worker, then each lease's token.
RELEASE = """
local n = 0
for i = 1, #KEYS do
  local held = redis.call('HMGET', KEYS[i], 'worker', 'token')
  if held[1] == ARGV[1] and held[2] == ARGV[1 + i] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True, slots=True)
class Lease:
    camera: str
    token: int


class _Releases:
    """Releasing leases (the script on one Redis client, asyncio or blocking)."""

    def __init__(self, redis: Any, keys: Keys, worker: str, ttl_s: float) -> None:
        self.r = redis
        self.k = keys
        self.worker = worker
        self.ttl_ms = int(ttl_s * 1000)
        self._release = redis.register_script(RELEASE)

    def _releasing(self, leases: list[Lease]) -> dict[str, list[Any]]:
        return {"keys": [self.k.lease(x.camera) for x in leases],
                "args": [self.worker, *(str(x.token) for x in leases)]}


class LeaseClient(_Releases):
    """Releases on the worker's event loop (claims and renewals run on its threads:
    ``SyncLeaseClient``)."""

    async def release(self, leases: list[Lease]) -> int:
        if not leases:
            return 0
        try:
            return int(await self._release(**self._releasing(leases)))
        except RedisError as e:
            raise wrap(e, "releasing leases") from None


class SyncLeaseClient(_Releases):
    """One worker's side of the lease protocol on a blocking Redis client: for its claim and
    renewal threads, so that they happen on time however late its event loop runs."""

    def __init__(self, redis: Any, keys: Keys, worker: str, ttl_s: float) -> None:
        super().__init__(redis, keys, worker, ttl_s)
        self._claim = redis.register_script(CLAIM)
        self._renew = redis.register_script(RENEW)

    def claim(self, max_new: int, exclude: set[str] | frozenset[str] = frozenset(),
              now_ms: int | None = None) -> list[Lease]:
        """Claim up to ``max_new`` free enabled cameras; each gets a new, larger token."""
        if max_new <= 0:
            return []
        try:
            cams = sorted(set(self.r.smembers(self.k.enabled)) - set(exclude))
            if not cams:
                return []
            out = self._claim(
                keys=[k for c in cams for k in (self.k.lease(c), self.k.fence(c))],
                args=[self.worker, _now(now_ms), self.ttl_ms, max_new, *cams])
        except RedisError as e:
            raise wrap(e, "claiming cameras") from None
        return [Lease(out[i], int(out[i + 1])) for i in range(0, len(out), 2)]

    def renew(self, leases: list[Lease], now_ms: int | None = None) -> set[str]:
        """Extend the leases still ours; returns the cameras whose lease was lost."""
        if not leases:
            return set()
        try:
            return set(self._renew(keys=[self.k.lease(x.camera) for x in leases],
                                   args=[self.worker, _now(now_ms), self.ttl_ms,
                                         *_pairs(leases)]))
        except RedisError as e:
            raise wrap(e, "renewing leases") from None

    def release(self, leases: list[Lease]) -> int:
        if not leases:
            return 0
        try:
            return int(self._release(**self._releasing(leases)))
        except RedisError as e:
            raise wrap(e, "releasing leases") from None


def _now(now_ms: int | None) -> str:
    return "" if now_ms is None else str(int(now_ms))


def _pairs(leases: list[Lease]) -> list[str]:
    return [x for lease in leases for x in (lease.camera, str(lease.token))]
