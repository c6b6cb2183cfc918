"""Operators' acknowledgements and false-alarm marks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from orchestrator.events.store import EventStore, acknowledgements, events


class UnknownEvent(ValueError):
    """No such event in the store."""


def acknowledge(store: EventStore, event_id: str, operator: str, verdict: str,
                note: str | None = None) -> None:
    if verdict not in ("confirmed", "false_alarm"):
        raise ValueError(f"verdict must be confirmed or false_alarm, got {verdict!r}")
    with store.engine.begin() as c:
        if c.execute(sa.select(events.c.id).where(events.c.id == event_id)).first() is None:
            raise UnknownEvent(f"no event {event_id!r}")
        c.execute(acknowledgements.insert().values(event_id=event_id, operator=operator,
                                                   verdict=verdict, note=note,
                                                   at=datetime.now(UTC)))


def acknowledgements_of(store: EventStore, event_id: str) -> list[dict[str, Any]]:
    with store.engine.connect() as c:
        rows = c.execute(sa.select(acknowledgements).where(
            acknowledgements.c.event_id == event_id).order_by(acknowledgements.c.id))
        return [dict(r._mapping) for r in rows]
