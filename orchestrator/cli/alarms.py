"""Alarm delivery commands: relay, deliver, ack."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from typing import Any

from orchestrator.cli.common import UsageError, settings_from


def cmd_relay(args: argparse.Namespace) -> int:
    from orchestrator.alarms.relay import OutboxRelay  # noqa: PLC0415
    from orchestrator.cli.service import run_loop  # noqa: PLC0415
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    settings = settings_from(args)

    async def main() -> None:
        relay = OutboxRelay(EventStore(settings.outputs.store_url), settings.alarms)
        _on_signals(relay.request_stop)
        await relay.run()

    run_loop(main)
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    import aiohttp  # noqa: PLC0415

    from orchestrator.alarms.delivery import DeliveryWorker  # noqa: PLC0415
    from orchestrator.alarms.targets import DingTalkSender, PlatformSender  # noqa: PLC0415
    from orchestrator.cli.service import run_loop  # noqa: PLC0415
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    settings = settings_from(args)
    cfg = settings.alarms

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            store = EventStore(settings.outputs.store_url)
            if args.target == "platform":
                worker = DeliveryWorker(store, cfg, "platform", PlatformSender(cfg, session))
            else:
                worker = DeliveryWorker(store, cfg, "dingtalk", DingTalkSender(cfg, session),
                                        batch=args.batch, batch_wait_s=1.0)
            _on_signals(worker.request_stop)
            await worker.run()

    try:
        run_loop(main)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from orchestrator.alarms.acks import acknowledge  # noqa: PLC0415
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    settings = settings_from(args)
    store = EventStore(settings.outputs.store_url, create=False)
    verdict = "false_alarm" if args.false_alarm else "confirmed"
    acknowledge(store, args.event_id, args.operator, verdict, args.note,
                tell_platform=bool(settings.alarms.platform_url))
    print(f"{args.event_id}: {verdict} by {args.operator}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from orchestrator.events.retention import apply_retention  # noqa: PLC0415
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    s = settings_from(args)
    days = args.days or s.outputs.retention_days
    s3 = None
    if s.outputs.s3 is not None:
        from orchestrator.events.objectstore import S3Evidence  # noqa: PLC0415

        s3 = S3Evidence(s.outputs.s3)
    report = apply_retention(EventStore(s.outputs.store_url, create=False),
                             s.outputs.evidence_dir, days,
                             s3=s3)
    print(f"deleted {report.events} event(s) captured before {report.cutoff.isoformat()}, "
          f"{report.files} evidence file(s)"
          + (f" and {report.objects} object(s) in S3" if s3 is not None else ""))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from orchestrator.migrations import upgrade  # noqa: PLC0415

    url = settings_from(args).outputs.store_url
    upgrade(url)
    print(f"event store schema up to date: {url.split('@')[-1]}")
    return 0


def _on_signals(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


def add_parsers(sub: Any, config_arg: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    r = sub.add_parser("relay", help="publish the outbox to RabbitMQ (publisher confirms)")
    config_arg(r, False)
    r.set_defaults(func=cmd_relay)
    d = sub.add_parser("deliver", help="deliver alarms to the 3D platform or DingTalk")
    d.add_argument("target", choices=["platform", "dingtalk"])
    d.add_argument("--batch", type=int, default=50, help="alarms per DingTalk message")
    config_arg(d, False)
    d.set_defaults(func=cmd_deliver)
    a = sub.add_parser("ack", help="acknowledge an event, or mark it a false alarm")
    a.add_argument("event_id")
    a.add_argument("--operator", required=True)
    a.add_argument("--false-alarm", action="store_true")
    a.add_argument("--note")
    config_arg(a, False)
    a.set_defaults(func=cmd_ack)
    t = sub.add_parser("retention", help="delete events (and evidence) past the retention")
    t.add_argument("--days", type=float, help="override outputs.retention_days")
    config_arg(t, False)
    t.set_defaults(func=cmd_retention)
    db = sub.add_parser("db", help="event store schema (Alembic)")
    db.add_argument("action", choices=["upgrade"], help="migrate to the newest schema")
    config_arg(db, False)
    db.set_defaults(func=cmd_db)
