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

# ARGV: prefix, worker, now, ttl_ms, max_new, excluded camera ids...
CLAIM = _NOW + """
local prefix, worker, now = ARGV[1], ARGV[2], now_ms(ARGV[3])
local ttl, max_new = tonumber(ARGV[4]), tonumber(ARGV[5])
local excluded = {}
for i = 6, #ARGV do excluded[ARGV[i]] = true end
local cams = redis.call('SMEMBERS', prefix .. 'cameras:enabled')
table.sort(cams)
local out = {}
for _, cam in ipairs(cams) do
  if #out >= 2 * max_new then break end
  if not excluded[cam] then
    local key = prefix .. 'lease:' .. cam
    local expires = tonumber(redis.call('HGET', key, 'expires') or '0')
    if expires <= now then
      local token = redis.call('INCR', prefix .. 'fence:' .. cam)
      redis.call('HSET', key, 'worker', worker, 'token', token, 'expires', now + ttl)
      redis.call('PEXPIRE', key, 2 * ttl + 60000)
      table.insert(out, cam)
      table.insert(out, token)
    end
  end
end
return out
"""

# ARGV: prefix, worker, now, ttl_ms, then camera, token pairs. Returns the cameras lost.
RENEW = _NOW + """
local prefix, worker, now, ttl = ARGV[1], ARGV[2], now_ms(ARGV[3]), tonumber(ARGV[4])
local lost = {}
for i = 5, #ARGV, 2 do
  local cam, token = ARGV[i], ARGV[i + 1]
  local key = prefix .. 'lease:' .. cam
  local held = redis.call('HMGET', key, 'worker', 'token')
  if held[1] == worker and held[2] == token then
    redis.call('HSET', key, 'expires', now + ttl)
    redis.call('PEXPIRE', key, 2 * ttl + 60000)
  else
    table.insert(lost, cam)
  end
end
return lost
"""

# ARGV: prefix, worker, then camera, token pairs.
RELEASE = """
local n = 0
for i = 3, #ARGV, 2 do
  local key = ARGV[1] .. 'lease:' .. ARGV[i]
  local held = redis.call('HMGET', key, 'worker', 'token')
  if held[1] == ARGV[2] and held[2] == ARGV[i + 1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True, slots=True)
class Lease:
    camera: str
    token: int


class LeaseClient:
    """One worker's side of the lease protocol."""

    def __init__(self, redis: Any, keys: Keys, worker: str, ttl_s: float) -> None:
        self.r = redis
        self.k = keys
        self.worker = worker
        self.ttl_ms = int(ttl_s * 1000)
        self._claim = redis.register_script(CLAIM)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)

    async def claim(self, max_new: int, exclude: set[str] | frozenset[str] = frozenset(),
                    now_ms: int | None = None) -> list[Lease]:
        """Claim up to ``max_new`` free enabled cameras; each gets a new, larger token."""
        if max_new <= 0:
            return []
        try:
            out = await self._claim(args=[self.k.prefix, self.worker, _now(now_ms), self.ttl_ms,
                                          max_new, *sorted(exclude)])
        except RedisError as e:
            raise wrap(e, "claiming cameras") from None
        return [Lease(out[i], int(out[i + 1])) for i in range(0, len(out), 2)]

    async def renew(self, leases: list[Lease], now_ms: int | None = None) -> set[str]:
        """Extend the leases still ours; returns the cameras whose lease was lost."""
        if not leases:
            return set()
        try:
            lost = await self._renew(args=[self.k.prefix, self.worker, _now(now_ms),
                                           self.ttl_ms, *_pairs(leases)])
        except RedisError as e:
            raise wrap(e, "renewing leases") from None
        return set(lost)

    async def release(self, leases: list[Lease]) -> int:
        if not leases:
            return 0
        try:
            return int(await self._release(args=[self.k.prefix, self.worker, *_pairs(leases)]))
        except RedisError as e:
            raise wrap(e, "releasing leases") from None


def _now(now_ms: int | None) -> str:
    return "" if now_ms is None else str(int(now_ms))


def _pairs(leases: list[Lease]) -> list[str]:
    return [x for lease in leases for x in (lease.camera, str(lease.token))]
