"""The RabbitMQ side shared by the relay and the delivery workers: topology and a connection
supervisor that reconnects with backoff after any broker fault."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika

from orchestrator.config import AlarmConfig

log = logging.getLogger(__name__)

# Targets and the message kinds each one takes.
TARGETS: dict[str, tuple[str, ...]] = {"platform": ("alarm", "clip_ready", "clip_failed", "ack"),
                                       "dingtalk": ("alarm",)}


def configured_targets(cfg: AlarmConfig) -> list[str]:
    """The targets this site delivers to: those with an address. A queue for a target nobody
    consumes would only fill."""
    urls = {"platform": cfg.platform_url, "dingtalk": cfg.dingtalk_url}
    return [t for t in TARGETS if urls[t]]


async def declare_topology(channel: Any, cfg: AlarmConfig, also: str | None = None) -> Any:
    """The exchange, each configured target's queue (and ``also``, a consumer's own) with its
    retry queues and DLQ, and the bindings.

    Declared by the relay as well as by the consumers, so no message is published before its
    queues exist (it would be dropped as unroutable)."""
    exchange = await channel.declare_exchange(cfg.exchange, aio_pika.ExchangeType.TOPIC,
                                              durable=True)
    targets = configured_targets(cfg)
    if also is not None and also not in targets:
        targets.append(also)
    for target, kinds in ((t, TARGETS[t]) for t in targets):
        name = f"{cfg.queue_prefix}.{target}"
        queue = await channel.declare_queue(name, durable=True)
        for kind in kinds:
            await queue.bind(exchange, routing_key=f"{kind}.#")
        for i, wait in enumerate(cfg.retry_delays_s):
            # Quorum queues with at-least-once dead-lettering: a message whose wait ends while
            # the broker stops is not lost on its way back (classic dead-lettering may drop it).
            await channel.declare_queue(f"{name}.retry.{i}", durable=True, arguments={
                "x-queue-type": "quorum", "x-message-ttl": int(wait * 1000),
                "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name,
                "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
        await channel.declare_queue(f"{name}.dlq", durable=True)
    return exchange


async def run_connected(url: str, stop: asyncio.Event, name: str,
                        session: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``session(channel)`` on a confirming channel until ``stop``; reconnect with
    exponential backoff (0.5 s doubling to 10 s) whenever the broker goes away."""
    delay = 0.5
    while not stop.is_set():
        try:
            connection = await aio_pika.connect(url, timeout=5)
            async with connection:
                channel = await connection.channel(publisher_confirms=True)
                delay = 0.5
                await session(channel)
        except Exception as e:  # noqa: BLE001 - any broker fault: reconnect, resume
            log.warning("%s: broker unavailable (%s); retrying in %.1f s", name, e, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)
