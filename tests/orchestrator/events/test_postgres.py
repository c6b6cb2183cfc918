"""The event store on the real PostgreSQL: migrations, fencing, outbox, queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from orchestrator.events.store import EventStore, StaleFenceError, outbox
from orchestrator.migrations import alembic_config, head, upgrade
from tests.orchestrator.events.test_store import event, start_together

pytestmark = pytest.mark.postgres
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"perishield_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_build_the_schema_the_code_expects(pg_url: str) -> None:
    upgrade(pg_url)
    command.check(alembic_config(pg_url))  # no difference between the models and the DB


def test_store_on_postgres(pg_url: str) -> None:
    upgrade(pg_url)
    store = EventStore(pg_url)
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    ids = []
    for i in range(4):
        ev = event("north" if i % 2 else "south", "wall", t0 + timedelta(minutes=i))
        store.insert(ev, fence=5, messages=[("alarm", f"alarm.{ev.camera}", {"id": ev.id})])
        ids.append(ev.id)
    assert [e.capture_time for e in store.query(camera="north")] == [
        t0 + timedelta(minutes=3), t0 + timedelta(minutes=1)]
    store.advance_fence("north", 9)
    with pytest.raises(StaleFenceError, match="lease token 5 is stale"):
        store.insert(event("north", "wall", t0), fence=5)
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 4
    # A claim of many at once: the stale one is refused alone, the others are recorded.
    refused = store.advance_fences({"north": 7, "south": 6, "east": 1})
    assert list(refused) == ["north"] and "lease token 7 is stale (newest 9)" in str(
        refused["north"])
    store.insert(event("south", "wall", t0), fence=6)
    with pytest.raises(StaleFenceError, match="lease token 5 is stale"):
        store.insert(event("south", "wall", t0), fence=5)
    with pytest.raises(StaleFenceError, match="lease token 0 is stale"):
        store.insert(event("east", "wall", t0), fence=0)
    store.close()


def test_workers_starting_together_on_an_empty_database(pg_url: str) -> None:
    for done in start_together(pg_url, 4):
        assert done.returncode == 0, done.stderr
    engine = sa.create_engine(pg_url)
    with engine.connect() as c:
        assert c.execute(sa.text("select version_num from alembic_version")).scalar() == head()
    engine.dispose()
    command.check(alembic_config(pg_url))


def test_a_store_made_before_migrations_is_adopted(pg_url: str) -> None:
    upgrade(pg_url, "0001")  # the schema as create_all made it then, without Alembic's table
    engine = sa.create_engine(pg_url)
    with engine.begin() as c:
        c.execute(sa.text("drop table alembic_version"))
    engine.dispose()
    store = EventStore(pg_url)
    store.insert(event("north", "wall", datetime(2026, 11, 1, tzinfo=UTC)))
    assert len(store.query(camera="north")) == 1  # written and read with today's columns
    store.close()
    command.check(alembic_config(pg_url))


def test_api_queries_on_postgres_are_checked_not_500s(pg_url: str) -> None:
    # PostgreSQL refuses NUL in text and a negative LIMIT: the API refuses them first.
    import asyncio

    import aiohttp
    from aiohttp import web

    from api import create_app
    from api.auth import hash_password
    from orchestrator.triton.server import free_port

    store = EventStore(pg_url)
    store.put_user("vera", hash_password("correct horse"), "viewer")

    async def go() -> list[int]:
        runner = web.AppRunner(create_app(store))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        out = []
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}",
                                             cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                async with s.post("/api/v1/login",
                                  json={"name": "vera", "password": "correct horse"}) as r:
                    out.append(r.status)
                for params in ({"camera": "\x00"}, {"limit": "-1"},
                               {"limit": "-99999999999999"}, {"camera": "north"}):
                    async with s.get("/api/v1/events", params=params) as r:
                        out.append(r.status)
        finally:
            await runner.cleanup()
        return out

    assert asyncio.run(go()) == [200, 400, 400, 400, 200]
    store.close()
