"""The outbox relay: publishes committed outbox rows to RabbitMQ with publisher confirms.

A row is marked published only after the broker confirmed it; rows of a round that failed (broker
down or restarting, relay killed) stay unpublished and are sent again, so delivery is at least
once and the consumers are idempotent by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aio_pika

from orchestrator.alarms.broker import declare_topology, run_connected
from orchestrator.config import AlarmConfig
from orchestrator.events.store import EventStore

log = logging.getLogger(__name__)


def pending(store: EventStore, limit: int) -> list[Any]:
    return store.outbox_pending(limit)


def mark_published(store: EventStore, ids: list[int]) -> None:
    store.mark_published(ids)


class OutboxRelay:
    """Polls the outbox and publishes what is pending; reconnects with backoff."""

    def __init__(self, store: EventStore, cfg: AlarmConfig, idle_s: float = 0.05) -> None:
        self.store = store
        self.cfg = cfg
        self.idle_s = idle_s
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        await run_connected(self.cfg.amqp_url, self._stop, "relay", self._session)

    async def _session(self, channel: Any) -> None:
        await self._pump(await declare_topology(channel, self.cfg))

    async def _pump(self, exchange: Any) -> None:
        while not self._stop.is_set():
            rows = await asyncio.to_thread(pending, self.store, self.cfg.relay_batch)
            if not rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.idle_s)
                continue
            # Confirms arrive concurrently; a failure fails the round, nothing is marked.
            await asyncio.gather(*(exchange.publish(_message(r), routing_key=r.routing_key,
                                                    mandatory=True, timeout=10) for r in rows))
            await asyncio.to_thread(mark_published, self.store, [r.id for r in rows])


def _message(row: Any) -> aio_pika.Message:
    return aio_pika.Message(json.dumps(row.payload).encode(), content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=f"{row.event_id}:{row.kind}",
                            headers={"event_id": row.event_id, "kind": row.kind})
