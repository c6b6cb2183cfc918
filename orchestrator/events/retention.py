"""Retention: events older than the retention period go, with their evidence (local files and
objects in S3) and their outbox, delivery and acknowledgement rows; nothing newer is touched."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.events.objectstore import S3Evidence
from orchestrator.events.store import EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cutoff: datetime
    events: int
    files: int
    objects: int = 0


def apply_retention(store: EventStore, evidence_root: Path, keep_days: float,
                    now: datetime | None = None, batch: int = 500,
                    s3: S3Evidence | None = None) -> RetentionReport:
    """Delete what is older than ``keep_days`` (by capture time), in batches."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    n_events = n_files = n_objects = 0
    while rows := store.expire(cutoff, batch):
        n_events += len(rows)
        # After the rows are gone: a crash leaves files, never rows pointing at nothing.
        for rel in (p for row in rows for p in row if p):
            n_files += _remove(evidence_root, rel)
            if s3 is not None:
                try:
                    s3.delete(rel)
                    n_objects += 1
                except Exception as e:  # noqa: BLE001 - the next run deletes it again
                    log.warning("evidence %s not deleted from object storage: %s", rel, e)
    return RetentionReport(cutoff, n_events, n_files, n_objects)


def _remove(root: Path, rel: str) -> bool:
    path = (root / rel).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        return False
    path.unlink()
    return True
