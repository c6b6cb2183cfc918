"""The parameter center: one versioned, validated document per camera in Redis.

Each write is checked against the same pydantic model as the YAML configuration, bumps the
document's version atomically (a write naming a stale version is refused), and publishes a
notice on the changes channel so orchestrators apply it at once; a worker that missed notices
catches up by comparing versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError, ResponseError

from orchestrator.config import CameraConfig, Settings
from orchestrator.config.base import problems
from orchestrator.control.redis_client import ControlPlaneError, Keys, wrap

# KEYS: params hash, cameras set, enabled set; ARGV: camera, doc, expected version ('' = any),
# enabled (1/0), changes channel. Returns the new version, or an error naming the current one.
PUT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= current then
  return redis.error_reply('STALE ' .. current)
end
local version = current + 1
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', version)
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[4] == '1' then redis.call('SADD', KEYS[3], ARGV[1])
else redis.call('SREM', KEYS[3], ARGV[1]) end
redis.call('PUBLISH', ARGV[5], cjson.encode({camera = ARGV[1], version = version}))
return version
"""

DELETE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], cjson.encode({camera = ARGV[1], version = current + 1,
                                            deleted = true}))
return current + 1
"""


MAX_DOC_BYTES = 256 * 1024  # one camera's document; a drawn site needs a few kilobytes


class InvalidParameters(ControlPlaneError):
    """A document that does not validate; nothing was written."""


class StoredDocumentInvalid(InvalidParameters):
    """A document in Redis that the loader refuses (written around the parameter center, or
    by an older version): that camera is disabled, never the others."""

    def __init__(self, message: str, camera: str, version: int) -> None:
        super().__init__(message)
        self.camera = camera
        self.version = version


class StaleVersion(ControlPlaneError):
    """A write based on an old version; nothing was written."""

    def __init__(self, camera: str, expected: int, current: int) -> None:
        super().__init__(f"camera {camera!r}: version {expected} is stale (current {current}); "
                         "read it again and re-apply your change")
        self.current = current


@dataclass(frozen=True, slots=True)
class VersionedCamera:
    camera: CameraConfig
    version: int


def validate(doc: Any, camera_id: str | None = None) -> CameraConfig:
    """The document as a camera configuration, or ``InvalidParameters`` saying what is wrong."""
    if not isinstance(doc, dict):
        raise InvalidParameters(f"camera {camera_id!r}: expected a mapping, got "
                                f"{type(doc).__name__}")
    size = len(json.dumps(doc, default=str))
    if size > MAX_DOC_BYTES:
        raise InvalidParameters(f"camera {camera_id or doc.get('id')!r}: document of {size} "
                                f"bytes; at most {MAX_DOC_BYTES}")
    try:
        cam = CameraConfig.model_validate(doc)
    except ValidationError as e:
        raise InvalidParameters(f"camera {camera_id or doc.get('id')!r}: "
                                f"{problems(e, '(document)')}") from None
    if camera_id is not None and cam.id != camera_id:
        raise InvalidParameters(f"document id {cam.id!r} does not match camera {camera_id!r}")
    return cam


class ParamCenter:
    """Camera documents of one site (``keys.prefix``) in Redis."""

    def __init__(self, redis: Any, keys: Keys) -> None:
        self.r = redis
        self.k = keys
        self._put = redis.register_script(PUT)
        self._delete = redis.register_script(DELETE)

    async def put(self, doc: dict[str, Any], expected_version: int | None = None) -> int:
        """Validate and store a camera document; returns its new version."""
        cam = validate(doc)
        body = cam.model_dump_json(exclude_defaults=False)
        try:
            return int(await self._put(
                keys=[self.k.params(cam.id), self.k.cameras, self.k.enabled],
                args=[cam.id, body, "" if expected_version is None else expected_version,
                      "1" if cam.enabled else "0", self.k.changes]))
        except ResponseError as e:
            if str(e).startswith("STALE"):
                raise StaleVersion(cam.id, expected_version or 0, int(str(e).split()[1])) from None
            raise wrap(e, f"writing camera {cam.id!r}") from None
        except RedisError as e:
            raise wrap(e, f"writing camera {cam.id!r}") from None

    async def get(self, camera: str) -> VersionedCamera | None:
        """The camera's document, None if it has none. Raises ``StoredDocumentInvalid`` for a
        stored document the loader refuses."""
        try:
            doc, version = await self.r.hmget(self.k.params(camera), "doc", "version")
        except RedisError as e:
            raise wrap(e, f"reading camera {camera!r}") from None
        got = _parse(camera, doc, version)
        if isinstance(got, StoredDocumentInvalid):
            raise got
        return got

    async def versions(self, cameras: list[str]) -> dict[str, int]:
        """Current version of each camera (0 when it has no document)."""
        if not cameras:
            return {}
        try:
            async with self.r.pipeline(transaction=False) as p:
                for c in cameras:
                    p.hget(self.k.params(c), "version")
                got = await p.execute()
        except RedisError as e:
            raise wrap(e, "reading versions") from None
        return {c: int(v or 0) for c, v in zip(cameras, got, strict=True)}

    async def list(self) -> list[VersionedCamera | StoredDocumentInvalid]:
        """Every camera's document; a stored document the loader refuses is listed as its
        error, and the others as usual."""
        try:
            ids = sorted(await self.r.smembers(self.k.cameras))
        except RedisError as e:
            raise wrap(e, "listing cameras") from None
        out: list[VersionedCamera | StoredDocumentInvalid] = []
        for cid in ids:
            try:
                got = await self.get(cid)
            except StoredDocumentInvalid as e:
                out.append(e)
                continue
            if got is not None:
                out.append(got)
        return out

    async def delete(self, camera: str) -> None:
        try:
            await self._delete(keys=[self.k.params(camera), self.k.cameras, self.k.enabled],
                               args=[camera, self.k.changes])
        except RedisError as e:
            raise wrap(e, f"deleting camera {camera!r}") from None

    async def import_settings(self, settings: Settings) -> dict[str, int]:
        """Store every camera of a YAML configuration; returns the new versions."""
        return {cam.id: await self.put(cam.model_dump(mode="json"))
                for cam in settings.cameras}


def _parse(camera: str, doc: str | None, version: str | None
           ) -> VersionedCamera | StoredDocumentInvalid | None:
    if doc is None:
        return None
    v = int(version or 0)
    try:
        return VersionedCamera(validate(json.loads(doc), camera), v)
    except (InvalidParameters, ValueError) as e:  # ValueError: not JSON at all
        return StoredDocumentInvalid(f"stored document v{v} of camera {camera!r} is "
                                     f"invalid: {e}", camera, v)


def read_documents(redis: Any, keys: Keys, cameras: list[str]
                   ) -> dict[str, VersionedCamera | StoredDocumentInvalid | None]:
    """Each camera's document in one round trip on a synchronous client (a worker's claim
    thread); a stored document the loader refuses comes back as its ``StoredDocumentInvalid``,
    so it spoils no other."""
    if not cameras:
        return {}
    try:
        with redis.pipeline(transaction=False) as p:
            for c in cameras:
                p.hmget(keys.params(c), "doc", "version")
            rows = p.execute()
    except RedisError as e:
        raise wrap(e, "reading cameras") from None
    return {c: _parse(c, doc, v) for c, (doc, v) in zip(cameras, rows, strict=True)}
