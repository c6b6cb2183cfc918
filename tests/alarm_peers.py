"""Local HTTP servers speaking the 3D platform's and DingTalk's protocols, run in a thread."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import time
from collections import Counter
from typing import Any

from aiohttp import web

from orchestrator.triton.server import free_port


class Peers:
    """The platform (dedups by Idempotency-Key, can be told to fail with 500) and a DingTalk
    robot (checks the signature and the timestamp, 20 messages a minute unless told otherwise)."""

    def __init__(self, secret: str, token: str = "tok", per_minute: int = 20) -> None:
        self.secret, self.token, self.per_minute = secret, token, per_minute
        self.port = free_port()
        self.platform_requests: Counter[str] = Counter()
        self.platform_bodies: dict[str, dict[str, Any]] = {}
        self.platform_received_at: dict[str, float] = {}
        self.fail_until = 0.0
        self.dingtalk_messages: list[dict[str, Any]] = []
        self.dingtalk_rejected = 0
        self._sent_at: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def platform_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/alarms"

    @property
    def dingtalk_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token={self.token}"

    async def _platform(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = await request.json()
        if time.monotonic() < self.fail_until:
            return web.json_response({"error": "maintenance"}, status=500)
        self.platform_requests[key] += 1
        self.platform_bodies.setdefault(key, body)
        self.platform_received_at.setdefault(key, time.time())
        return web.json_response({"ok": True})

    async def _dingtalk(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("access_token") != self.token:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        t = q.get("timestamp", "0")
        digest = hmac.new(self.secret.encode(), f"{t}\n{self.secret}".encode(),
                          hashlib.sha256).digest()
        if q.get("sign") != base64.b64encode(digest).decode() or \
                abs(time.time() * 1000 - int(t)) > 3600_000:
            self.dingtalk_rejected += 1
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        now = time.monotonic()
        self._sent_at = [s for s in self._sent_at if now - s < 60]
        if len(self._sent_at) >= self.per_minute:
            self.dingtalk_rejected += 1
            return web.json_response({"errcode": 130101, "errmsg": "send too fast"})
        self._sent_at.append(now)
        body = await request.json()
        assert body["msgtype"] == "markdown"
        self.dingtalk_messages.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def dingtalk_ids(self) -> set[str]:
        import re

        return {m for msg in self.dingtalk_messages
                for m in re.findall(r"`([0-9A-Z]{26})`", msg["markdown"]["text"])}

    def dingtalk_alarm_count(self) -> int:
        return sum(m["markdown"]["text"].count("\n- **") for m in self.dingtalk_messages)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/api/alarms", self._platform)
        app.router.add_post("/robot/send", self._dingtalk)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> Peers:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
