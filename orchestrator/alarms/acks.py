"""Operators' acknowledgements and false-alarm marks (kept by the event store; with a platform
configured, each verdict also goes to it through the outbox, in the same transaction)."""

from __future__ import annotations

from typing import Any

from orchestrator.alarms.schema import ack_messages
from orchestrator.events.store import EventStore, UnknownEvent

__all__ = ["UnknownEvent", "acknowledge", "acknowledgements_of"]


def acknowledge(store: EventStore, event_id: str, operator: str, verdict: str,
                note: str | None = None, tell_platform: bool = False) -> dict[str, Any]:
    """Record a verdict (``confirmed`` or ``false_alarm``); ``tell_platform``: queue an
    ``ack`` message for the 3D platform."""
    return store.acknowledge(event_id, operator, verdict, note,
                             ack_messages if tell_platform else None)


def acknowledgements_of(store: EventStore, event_id: str) -> list[dict[str, Any]]:
    return store.acknowledgements(event_id)
