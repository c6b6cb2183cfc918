"""The API's control-plane side on a real server over the real Redis (private prefix) and a
real SQLite store: cameras and their rules through the parameter center, live frames and
MJPEG from the worker-side encoder, server-sent events, the site map and layout, health,
false-alarm figures, /metrics and the OpenAPI document; and every refusal (no login, wrong
role, no CSRF token, expired token, bad input, traversal)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from api import create_app
from api.app import ROUTES
from api.auth import digest, hash_password, new_token
from api.site import Control
from orchestrator.config import CameraConfig
from orchestrator.control.redis_client import Keys, connect
from orchestrator.detections import Detections
from orchestrator.events.store import EventStore
from orchestrator.ingest import AnalysisFrame
from orchestrator.live import LiveFrames
from tests.api.test_api import PASSWORD, client, login, running
from tests.control_helpers import client as redis_client
from tests.orchestrator.events.test_store import event

pytestmark = pytest.mark.redis
CAMERA = {"id": "gate-1", "source": "rtsp://cam:secret@10.0.0.7/s1", "analysis_fps": 5,
          "lines": [{"name": "wall", "points": [[10, 10], [100, 100]]}]}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
        store.put_user(name, hash_password(PASSWORD), role)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    yield {"store": store, "prefix": prefix, "root": tmp_path / "evidence"}
    store.close()
    r = redis_client()
    for key in r.scan_iter(f"{prefix}*"):
        r.delete(key)


@asynccontextmanager
async def api(site: dict[str, Any]) -> AsyncIterator[str]:
    control = Control.connect("redis://127.0.0.1:6379/0", site["prefix"])
    app = create_app(site["store"], site["root"], "k", control, tell_platform=True,
                     broker_url="amqp://guest:guest@127.0.0.1:5672/")
    async with running(app) as url:
        yield url



def test_cameras_and_rules_through_the_parameter_center(site: dict[str, Any]) -> None:
    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with api(site) as url, client(url) as admin, client(url) as viewer, \
                client(url) as anon:
            csrf = await login(admin, "ada")
            vcsrf = await login(viewer, "vera")
            h = {"X-CSRF-Token": csrf}
            async with anon.get("/api/v1/cameras") as r:
                out["anonymous"] = r.status
            async with viewer.post("/api/v1/cameras", json=CAMERA, headers={"X-CSRF-Token": vcsrf}
                                   ) as r:
                out["viewer_create"] = r.status
            async with admin.post("/api/v1/cameras", json=CAMERA) as r:
                out["no_csrf"] = r.status
            async with admin.post("/api/v1/cameras", json=CAMERA, headers=h) as r:
                out["create"] = (r.status, await r.json())
            async with admin.post("/api/v1/cameras", json=CAMERA, headers=h) as r:
                out["again"] = r.status
            async with admin.post("/api/v1/cameras", json={**CAMERA, "id": "x",
                                                           "analysis_fps": float("inf")},
                                  headers=h) as r:
                out["infinite"] = r.status
            async with admin.post("/api/v1/cameras", data=b"{not json", headers=h) as r:
                out["not_json"] = r.status
            async with viewer.get("/api/v1/cameras") as r:
                out["list"] = await r.json()
            async with viewer.get("/api/v1/cameras/gate-1") as r:
                out["viewer_doc"] = (await r.json())["camera"]["source"]
            async with admin.get("/api/v1/cameras/gate-1") as r:
                out["admin_doc"] = (await r.json())["camera"]["source"]
            async with viewer.get("/api/v1/cameras/nope") as r:
                out["missing"] = r.status
            async with viewer.get("/api/v1/cameras/bad%00id") as r:
                out["bad_id"] = r.status
            rules = {"lines": [{"name": "wall", "points": [[10, 10], [100, 100]],
                                "direction": "a_to_b"}],
                     "zones": [{"name": "yard", "points": [[0, 0], [50, 0], [50, 50]]}]}
            async with admin.put("/api/v1/cameras/gate-1/rules", json=rules, headers=h) as r:
                out["rules"] = (r.status, await r.json())
            async with admin.put("/api/v1/cameras/gate-1/rules",
                                 json={**rules, "version": 1}, headers=h) as r:
                out["stale"] = r.status
            bowtie = {"zones": [{"name": "z", "points": [[0, 0], [10, 10], [10, 0], [0, 10]]}]}
            async with admin.put("/api/v1/cameras/gate-1/rules", json=bowtie, headers=h) as r:
                out["bowtie"] = (r.status, (await r.json())["error"])
            lane = {"name": "lane", "points": [[60, 0], [90, 0], [90, 50]]}
            routed = {**rules, "zones": [*rules["zones"], lane], "version": 2,
                      "routes": [{"name": "in", "zones": ["yard", "lane"], "within_s": 20}]}
            async with admin.put("/api/v1/cameras/gate-1/rules", json=routed, headers=h) as r:
                out["routed"] = (r.status, await r.json())
            # The routes are kept when an edit leaves them out; a zone they name must stay.
            async with admin.put("/api/v1/cameras/gate-1/rules", json=rules, headers=h) as r:
                out["orphan"] = (r.status, (await r.json())["error"])
            async with viewer.get("/api/v1/cameras/gate-1/rules") as r:
                out["read_rules"] = await r.json()
            async with admin.delete("/api/v1/cameras/gate-1", headers=h) as r:
                out["delete"] = r.status
            async with admin.delete("/api/v1/cameras/gate-1", headers=h) as r:
                out["delete_again"] = r.status
        return out

    got = asyncio.run(go())
    assert got["anonymous"] == 401 and got["viewer_create"] == 403 and got["no_csrf"] == 403
    assert got["create"] == (201, {"id": "gate-1", "version": 1}) and got["again"] == 409
    assert got["infinite"] == 400 and got["not_json"] == 400
    [cam] = got["list"]["cameras"]
    assert cam["id"] == "gate-1" and cam["state"] == "unassigned" and cam["version"] == 1
    assert got["viewer_doc"] == "rtsp://cam:***@10.0.0.7/s1"  # secrets are for admins
    assert got["admin_doc"] == CAMERA["source"]
    assert got["missing"] == 404 and got["bad_id"] == 400
    assert got["rules"] == (200, {"id": "gate-1", "version": 2}) and got["stale"] == 409
    assert got["bowtie"][0] == 400 and "crosses itself" in got["bowtie"][1]
    assert got["routed"] == (200, {"id": "gate-1", "version": 3})
    assert got["orphan"][0] == 400 and "does not have: ['lane']" in got["orphan"][1]
    assert got["read_rules"]["version"] == 3
    assert got["read_rules"]["routes"][0]["zones"] == ["yard", "lane"]
    assert got["read_rules"]["lines"][0]["direction"] == "a_to_b"
    assert [z["name"] for z in got["read_rules"]["zones"]] == ["yard", "lane"]
    assert got["delete"] == 200 and got["delete_again"] == 404
    r = redis_client()
    assert not r.exists(f"{site['prefix']}params:gate-1")


def test_tokens_expire_and_bad_tokens_are_refused(site: dict[str, Any]) -> None:
    store = site["store"]
    good = new_token(store, "vera", "ok", 1)
    store.add_token(digest("psk_old"), "vera", "old", datetime.now(UTC) - timedelta(hours=1))

    async def go() -> list[int]:
        out = []
        async with api(site) as url, aiohttp.ClientSession(url) as s:
            for tok in (good, "psk_old", "psk_made_up"):
                async with s.get("/api/v1/cameras",
                                 headers={"Authorization": f"Bearer {tok}"}) as r:
                    out.append(r.status)
            # A token is a machine: no CSRF token needed, but its user's role applies.
            async with s.put("/api/v1/cameras/gate-1/rules", json={},
                             headers={"Authorization": f"Bearer {good}"}) as r:
                out.append(r.status)
        return out

    assert asyncio.run(go()) == [200, 401, 401, 403]


def frame_of(i: int) -> AnalysisFrame:
    img = np.zeros((120, 160, 3), np.uint8)
    cv2.putText(img, str(i), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    return AnalysisFrame(index=i, video_time=i / 5, timestamp=i / 5, capture_time=0.0,
                         image=img)


def test_latest_frame_and_mjpeg_come_from_one_encoder_whatever_the_viewers(
        site: dict[str, Any]) -> None:
    cam = CameraConfig.model_validate(CAMERA)

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = Keys(site["prefix"])
        redis_bin = connect("redis://127.0.0.1:6379/0", binary=True)
        live = LiveFrames(redis_bin, keys, {"gate-1": cam}.get, max_fps=20)
        det = Detections(xyxy=np.array([[20.0, 20, 60, 100]]), confidence=np.array([0.9]),
                         class_id=np.array([0]), tracker_id=np.array([4]))
        stop = asyncio.Event()

        async def worker() -> None:  # what a worker does for a camera it runs
            i = 0
            while not stop.is_set():
                await live.refresh()
                live.on_frame("gate-1", frame_of(i), det)
                i += 1
                await asyncio.sleep(0.05)

        async with api(site) as url, client(url) as admin:
            csrf = await login(admin, "ada")
            async with admin.post("/api/v1/cameras", json=CAMERA,
                                  headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 201
            async with admin.get("/api/v1/cameras/gate-1/frame.jpg") as r:
                out["not_running"] = r.status
            task = asyncio.create_task(worker())
            try:
                for overlay in ("true", "false"):
                    async with admin.get(f"/api/v1/cameras/gate-1/frame.jpg?overlay={overlay}"
                                         ) as r:
                        body = await r.read()
                        out[overlay] = (r.status, r.content_type,
                                        cv2.imdecode(np.frombuffer(body, np.uint8), 1).shape)
                encoded_before = live.encoded

                async def view(n: int) -> list[bytes]:
                    frames = []
                    async with admin.get("/api/v1/cameras/gate-1/live.mjpeg") as r:
                        out["mjpeg_type"] = r.headers["Content-Type"]
                        buf = b""
                        while len(frames) < n:
                            buf += await r.content.readany()
                            while b"\xff\xd9" in buf:
                                head, _, buf = buf.partition(b"\xff\xd9")
                                frames.append(head[head.index(b"\xff\xd8"):] + b"\xff\xd9")
                    return frames

                views = await asyncio.gather(*(view(10) for _ in range(8)))
                out["views"] = [len(v) for v in views]
                out["decoded"] = cv2.imdecode(np.frombuffer(views[0][-1], np.uint8), 1).shape
                out["encoded"] = live.encoded - encoded_before
                async with admin.get("/metrics") as r:
                    out["metrics"] = await r.text()
            finally:
                stop.set()
                await task
                await redis_bin.aclose()
        return out

    got = asyncio.run(go())
    assert got["not_running"] == 404
    assert got["true"] == (200, "image/jpeg", (120, 160, 3)) == got["false"]
    assert got["mjpeg_type"].startswith("multipart/x-mixed-replace")
    assert got["views"] == [10] * 8 and got["decoded"] == (120, 160, 3)
    # Eight viewers, one encoder: frames were encoded once each (at most 20 a second while
    # watched), never once per viewer.
    assert got["encoded"] < 8 * 10
    assert "perishield_api_live_frames_read" in got["metrics"]


def test_server_sent_events_carry_new_alarms_verdicts_and_clips(site: dict[str, Any]) -> None:
    store = site["store"]

    async def go() -> list[tuple[str, dict[str, Any]]]:
        got: list[tuple[str, dict[str, Any]]] = []
        async with api(site) as url, client(url) as otto:
            csrf = await login(otto, "otto")
            async with otto.get("/api/v1/stream") as r:
                assert r.headers["Content-Type"] == "text/event-stream"
                await asyncio.sleep(1.2)  # the feed has looked once
                ev = event("gate-1", "wall", datetime.now(UTC))
                ev.clip_status = "pending"
                await asyncio.to_thread(store.insert, ev)
                kind = ""
                async for line in r.content:
                    text = line.decode().rstrip("\n")
                    if text.startswith("event: "):
                        kind = text[7:]
                    elif text.startswith("data: "):
                        got.append((kind, json.loads(text[6:])))
                        if kind == "alarm":
                            await asyncio.to_thread(store.set_clip, ev.id, "ready", "c/x.mp4")
                        elif kind == "clip":
                            async with otto.post(f"/api/v1/events/{ev.id}/ack",
                                                 json={"verdict": "false_alarm"},
                                                 headers={"X-CSRF-Token": csrf}) as a:
                                assert a.status == 200
                        elif kind == "ack":
                            break
        return got

    got = asyncio.run(asyncio.wait_for(go(), 30))
    assert [k for k, _ in got] == ["alarm", "clip", "ack"]
    assert got[0][1]["camera"] == "gate-1" and got[1][1]["clip_status"] == "ready"
    assert got[2][1]["verdict"] == "false_alarm" and got[2][1]["operator"] == "otto"
    # the verdict also waits in the outbox for the platform
    [msg] = [m for m in store.outbox_pending(100) if m.kind.startswith("ack:")]
    assert msg.payload["type"] == "ack" and msg.payload["operator"] == "otto"


def test_site_map_layout_health_figures_and_the_document(site: dict[str, Any]) -> None:
    store = site["store"]
    t0 = datetime.now(UTC) - timedelta(days=1)
    ids = []
    for i in range(3):
        ev = event("gate-1", "wall", t0 + timedelta(minutes=i))
        store.insert(ev)
        ids.append(ev.id)
    store.acknowledge(ids[0], "otto", "false_alarm")
    store.acknowledge(ids[1], "otto", "confirmed")
    _, png = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with api(site) as url, client(url) as admin, client(url) as viewer:
            csrf = await login(admin, "ada")
            await login(viewer, "vera")
            h = {"X-CSRF-Token": csrf}
            async with viewer.get("/api/v1/site/map") as r:
                out["no_map"] = r.status
            async with admin.put("/api/v1/site/map", data=b"<svg onload=alert(1)>",
                                 headers=h) as r:
                out["svg"] = r.status
            async with admin.put("/api/v1/site/map", data=png.tobytes(), headers=h) as r:
                out["png"] = r.status
            async with viewer.get("/api/v1/site/map") as r:
                out["map"] = (r.content_type, len(await r.read()))
            layout = {"cameras": {"gate-1": {"x": 0.2, "y": 0.5, "heading": 90, "fov": 70}}}
            async with viewer.put("/api/v1/site/layout", json=layout) as r:
                out["viewer_layout"] = r.status
            async with admin.put("/api/v1/site/layout", json={"cameras": {
                    "gate-1": {"x": 2, "y": 0}}}, headers=h) as r:
                out["off_map"] = r.status
            async with admin.put("/api/v1/site/layout", json=layout, headers=h) as r:
                out["layout"] = r.status
            async with viewer.get("/api/v1/site/layout") as r:
                out["read_layout"] = await r.json()
            async with viewer.get("/api/v1/site/health") as r:
                out["health"] = await r.json()
            async with viewer.get("/api/v1/stats/false-alarms?days=7") as r:
                out["stats"] = await r.json()
            async with viewer.get("/api/v1/stats/false-alarms?days=0") as r:
                out["bad_days"] = r.status
            async with viewer.get("/api/v1/openapi.json") as r:
                out["doc"] = await r.json()
            async with viewer.get("/ui/../api/auth.py") as r:
                out["ui_traversal"] = r.status
            async with viewer.get("/") as r:
                out["csp"] = r.headers.get("Content-Security-Policy", "")
        return out

    got = asyncio.run(go())
    assert got["no_map"] == 404 and got["svg"] == 400 and got["png"] == 200
    assert got["map"] == ("image/png", len(png))
    assert got["viewer_layout"] == 403 and got["off_map"] == 400 and got["layout"] == 200
    assert got["read_layout"]["cameras"]["gate-1"]["heading"] == 90
    h = got["health"]
    assert h["database"]["ok"] and h["redis"]["ok"] and h["broker"]["ok"]
    [row] = got["stats"]["rows"]
    assert (row["events"], row["confirmed"], row["false_alarms"]) == (3, 1, 1)
    assert got["bad_days"] == 400
    assert got["doc"]["openapi"].startswith("3.1")
    assert "/api/v1/cameras/{id}/rules" in got["doc"]["paths"]
    assert got["ui_traversal"] in (403, 404)
    assert "script-src 'self'" in got["csp"]


def test_health_says_which_service_is_down(site: dict[str, Any]) -> None:
    async def go() -> dict[str, Any]:
        control = Control.connect("redis://127.0.0.1:1/0", site["prefix"], 1.0)  # nothing
        app = create_app(site["store"], site["root"], "k", control,
                         broker_url="amqp://guest:guest@127.0.0.1:1/")
        async with running(app) as url, client(url) as s:
            await login(s, "vera")
            async with s.get("/api/v1/site/health") as r:
                health = await r.json()
            async with s.get("/api/v1/cameras") as r:
                cams = r.status
        return {"health": health, "cameras": cams}

    got = asyncio.run(go())
    assert got["health"]["database"]["ok"]
    assert not got["health"]["redis"]["ok"] and not got["health"]["broker"]["ok"]
    assert got["cameras"] == 503  # never a 500


def test_every_route_refuses_the_anonymous_the_low_role_and_the_csrf_less(
        site: dict[str, Any]) -> None:
    """From the route table itself: a route added later is checked too."""
    def concrete(path: str) -> str:
        return path.replace("{path:.+}", "cam/x.jpg").replace("{id}", "gate-1")

    async def go() -> list[str]:
        wrong = []
        async with api(site) as url, client(url) as anon, client(url) as viewer, \
                client(url) as operator:
            await login(viewer, "vera")
            ocsrf = await login(operator, "otto")
            for r in ROUTES:
                if r.role is None:
                    continue
                path = concrete(r.path)
                async with anon.request(r.method, path, json={}) as got:
                    if got.status != 401:
                        wrong.append(f"{r.method} {path} anonymous: {got.status}")
                if r.role in ("operator", "admin"):
                    async with viewer.request(r.method, path, json={}) as got:
                        if got.status != 403:
                            wrong.append(f"{r.method} {path} viewer: {got.status}")
                if r.method != "GET":  # a browser write without its CSRF token
                    async with operator.request(r.method, path, json={}) as got:
                        if got.status != 403:
                            wrong.append(f"{r.method} {path} no CSRF: {got.status}")
                if r.role == "admin":
                    async with operator.request(r.method, path, json={},
                                                headers={"X-CSRF-Token": ocsrf}) as got:
                        if got.status != 403:
                            wrong.append(f"{r.method} {path} operator: {got.status}")
        return wrong

    assert asyncio.run(go()) == []
