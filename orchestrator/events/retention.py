"""Retention: events older than the retention period go, with their evidence files and their
outbox, delivery and acknowledgement rows; nothing newer is touched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from orchestrator.events.store import EventStore, acknowledgements, deliveries, events, outbox


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cutoff: datetime
    events: int
    files: int


def apply_retention(store: EventStore, evidence_root: Path, keep_days: float,
                    now: datetime | None = None, batch: int = 500) -> RetentionReport:
    """Delete what is older than ``keep_days`` (by capture time), in batches."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    n_events = n_files = 0
    while True:
        with store.engine.begin() as c:
            rows = c.execute(sa.select(events.c.id, events.c.snapshot_path, events.c.clip_path)
                             .where(events.c.capture_time < cutoff).limit(batch)).all()
            if not rows:
                break
            ids = [r.id for r in rows]
            for table in (outbox, deliveries, acknowledgements):
                c.execute(table.delete().where(table.c.event_id.in_(ids)))
            c.execute(events.delete().where(events.c.id.in_(ids)))
        n_events += len(rows)
        for r in rows:  # after the rows are gone: a crash leaves files, never dangling rows
            for rel in (r.snapshot_path, r.clip_path):
                if rel and _remove(evidence_root, rel):
                    n_files += 1
    return RetentionReport(cutoff, n_events, n_files)


def _remove(root: Path, rel: str) -> bool:
    path = (root / rel).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        return False
    path.unlink()
    return True
