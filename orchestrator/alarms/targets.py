"""The peers alarms go to: the campus 3D platform (HTTP) and a DingTalk custom robot."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import urllib.parse
from typing import Any

import aiohttp

from orchestrator.alarms.delivery import Alarm, DeliveryError
from orchestrator.config import AlarmConfig


class PlatformSender:
    """POSTs each alarm to the platform with ``Idempotency-Key: <event id>:<kind>``; anything
    but 2xx, or no answer within the timeout, is a failure to retry."""

    def __init__(self, cfg: AlarmConfig, session: aiohttp.ClientSession) -> None:
        if not cfg.platform_url:
            raise ValueError("alarms.platform_url is not set")
        self.url = cfg.platform_url
        self.timeout = aiohttp.ClientTimeout(total=cfg.platform_timeout_s)
        self.session = session

    async def __call__(self, alarms: list[Alarm]) -> None:
        for a in alarms:
            try:
                async with self.session.post(
                        self.url, json=a.payload, timeout=self.timeout,
                        headers={"Idempotency-Key": f"{a.event_id}:{a.kind}"}) as r:
                    if not 200 <= r.status < 300:
                        raise DeliveryError(f"platform answered {r.status}")
            except (TimeoutError, aiohttp.ClientError) as e:
                raise DeliveryError(f"platform unreachable: {type(e).__name__}: {e}") from None


def dingtalk_signed_url(url: str, secret: str, now_ms: int | None = None) -> str:
    """The webhook URL with ``timestamp`` and ``sign`` (HMAC-SHA256 of "T\\nsecret")."""
    t = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{t}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}&timestamp={t}&sign={sign}"


def dingtalk_markdown(alarms: list[Alarm]) -> dict[str, Any]:
    """One markdown message for a batch of alarms (with the first snapshot as a picture)."""
    lines = [f"### PeriShield: {len(alarms)} alarm(s)"]
    for a in alarms:
        p = a.payload
        lines.append(f"- **{p['camera']['id']}** {p['rule']['name']} "
                     f"{p['rule']['direction'] or ''} · {p['object']['class']} "
                     f"{p['object']['score']:.2f} · {p['captured_at'][11:19]}Z · "
                     f"`{p['event_id']}`")
    snap = alarms[0].payload["evidence"]["snapshot_url"]
    if snap:
        lines.append(f"\n![snapshot]({snap})")
    return {"msgtype": "markdown",
            "markdown": {"title": f"PeriShield {len(alarms)} alarm(s)", "text": "\n".join(lines)},
            "at": {"atMobiles": [], "isAtAll": False}}


class DingTalkSender:
    """Signed robot messages, never more than ``dingtalk_per_minute`` a minute: alarms queue up
    in RabbitMQ and go out batched, several per message."""

    def __init__(self, cfg: AlarmConfig, session: aiohttp.ClientSession) -> None:
        if not cfg.dingtalk_url:
            raise ValueError("alarms.dingtalk_url is not set")
        self.url = cfg.dingtalk_url
        self.secret = cfg.dingtalk_secret
        self.min_gap = 60.0 / cfg.dingtalk_per_minute
        self.session = session
        self._last = 0.0

    async def __call__(self, alarms: list[Alarm]) -> None:
        wait = self._last + self.min_gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last = time.monotonic()
        url = dingtalk_signed_url(self.url, self.secret) if self.secret else self.url
        try:
            async with self.session.post(url, json=dingtalk_markdown(alarms),
                                         timeout=aiohttp.ClientTimeout(total=10)) as r:
                body = await r.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as e:
            raise DeliveryError(f"DingTalk unreachable: {type(e).__name__}: {e}") from None
        if r.status != 200 or body.get("errcode") != 0:
            raise DeliveryError(f"DingTalk refused: HTTP {r.status} {body}")
