from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from api import create_app
from orchestrator.events.model import Event, new_ulid
from orchestrator.events.store import EventStore
from orchestrator.migrations import head


def event(camera: str, rule: str, at: datetime) -> Event:
    return Event(id=new_ulid(at.timestamp()), camera=camera, rule=rule, rule_kind="line",
                 direction="a_to_b", track_id=3, class_id=0, class_name="person", score=0.8,
                 box=[1, 2, 3, 4], trajectory=[[at.timestamp(), 1.0, 2.0]], video_time=1.5,
                 capture_time=at, detected_at=at + timedelta(milliseconds=80),
                 snapshot="c/x.jpg", clip="c/x.mp4")


def test_query_by_camera_rule_and_time(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'db' / 'events.db'}")
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    for i in range(6):
        store.insert(event("north" if i % 2 else "south", "wall" if i < 3 else "gate",
                           t0 + timedelta(minutes=i)))
    assert len(store.query()) == 6
    assert [e.camera for e in store.query(camera="north")] == ["north"] * 3
    got = store.query(since=t0 + timedelta(minutes=2), until=t0 + timedelta(minutes=4))
    assert [e.capture_time.minute for e in got] == [3, 2]  # newest first
    e = store.query(rule="gate", limit=1)[0]
    assert e.capture_time == t0 + timedelta(minutes=5) and e.trajectory[0][1] == 1.0
    store.set_clip(e.id, "ready", "c/y.mp4")
    assert store.get(e.id).clip == "c/y.mp4"  # type: ignore[union-attr]


def test_ulids_sort_by_time() -> None:
    ids = [new_ulid(1_700_000_000 + i) for i in range(5)]
    assert ids == sorted(ids) and all(len(i) == 26 for i in ids)


def test_evidence_is_served_only_signed_and_inside_the_root(tmp_path: Path) -> None:
    from orchestrator.alarms.schema import evidence_url
    from orchestrator.config import AlarmConfig

    root = tmp_path / "evidence"
    (root / "cam" / "2026-11-25").mkdir(parents=True)
    (root / "cam" / "2026-11-25" / "E1.jpg").write_bytes(b"\xff\xd8jpeg")
    (tmp_path / "secret.txt").write_text("not evidence")
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")

    async def scenario() -> dict[str, int | bytes]:
        runner = web.AppRunner(create_app(store, root, "k"))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        cfg = AlarmConfig(evidence_base_url=f"http://127.0.0.1:{port}/evidence")
        good = evidence_url(cfg, "cam/2026-11-25/E1.jpg", "k")
        expired = evidence_url(cfg, "cam/2026-11-25/E1.jpg", "k", now=0)
        out: dict[str, int | bytes] = {}
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(good) as r:  # type: ignore[arg-type]
                    out["good"], out["body"] = r.status, await r.read()
                async with s.get(expired) as r:  # type: ignore[arg-type]
                    out["expired"] = r.status
                async with s.get(f"http://127.0.0.1:{port}/evidence/cam/2026-11-25/E1.jpg"
                                 ) as r:
                    out["unsigned"] = r.status
                for i, path in enumerate(["../secret.txt", "cam/../../secret.txt",
                                          "%2e%2e/secret.txt", "..%2fsecret.txt"]):
                    bad = evidence_url(cfg, path, "k")
                    async with s.get(bad) as r:  # type: ignore[arg-type]
                        out[f"traversal{i}"] = r.status
                        assert b"not evidence" not in await r.read()
        finally:
            await runner.cleanup()
        return out

    got = asyncio.run(scenario())
    assert got["good"] == 200 and got["body"] == b"\xff\xd8jpeg"
    assert got["expired"] == 403 and got["unsigned"] == 403
    assert all(got[f"traversal{i}"] in (403, 404) for i in range(4))


def test_retention_deletes_old_rows_and_files_and_nothing_newer(tmp_path: Path) -> None:
    from orchestrator.alarms.acks import acknowledge
    from orchestrator.cli import main
    from orchestrator.events.store import acknowledgements, outbox

    root = tmp_path / "evidence"
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    now = datetime.now(UTC)
    kept, gone = [], []
    for days in (400, 200, 190, 100, 1):
        ev = event("north", "wall", now - timedelta(days=days))
        ev.snapshot, ev.clip = f"north/{ev.id}.jpg", f"north/{ev.id}.mp4"
        for rel in (ev.snapshot, ev.clip):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"x")
        store.insert(ev, messages=[("alarm", "alarm.north", {"id": ev.id})])
        acknowledge(store, ev.id, "guard", "confirmed")
        (gone if days > 183 else kept).append(ev)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"outputs:\n  data_dir: {tmp_path}\n")
    assert main(["retention", "-c", str(cfg)]) == 0
    assert {e.id for e in store.query(limit=100)} == {e.id for e in kept}
    for e in gone:
        assert not (root / e.snapshot).exists() and not (root / e.clip).exists()  # type: ignore[operator]
    for e in kept:
        assert (root / e.snapshot).exists() and (root / e.clip).exists()  # type: ignore[operator]
    with store.engine.connect() as c:
        for table in (outbox, acknowledgements):
            left = {r.event_id for r in c.execute(sa.select(table.c.event_id))}
            assert left == {e.id for e in kept}


def test_processes_opening_a_new_sqlite_store_together(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    for done in start_together(url, 4):
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "events.db") as c:
        assert c.execute("select version_num from alembic_version").fetchall() == [(head(),)]


def start_together(url: str, n: int = 3) -> list[subprocess.CompletedProcess[str]]:
    """``n`` processes opening the store at the same moment (as workers starting together)."""
    go = time.time() + 1.5  # past every interpreter's start-up
    code = ("import sys, time; from orchestrator.events.store import EventStore; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); EventStore(sys.argv[1])")
    procs = [subprocess.Popen([sys.executable, "-c", code, url, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    return [subprocess.CompletedProcess(p.args, p.wait(60), *p.communicate()) for p in procs]


def test_only_the_store_and_its_migrations_touch_the_database() -> None:
    # One adapter owns the tables: no other module of the product imports SQLAlchemy.
    root = Path(__file__).parents[3]
    allowed = {"orchestrator/events/store.py", "orchestrator/migrations"}
    offenders = [str(p.relative_to(root)) for d in ("orchestrator", "api", "trackers")
                 for p in (root / d).rglob("*.py")
                 if re.search(r"^\s*(import sqlalchemy|from sqlalchemy)", p.read_text(), re.M)
                 and not any(str(p.relative_to(root)).startswith(a) for a in allowed)]
    assert offenders == []
