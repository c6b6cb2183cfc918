"""Alembic migrations of the event store: the only way its schema is made or changed, on
PostgreSQL and SQLite alike.

``migrate`` runs under a lock (a PostgreSQL advisory lock; a lock file beside a SQLite
database), so workers starting together on an empty database make it once: the first takes
the lock and builds the schema, the others wait and find it at head.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

HERE = Path(__file__).parent
LOCK_KEY = 0x5045_5249  # "PERI": the advisory lock of the store's migrations


def alembic_config(url: str, connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """``perishield db upgrade``: migrate the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        migrate(engine, revision)
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision of the migrations."""
    rev = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert rev is not None
    return rev


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (safe to call from many processes at once)."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    target = script.get_current_head() if revision == "head" else revision
    with _locked(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current == target:
            return
        cfg = alembic_config(engine.url.render_as_string(hide_password=False), conn)
        if current is None:
            adopted = _legacy_revision(conn)
            if adopted is not None:  # made by an earlier version without Alembic
                command.stamp(cfg, adopted)
        command.upgrade(cfg, revision)
        conn.commit()


def _legacy_revision(conn: sa.Connection) -> str | None:
    """The revision a store made before migrations existed is at (by its columns)."""
    inspector = sa.inspect(conn)
    if not inspector.has_table("events"):
        return None
    columns = {c["name"] for c in inspector.get_columns("events")}
    if "point" in columns:
        return "0002"
    if "fence_token" in columns:
        return "0001"
    raise RuntimeError("the event store predates its migrations (events.fence_token is "
                       "missing); export its events and start a new store")


@contextlib.contextmanager
def _locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection holding the migration lock."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        with engine.connect() as conn:
            yield conn
        return
    lock = Path(database).with_name(Path(database).name + ".migrate.lock")
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
