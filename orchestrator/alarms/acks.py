"""Operators' acknowledgements and false-alarm marks (kept by the event store)."""

from __future__ import annotations

from typing import Any

from orchestrator.events.store import EventStore, UnknownEvent

__all__ = ["UnknownEvent", "acknowledge", "acknowledgements_of"]


def acknowledge(store: EventStore, event_id: str, operator: str, verdict: str,
                note: str | None = None) -> None:
    store.acknowledge(event_id, operator, verdict, note)


def acknowledgements_of(store: EventStore, event_id: str) -> list[dict[str, Any]]:
    return store.acknowledgements(event_id)
