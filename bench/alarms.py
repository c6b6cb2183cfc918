"""Alarm delivery: throughput and latency from frame capture to the 3D platform's receipt.

Events are recorded at a fixed rate (event row + outbox row in one transaction, as the
orchestrator does), the outbox relay publishes them to the real RabbitMQ with confirms, the
platform delivery worker POSTs them to a local HTTP platform, which notes when each arrived.

    .venv/bin/python bench/alarms.py [RATE] [SECONDS] [sqlite|postgres]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parents[1]))
from orchestrator.alarms.delivery import DeliveryWorker
from orchestrator.alarms.relay import OutboxRelay
from orchestrator.alarms.schema import messages_for
from orchestrator.config import AlarmConfig
from orchestrator.events.store import EventStore
from tests.alarm_peers import Peers
from tests.orchestrator.alarms.test_alarms import make_event

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


async def run(store: EventStore, cfg: AlarmConfig, peers: Peers, rate: float,
              seconds: float) -> tuple[int, float]:
    n = int(rate * seconds)
    async with aiohttp.ClientSession() as session:
        from orchestrator.alarms.targets import PlatformSender

        relay = OutboxRelay(store, cfg, idle_s=0.005)
        worker = DeliveryWorker(store, cfg, "platform", PlatformSender(cfg, session))
        tasks = [asyncio.create_task(relay.run()), asyncio.create_task(worker.run())]
        await asyncio.sleep(1.0)  # topology declared, connections up
        t0 = time.monotonic()
        for k in range(n):
            ev = make_event(k)
            ev.capture_time = ev.detected_at = datetime.now(UTC)
            await asyncio.to_thread(store.insert, ev, None, messages_for(ev, cfg, ""))
            await asyncio.sleep(max(0.0, t0 + (k + 1) / rate - time.monotonic()))
        while len(peers.platform_requests) < n and time.monotonic() - t0 < seconds + 60:
            await asyncio.sleep(0.05)
        wall = time.monotonic() - t0
        relay.request_stop()
        worker.request_stop()
        await asyncio.gather(*tasks)
    return n, wall


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 100.0
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    backend = sys.argv[3] if len(sys.argv) > 3 else "sqlite"
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp, Peers("x") as peers:
        if backend == "postgres":
            name = f"perishield_bench_{tag}"
            admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        else:
            url = f"sqlite:///{tmp}/events.db"
        store = EventStore(url)
        cfg = AlarmConfig(exchange=f"bench.{tag}", queue_prefix=f"bench.{tag}",
                          platform_url=peers.platform_url, prefetch=256)
        n, wall = asyncio.run(run(store, cfg, peers, rate, seconds))
        lat = np.array([peers.platform_received_at[k] - datetime.fromisoformat(
            peers.platform_bodies[k]["captured_at"]).timestamp()
            for k in peers.platform_requests]) * 1000
        store.close()
        if backend == "postgres":
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    print(f"{backend}: {n} alarms offered at {rate:.0f}/s for {seconds:.0f} s: "
          f"{len(lat)} delivered, {len(lat) / wall:.1f} alarms/s end to end")
    print(f"capture → platform receipt: p50 {np.percentile(lat, 50):.1f} ms  "
          f"p99 {np.percentile(lat, 99):.1f} ms  max {lat.max():.1f} ms")


if __name__ == "__main__":
    main()
