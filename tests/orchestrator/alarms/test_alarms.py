"""Alarms through the real RabbitMQ to local servers speaking the platform's and DingTalk's
protocols."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import aiohttp
import pytest
import sqlalchemy as sa

from orchestrator.alarms.acks import acknowledge
from orchestrator.alarms.delivery import DeliveryWorker
from orchestrator.alarms.relay import OutboxRelay
from orchestrator.alarms.schema import messages_for
from orchestrator.alarms.targets import DingTalkSender, PlatformSender
from orchestrator.config import AlarmConfig
from orchestrator.events.model import Event, new_ulid
from orchestrator.events.store import EventStore, deliveries, outbox
from tests.alarm_peers import Peers

pytestmark = pytest.mark.rabbitmq
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
SECRET = "SECtest0123456789"


def make_event(i: int, camera: str = "north-wall") -> Event:
    at = datetime.now(UTC) - timedelta(seconds=1)
    return Event(id=new_ulid(), camera=camera, rule="wall", rule_kind="line",
                 direction="b_to_a", track_id=i, class_id=0, class_name="person", score=0.87,
                 box=[1, 2, 30, 80], trajectory=[[at.timestamp(), 10.0, 70.0]],
                 video_time=1.0, capture_time=at, detected_at=at, snapshot=f"c/{i}.jpg",
                 clip=f"c/{i}.mp4", clip_status="pending")


@pytest.fixture
def cfg(peers: Peers) -> Iterator[AlarmConfig]:
    tag = uuid.uuid4().hex[:8]
    c = AlarmConfig(amqp_url=AMQP, exchange=f"test.{tag}", queue_prefix=f"test.{tag}",
                    max_attempts=30, retry_delays_s=[0.2, 0.5, 1.0], prefetch=64,
                    platform_url=peers.platform_url, dingtalk_url=peers.dingtalk_url,
                    dingtalk_secret=SECRET, dingtalk_per_minute=60,
                    evidence_secret="k", site={"north-wall": {"x": 10.0, "y": 2.0, "z": 0.0}})
    yield c
    asyncio.run(_delete_topology(c))


async def _delete_topology(c: AlarmConfig) -> None:
    conn = await aio_pika.connect(AMQP)
    async with conn:
        ch = await conn.channel()
        for target in ("platform", "dingtalk"):
            q = f"{c.queue_prefix}.{target}"
            for name in [q, f"{q}.dlq", *(f"{q}.retry.{i}" for i in range(3))]:
                await ch.queue_delete(name)
        await ch.exchange_delete(c.exchange)


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers(SECRET, per_minute=60) as p:
        yield p


async def queued(cfg: AlarmConfig) -> dict[str, int]:
    """Messages waiting in each target's queue (ready or unacknowledged: none once every
    consumer has stopped)."""
    conn = await aio_pika.connect(AMQP)
    async with conn:
        ch = await conn.channel()
        return {t: (await ch.declare_queue(f"{cfg.queue_prefix}.{t}", passive=True)
                    ).declaration_result.message_count for t in ("platform", "dingtalk")}


async def deliver_all(store: EventStore, cfg: AlarmConfig, done: object,
                      timeout: float = 60) -> dict[str, int]:
    async with aiohttp.ClientSession() as session:
        relay = OutboxRelay(store, cfg)
        platform = DeliveryWorker(store, cfg, "platform", PlatformSender(cfg, session))
        ding = DeliveryWorker(store, cfg, "dingtalk", DingTalkSender(cfg, session),
                              batch=100, batch_wait_s=0.5)
        tasks = [asyncio.create_task(x.run()) for x in (relay, platform, ding)]
        t0 = time.monotonic()
        while not done():  # type: ignore[operator]
            assert time.monotonic() - t0 < timeout, "alarms not delivered in time"
            await asyncio.sleep(0.1)
        for x in (relay, platform, ding):
            x.request_stop()
        await asyncio.gather(*tasks)
        return {"retried": platform.retried, "dead": platform.dead}


def test_every_alarm_reaches_both_peers_once_despite_500s(tmp_path: Path, cfg: AlarmConfig,
                                                          peers: Peers) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    n = 200
    for i in range(n):
        ev = make_event(i)
        store.insert(ev, messages=messages_for(ev, cfg, cfg.evidence_secret))
    peers.fail_until = time.monotonic() + 2.0  # the platform answers 500 for 2 s
    counts = asyncio.run(deliver_all(
        store, cfg, lambda: len(peers.platform_requests) == n
        and peers.dingtalk_alarm_count() == n))
    print(f"{n} alarms: platform got {len(peers.platform_requests)} unique, "
          f"{sum(peers.platform_requests.values())} accepted posts, "
          f"{counts['retried']} retries; DingTalk {peers.dingtalk_alarm_count()} alarms in "
          f"{len(peers.dingtalk_messages)} signed messages")
    assert set(peers.platform_requests.values()) == {1}  # none twice in its idempotent view
    assert counts["retried"] > 0 and counts["dead"] == 0
    assert peers.dingtalk_rejected == 0 and len(peers.dingtalk_messages) <= 4
    body = next(iter(peers.platform_bodies.values()))
    assert body["schema_version"] == "1.4" and body["type"] == "alarm"
    assert "point" in body["object"]
    assert body["camera"]["position"] == {"x": 10.0, "y": 2.0, "z": 0.0}
    assert "sig=" in body["evidence"]["snapshot_url"]
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 2 * n
        assert c.execute(sa.select(sa.func.count()).select_from(outbox)
                         .where(outbox.c.published_at.is_(None))).scalar() == 0


def test_dead_letter_after_max_attempts(tmp_path: Path, peers: Peers) -> None:
    tag = uuid.uuid4().hex[:8]
    cfg = AlarmConfig(amqp_url=AMQP, exchange=f"test.{tag}", queue_prefix=f"test.{tag}",
                      max_attempts=3, retry_delays_s=[0.1, 0.2, 0.3],
                      platform_url=peers.platform_url)
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    ev = make_event(1)
    store.insert(ev, messages=messages_for(ev, cfg, ""))
    peers.fail_until = time.monotonic() + 3600

    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            relay = OutboxRelay(store, cfg)
            worker = DeliveryWorker(store, cfg, "platform", PlatformSender(cfg, session))
            tasks = [asyncio.create_task(relay.run()), asyncio.create_task(worker.run())]
            t0 = time.monotonic()
            while worker.dead < 1 and time.monotonic() - t0 < 20:
                await asyncio.sleep(0.05)
            relay.request_stop()
            worker.request_stop()
            await asyncio.gather(*tasks)
        conn = await aio_pika.connect(AMQP)
        async with conn:
            ch = await conn.channel()
            dlq = await ch.declare_queue(f"{cfg.queue_prefix}.platform.dlq", durable=True)
            return dlq.declaration_result.message_count

    try:
        assert asyncio.run(scenario()) == 1
    finally:
        asyncio.run(_delete_topology(cfg))


def test_pipeline_enqueues_alarms_and_clip_follow_ups(tmp_path: Path, stadtmitte: Path) -> None:
    from orchestrator.config import Settings
    from orchestrator.service import Service

    s = Settings.model_validate({
        "cameras": [{"id": "gate", "source": str(stadtmitte), "analysis_fps": 10,
                     "lines": [{"name": "gate", "points": [[320, 200], [320, 460]]}]}],
        "outputs": {"data_dir": str(tmp_path), "pre_roll_s": 1, "post_roll_s": 1},
        "alarms": {"evidence_base_url": "https://site/evidence", "evidence_secret": "k"}})
    service = Service(s)
    asyncio.run(service.run(restart_failed=False))
    store = EventStore(s.outputs.store_url)
    with store.engine.connect() as c:
        rows = c.execute(sa.select(outbox.c.kind, outbox.c.payload)).all()
    alarms = [p for k, p in rows if k == "alarm"]
    ready = [p for k, p in rows if k == "clip_ready"]
    assert len(alarms) == len(ready) == len(service.events) == 2
    assert all(p["evidence"]["clip_url"] is None for p in alarms)  # not cut yet when announced
    assert all(p["evidence"]["clip_url"].startswith("https://site/evidence/gate/") for p in ready)
    assert {p["event_id"] for p in ready} == {e.id for e in service.events}
    acknowledge(store, service.events[0].id, "guard", "false_alarm")
    assert [e.id for e in store.query(status="false_alarm")] == [service.events[0].id]
    assert [e.id for e in store.query(status="unacknowledged")] == [service.events[1].id]


def test_a_copy_published_twice_is_delivered_once(tmp_path: Path, cfg: AlarmConfig,
                                                  peers: Peers) -> None:
    """The relay re-sends rows it could not mark (crash after the confirm): the copies meet in
    one DingTalk batch or arrive after the first was delivered; each alarm goes out once."""
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    for i in range(20):
        ev = make_event(i)
        msgs = messages_for(ev, cfg, "")
        store.insert(ev, messages=msgs + msgs)  # two outbox rows: the same alarm twice
    asyncio.run(deliver_all(store, cfg, lambda: len(peers.platform_requests) == 20
                            and peers.dingtalk_alarm_count() >= 20))
    # Every copy was consumed (none waits in a queue to arrive later) ...
    assert asyncio.run(queued(cfg)) == {"platform": 0, "dingtalk": 0}
    # ... and each alarm went out once.
    assert set(peers.platform_requests.values()) == {1}
    assert peers.dingtalk_alarm_count() == 20 and len(peers.dingtalk_ids()) == 20


def test_no_queue_fills_for_a_target_that_is_not_configured(tmp_path: Path,
                                                             peers: Peers) -> None:
    tag = uuid.uuid4().hex[:8]
    cfg = AlarmConfig(amqp_url=AMQP, exchange=f"test.{tag}", queue_prefix=f"test.{tag}",
                      platform_url=peers.platform_url)  # no DingTalk on this site
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    for i in range(5):
        ev = make_event(i)
        store.insert(ev, messages=messages_for(ev, cfg, cfg.evidence_secret))

    async def run() -> tuple[int, bool]:
        relay = OutboxRelay(store, cfg)
        task = asyncio.create_task(relay.run())
        t0 = time.monotonic()
        while store.outbox_pending(10):
            assert time.monotonic() - t0 < 30, "outbox not published"
            await asyncio.sleep(0.1)
        relay.request_stop()
        await task
        conn = await aio_pika.connect(AMQP)
        async with conn:
            ch = await conn.channel()
            queued = (await ch.declare_queue(f"{cfg.queue_prefix}.platform", passive=True)
                      ).declaration_result.message_count
        conn = await aio_pika.connect(AMQP)
        async with conn:
            ch = await conn.channel()
            try:
                await ch.declare_queue(f"{cfg.queue_prefix}.dingtalk", passive=True)
                exists = True
            except aio_pika.exceptions.ChannelClosed:
                exists = False
        return queued, exists

    try:
        queued, dingtalk_queue = asyncio.run(run())
    finally:
        asyncio.run(_delete_topology(cfg))
    assert queued == 5 and not dingtalk_queue
