"""A stand-in orchestrator for the alarm fault test: records N events (with their outbox rows)
at a fixed rate and runs the outbox relay; restartable, it continues where it stopped.

    python -m tests.alarm_producer CONFIG N RATE     (from the project root)
"""

from __future__ import annotations

import asyncio
import sys
import time

import sqlalchemy as sa

from orchestrator.alarms.relay import OutboxRelay
from orchestrator.alarms.schema import messages_for
from orchestrator.config import load_settings
from orchestrator.events.store import EventStore, events
from tests.orchestrator.alarms.test_alarms import make_event


async def main(config: str, total: int, rate: float) -> None:
    settings = load_settings(config)
    store = EventStore(settings.outputs.store_url)
    with store.engine.connect() as c:
        done = c.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0
    relay = OutboxRelay(store, settings.alarms)
    task = asyncio.create_task(relay.run())
    t0 = time.monotonic()
    for k, i in enumerate(range(done, total)):
        ev = make_event(i)
        ev.capture_time = ev.detected_at = ev.capture_time.now(ev.capture_time.tzinfo)
        await asyncio.to_thread(store.insert, ev, None,
                                messages_for(ev, settings.alarms, ""))
        await asyncio.sleep(max(0.0, t0 + (k + 1) / rate - time.monotonic()))
    while True:  # keep relaying until killed
        await asyncio.sleep(1)
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
