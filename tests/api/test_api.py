"""The operators' API on a real server (aiohttp on localhost) over a real SQLite store: every
route, and every way a caller can be refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from api import create_app
from api.auth import digest, hash_password, new_token
from orchestrator.events.store import EventStore
from orchestrator.triton.server import free_port
from tests.control_helpers import wait_for
from tests.orchestrator.events.test_store import event

PASSWORD = "correct horse battery"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[EventStore, Path, list[str]]]:
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    root = tmp_path / "evidence"
    ids = []
    t0 = datetime(2026, 11, 1, 8, tzinfo=UTC)
    for i in range(5):
        ev = event("north" if i % 2 else "south", "wall", t0 + timedelta(minutes=i))
        ev.snapshot, ev.clip = f"cam/{ev.id}.jpg", f"cam/{ev.id}.mp4"
        (root / "cam").mkdir(parents=True, exist_ok=True)
        (root / ev.snapshot).write_bytes(b"\xff\xd8" + bytes(range(200)))
        (root / ev.clip).write_bytes(bytes(range(256)) * 40)
        store.insert(ev)
        ids.append(ev.id)
    (tmp_path / "secret.txt").write_text("not evidence")
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
        store.put_user(name, hash_password(PASSWORD), role)
    yield store, root, ids
    store.close()


@asynccontextmanager
async def running(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def client(url: str) -> aiohttp.ClientSession:
    # A browser keeps cookies from 127.0.0.1; aiohttp's jar needs to be told to.
    return aiohttp.ClientSession(url, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(s: aiohttp.ClientSession, name: str) -> str:
    async with s.post("/api/v1/login", json={"name": name, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["csrf_token"])


def test_health_and_readiness_need_no_login(site: Any) -> None:
    store, root, _ = site

    async def go() -> list[int]:
        async with running(create_app(store, root, "k")) as url, \
                client(url) as s:
            out = []
            for path in ("/api/v1/health", "/api/v1/ready"):
                async with s.get(path) as r:
                    out.append(r.status)
            return out

    assert asyncio.run(go()) == [200, 200]


def test_login_logout_and_the_rate_limit(site: Any) -> None:
    store, root, _ = site

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with running(create_app(store, root, "k")) as url, \
                client(url) as s:
            async with s.get("/api/v1/me") as r:
                out["anonymous"] = r.status
            async with s.post("/api/v1/login", data="not json") as r:
                out["malformed"] = r.status
            for i in range(5):
                async with s.post("/api/v1/login", json={"name": "vera", "password": "x" * 9}
                                  ) as r:
                    out[f"wrong{i}"] = r.status
            async with s.post("/api/v1/login", json={"name": "vera", "password": PASSWORD}
                              ) as r:
                out["limited"], out["retry"] = r.status, r.headers.get("Retry-After")
        async with running(create_app(store, root, "k")) as url, \
                client(url) as s:
            async with s.post("/api/v1/login", json={"name": "nobody", "password": PASSWORD}
                              ) as r:
                out["unknown"] = r.status
            async with s.post("/api/v1/login", json={"name": "vera", "password": PASSWORD}
                              ) as r:
                out["cookie"] = r.headers.get("Set-Cookie", "")
            async with s.get("/api/v1/me") as r:
                out["me"] = (await r.json())["role"]
            async with s.post("/api/v1/logout") as r:
                out["logout"] = r.status
            async with s.get("/api/v1/me") as r:
                out["after"] = r.status
        return out

    got = asyncio.run(go())
    assert got["anonymous"] == 401 and got["malformed"] == 400
    assert [got[f"wrong{i}"] for i in range(5)] == [401] * 5
    assert got["limited"] == 429 and int(got["retry"]) > 0
    assert got["unknown"] == 401
    assert "perishield_session=" in got["cookie"] and "HttpOnly" in got["cookie"]
    assert "SameSite=Strict" in got["cookie"] and got["me"] == "viewer"
    assert got["logout"] == 200 and got["after"] == 401


def test_events_are_for_users_with_their_queries_checked(site: Any) -> None:
    store, root, ids = site

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with running(create_app(store, root, "k")) as url, \
                client(url) as s:
            async with s.get("/api/v1/events") as r:
                out["anonymous"] = r.status
            await login(s, "vera")
            for bad in ({"limit": "-1"}, {"limit": "-99999999999"}, {"limit": "0"},
                        {"limit": "201"}, {"limit": "many"}, {"camera": "\x00"},
                        {"since": "yesterday"}, {"status": "maybe"}, {"cursor": "%%%"},
                        {"camera": "x" * 65}):
                async with s.get("/api/v1/events", params=bad) as r:
                    out.setdefault("bad", []).append(r.status)
            pages, cursor = [], None
            while True:
                params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
                async with s.get("/api/v1/events", params=params) as r:
                    body = await r.json()
                pages.append([e["id"] for e in body["events"]])
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            out["pages"] = pages
            async with s.get("/api/v1/events", params={"camera": "north"}) as r:
                out["north"] = [e["camera"] for e in (await r.json())["events"]]
            async with s.get(f"/api/v1/events/{ids[0]}") as r:
                out["detail"] = await r.json()
            async with s.get("/api/v1/events/NOPE") as r:
                out["missing"] = r.status
        return out

    got = asyncio.run(go())
    assert got["anonymous"] == 401
    assert got["bad"] == [400] * 10
    assert got["pages"] == [ids[4:2:-1], ids[2:0:-1], ids[:1]]  # newest first, no overlap
    assert got["north"] == ["north", "north"]
    assert got["detail"]["id"] == ids[0] and got["detail"]["trajectory"]
    assert got["detail"]["acknowledgements"] == [] and got["missing"] == 404


def test_acknowledging_needs_an_operator_and_the_csrf_token(site: Any) -> None:
    store, root, ids = site
    token = new_token(store, "otto", "platform", None)
    expired = new_token(store, "otto", "old", -1)

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        ack = f"/api/v1/events/{ids[0]}/ack"
        body = {"verdict": "false_alarm", "note": "a cat"}
        async with running(create_app(store, root, "k")) as url:
            async with client(url) as s:
                async with s.post(ack, json=body) as r:
                    out["anonymous"] = r.status
                csrf = await login(s, "vera")
                async with s.post(ack, json=body, headers={"X-CSRF-Token": csrf}) as r:
                    out["viewer"] = r.status
            async with client(url) as s:
                csrf = await login(s, "otto")
                async with s.post(ack, json=body) as r:
                    out["no_csrf"] = r.status
                async with s.post(ack, json=body, headers={"X-CSRF-Token": "forged"}) as r:
                    out["bad_csrf"] = r.status
                async with s.post(ack, json={"verdict": "maybe"},
                                  headers={"X-CSRF-Token": csrf}) as r:
                    out["bad_verdict"] = r.status
                async with s.post("/api/v1/events/NOPE/ack", json=body,
                                  headers={"X-CSRF-Token": csrf}) as r:
                    out["unknown"] = r.status
                async with s.post(ack, json=body, headers={"X-CSRF-Token": csrf}) as r:
                    out["operator"] = (r.status, await r.json())
            async with client(url) as s:
                for name, tok in (("token", token), ("expired", expired), ("junk", "psk_x")):
                    async with s.post(ack, json={"verdict": "confirmed"},
                                      headers={"Authorization": f"Bearer {tok}"}) as r:
                        out[name] = r.status
        return out

    got = asyncio.run(go())
    assert got["anonymous"] == 401 and got["viewer"] == 403
    assert got["no_csrf"] == 403 and got["bad_csrf"] == 403
    assert got["bad_verdict"] == 400 and got["unknown"] == 404
    assert got["operator"][0] == 200 and got["operator"][1]["operator"] == "otto"
    assert got["token"] == 200 and got["expired"] == 401 and got["junk"] == 401
    acks = store.acknowledgements(ids[0])
    assert [(a["operator"], a["verdict"], a["note"]) for a in acks] == [
        ("otto", "false_alarm", "a cat"), ("otto", "confirmed", None)]
    assert store.session_user(digest("forged")) is None


def test_evidence_for_users_with_ranges_and_never_outside_the_root(site: Any) -> None:
    store, root, ids = site
    ev = store.get(ids[0])
    assert ev is not None and ev.clip is not None

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with running(create_app(store, root, "k")) as url, \
                client(url) as s:
            async with s.get(f"/api/v1/evidence/{ev.clip}") as r:
                out["anonymous"] = r.status
            await login(s, "vera")
            async with s.get(f"/api/v1/evidence/{ev.clip}",
                             headers={"Range": "bytes=100-199"}) as r:
                out["range"] = (r.status, await r.read(), r.headers.get("Content-Range"))
            for i, path in enumerate(["../secret.txt", "cam/../../secret.txt",
                                      "%2e%2e/secret.txt", "..%2fsecret.txt"]):
                async with s.get(f"/api/v1/evidence/{path}") as r:
                    out[f"traversal{i}"] = (r.status, b"not evidence" in await r.read())
        # no secret: links are refused
        async with running(create_app(store, root, "")) as url, \
                client(url) as s, s.get(f"/evidence/{ev.clip}") as r:
            out["unsigned_site"] = r.status
        return out

    got = asyncio.run(go())
    assert got["anonymous"] == 401
    status, body, span = got["range"]
    assert status == 206 and body == (bytes(range(256)) * 40)[100:200]
    assert span == "bytes 100-199/10240"
    assert all(got[f"traversal{i}"][0] in (403, 404) and not got[f"traversal{i}"][1]
               for i in range(4))
    assert got["unsigned_site"] == 403


def test_perishield_api_serves_users_tokens_and_status(tmp_path: Path) -> None:
    # The command as an operator runs it: users and a token from the CLI, the site's status
    # from the real Redis, a graceful stop.
    cfg = tmp_path / "site.yaml"
    prefix = f"apitest-{os.getpid()}:"
    cfg.write_text(f"outputs:\n  data_dir: {tmp_path}\ncontrol:\n  prefix: '{prefix}'\n"
                   "alarms:\n  evidence_secret: s3cret-for-links\n")
    cli = [sys.executable, "-m", "orchestrator"]
    add = subprocess.run([*cli, "user", "add", "ada", "--role", "admin", "--password-stdin",
                          "-c", str(cfg)], input=PASSWORD + "\n", capture_output=True,
                         text=True, check=False)
    assert add.returncode == 0 and "ada: admin" in add.stdout, add.stderr
    again = subprocess.run([*cli, "user", "add", "ada", "--password-stdin", "-c", str(cfg)],
                           input=PASSWORD + "\n", capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    short = subprocess.run([*cli, "user", "add", "bob", "--password-stdin", "-c", str(cfg)],
                           input="short\n", capture_output=True, text=True, check=False)
    assert short.returncode == 2 and "at least 8" in short.stderr
    token = subprocess.run([*cli, "user", "token", "ada", "-c", str(cfg)],
                           capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*cli, "api", "-c", str(cfg), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        import urllib.request

        def get(path: str, auth: bool = True) -> tuple[int, Any]:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={
                "Authorization": f"Bearer {token}"} if auth else {})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, None
            except OSError:
                return 0, None

        wait_for(lambda: get("/api/v1/health", False)[0] == 200, 30, what="the API up")
        assert get("/api/v1/status", auth=False)[0] == 401
        status, body = get("/api/v1/status")
        assert status == 200 and set(body) == {"workers", "cameras", "leases"}
        assert get("/api/v1/me")[1]["role"] == "admin"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
