"""The alarm message PeriShield sends to the campus 3D platform (schema ``1.0``, documented in
docs/alarms.md; additive changes only within a major version)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from orchestrator.config import AlarmConfig
from orchestrator.events.model import Event

# 1.1: object.point; captured_at is the act itself. 1.2: clip_failed follow-ups.
# 1.3: ack messages (an operator's verdict on an alarm).
SCHEMA_VERSION = "1.4"
LINK_TTL_S = 7 * 24 * 3600


def sign_path(path: str, secret: str, expires: int) -> str:
    """HMAC-SHA256 of ``path`` and its expiry: evidence links are time-limited."""
    return hmac.new(secret.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def evidence_url(cfg: AlarmConfig, path: str | None, secret: str, now: float | None = None
                 ) -> str | None:
    if not path:
        return None
    if not secret:
        return f"{cfg.evidence_base_url.rstrip('/')}/{quote(path)}"
    expires = int((time.time() if now is None else now) + LINK_TTL_S)
    sig = sign_path(path, secret, expires)
    return f"{cfg.evidence_base_url.rstrip('/')}/{quote(path)}?expires={expires}&sig={sig}"


def routing_key(kind: str, camera: str) -> str:
    return f"{kind}.{camera}"


Links = Callable[[str | None], str | None]


def alarm_message(ev: Event, cfg: AlarmConfig, secret: str, kind: str = "alarm",
                  links: Links | None = None) -> dict[str, Any]:
    """The platform's JSON for an event (``kind`` alarm), or the outcome of its clip
    (``clip_ready``, ``clip_failed``).
    ``links`` makes evidence URLs (object storage); default: signed links to our API."""
    link = links or (lambda path: evidence_url(cfg, path, secret))
    return {
        "schema_version": SCHEMA_VERSION,
        "type": kind,
        "event_id": ev.id,
        "camera": {"id": ev.camera, "position": cfg.site.get(ev.camera)},
        "rule": {"name": ev.rule, "kind": ev.rule_kind, "direction": ev.direction},
        "object": {"class": ev.class_name, "score": ev.score, "track_id": ev.track_id,
                   "box": ev.box, "point": ev.point, "site": ev.site},
        "incident": ev.incident,
        "captured_at": ev.capture_time.astimezone(UTC).isoformat(),
        "detected_at": ev.detected_at.astimezone(UTC).isoformat(),
        "sent_at": datetime.now(UTC).isoformat(),
        "video_time": ev.video_time,
        "trajectory": ev.trajectory,
        "evidence": {"snapshot_url": link(ev.snapshot),
                     "clip_url": link(ev.clip) if ev.clip_status == "ready" else None,
                     "clip_status": ev.clip_status},
    }


def messages_for(ev: Event, cfg: AlarmConfig, secret: str, kind: str = "alarm",
                 links: Links | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """Outbox rows for an event: (kind, routing key, payload)."""
    return [(kind, routing_key(kind, ev.camera),
             alarm_message(ev, cfg, secret, kind, links))]


def ack_messages(ack: dict[str, Any], ev: Event) -> list[tuple[str, str, dict[str, Any]]]:
    """Outbox rows telling the platform of an operator's verdict on an alarm. Each verdict is
    its own message (kind ``ack:<n>``): a later verdict is delivered, not taken for a repeat."""
    payload = {
        "schema_version": SCHEMA_VERSION,
        "type": "ack",
        "event_id": ev.id,
        "camera": {"id": ev.camera},
        "rule": {"name": ev.rule, "kind": ev.rule_kind, "direction": ev.direction},
        "verdict": ack["verdict"],
        "operator": ack["operator"],
        "note": ack["note"],
        "acknowledged_at": ack["at"].astimezone(UTC).isoformat(),
        "sent_at": datetime.now(UTC).isoformat(),
    }
    return [(f"ack:{ack['id']}", routing_key("ack", ev.camera), payload)]
