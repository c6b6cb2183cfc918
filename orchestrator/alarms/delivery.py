"""Delivery workers: RabbitMQ consumers that hand alarms to a peer and ack only after it
accepted them.

Topology per target (declared once at start): a durable queue ``<prefix>.<target>`` bound to the
alarm exchange; retry queues ``<prefix>.<target>.retry.<n>`` whose messages wait
``retry_delays_s[n]`` and then dead-letter back into the main queue; ``<prefix>.<target>.dlq``
after ``max_attempts``. Consumers use manual acks and a prefetch bound, and skip what the
``deliveries`` table says was delivered already (idempotent by event id and kind).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika

from orchestrator.alarms.broker import TARGETS, declare_topology, run_connected
from orchestrator.config import AlarmConfig
from orchestrator.events.store import EventStore

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The peer did not accept the message (retried later)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    event_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int


Sender = Callable[[list[Alarm]], Awaitable[None]]


def delivered(store: EventStore, event_id: str, kind: str, target: str) -> bool:
    return store.delivered(event_id, kind, target)


def record_delivered(store: EventStore, alarms: list[Alarm], target: str) -> None:
    store.record_delivered([(a.event_id, a.kind, a.attempts) for a in alarms], target)


class DeliveryWorker:
    """Consumes one target's queue and calls ``sender`` with batches of alarms.

    ``batch`` > 1 gathers up to that many messages (waiting at most ``batch_wait_s``) into one
    call: DingTalk's robot takes 20 messages a minute, so many alarms go into one message.
    """

    def __init__(self, store: EventStore, cfg: AlarmConfig, target: str, sender: Sender,
                 batch: int = 1, batch_wait_s: float = 0.0) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown delivery target {target!r}; known: {sorted(TARGETS)}")
        self.store = store
        self.cfg = cfg
        self.target = target
        self.sender = sender
        self.batch = batch
        self.batch_wait_s = batch_wait_s
        self.queue = f"{cfg.queue_prefix}.{target}"
        self.delivered = 0
        self.retried = 0
        self.dead = 0
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        await run_connected(self.cfg.amqp_url, self._stop, self.target, self._session)

    async def _session(self, channel: Any) -> None:
        # Unacked messages of a lost channel come back from the broker; what was delivered
        # already is skipped by id.
        await channel.set_qos(prefetch_count=max(self.cfg.prefetch, self.batch))
        await self._consume(channel, await self.declare(channel))

    async def declare(self, channel: Any) -> Any:
        await declare_topology(channel, self.cfg, self.target)
        return await channel.get_queue(self.queue)

    async def _consume(self, channel: Any, queue: Any) -> None:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        tag = await queue.consume(inbox.put, no_ack=False)
        try:
            pending: list[Any] = []
            while not self._stop.is_set():
                if channel.is_closed:
                    raise aio_pika.exceptions.ChannelClosed(None, "channel closed")
                try:
                    timeout = self.batch_wait_s if pending else 0.5
                    pending.append(await asyncio.wait_for(inbox.get(), timeout))
                    if len(pending) < self.batch:
                        continue
                except TimeoutError:
                    if not pending:
                        continue
                await self._handle(channel, pending)
                pending = []
        finally:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)

    async def _handle(self, channel: Any, messages: list[Any]) -> None:
        todo: list[tuple[Any, Alarm]] = []
        seen: set[tuple[str, str]] = set()
        for m in messages:
            alarm = Alarm(str(m.headers.get("event_id")), str(m.headers.get("kind")),
                          json.loads(m.body), int(m.headers.get("x-attempts", 0)) + 1)
            key = (alarm.event_id, alarm.kind)
            # A copy re-sent by the relay (after a crash) may sit in the same batch, or may
            # already be with the peer: either way it is acked without being sent again.
            if key in seen or await asyncio.to_thread(delivered, self.store, alarm.event_id,
                                                      alarm.kind, self.target):
                await m.ack()
            else:
                seen.add(key)
                todo.append((m, alarm))
        if not todo:
            return
        alarms = [a for _, a in todo]
        try:
            await self.sender(alarms)
        except DeliveryError as e:
            log.warning("%s: %d alarm(s) not accepted: %s", self.target, len(alarms), e)
            for m, a in todo:
                await self._retry_later(channel, m, a)
            return
        await asyncio.to_thread(record_delivered, self.store, alarms, self.target)
        for m, _ in todo:
            await m.ack()
        self.delivered += len(todo)

    async def _retry_later(self, channel: Any, m: Any, a: Alarm) -> None:
        headers = {**m.headers, "x-attempts": a.attempts}
        if a.attempts >= self.cfg.max_attempts:
            target, self.dead = f"{self.queue}.dlq", self.dead + 1
        else:
            i = min(a.attempts - 1, len(self.cfg.retry_delays_s) - 1)
            target, self.retried = f"{self.queue}.retry.{i}", self.retried + 1
        await channel.default_exchange.publish(
            aio_pika.Message(m.body, content_type=m.content_type, headers=headers,
                             message_id=m.message_id,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=target)
        await m.ack()  # only after the broker confirmed the copy
