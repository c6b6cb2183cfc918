"""Commands of the running service: run, fetch-clip."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from orchestrator.cli.common import EXIT_SOURCE, UsageError, choose_allocator, settings_from
from orchestrator.config import ConfigError

log = logging.getLogger("perishield")


def run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run on uvloop when it is installed (the service default), else asyncio's loop."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(main())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.metrics import registry_for, start_metrics_server  # noqa: PLC0415
    from orchestrator.service import Service  # noqa: PLC0415

    settings = settings_from(args)
    if not [c for c in settings.cameras if c.enabled]:
        where = args.config or "the environment (PERISHIELD_CAMERAS)"
        raise ConfigError(f"{where}: no enabled camera to run")
    choose_allocator(settings)
    ended: list[str] = []

    async def main() -> None:
        service = Service(settings, triton_metrics_url=args.triton_metrics_url or None)
        runner = api = None
        if args.metrics_port:
            runner = await start_metrics_server(registry_for(service), args.metrics_port,
                                                args.metrics_host)
        live = None
        if args.api:
            from orchestrator.cli.api import build_app, serve  # noqa: PLC0415
            from orchestrator.control.redis_client import Keys, connect  # noqa: PLC0415
            from orchestrator.live import LiveFrames, chain_frames  # noqa: PLC0415

            api = await serve(build_app(settings), "127.0.0.1", args.api_port)
            # The live view of this process's cameras goes through Redis, as from workers.
            c = settings.control
            live = LiveFrames(connect(c.redis_url, c.timeout_s, binary=True), Keys(c.prefix),
                              service.cameras.get)
            service.on_frame = chain_frames(service.on_frame, live.on_frame)
            live_task = asyncio.create_task(live.run())
        task = asyncio.create_task(service.run())
        relay = None
        if args.relay:  # publish the outbox from this process too
            from orchestrator.alarms.relay import OutboxRelay  # noqa: PLC0415
            from orchestrator.events.store import EventStore  # noqa: PLC0415

            relay = OutboxRelay(EventStore(settings.outputs.store_url), settings.alarms)
            relay_task = asyncio.create_task(relay.run())
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await asyncio.wait([task, asyncio.create_task(stopping.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # Stop intake, let cameras finish their frame, record events, flush clips.
                log.warning("stopping: finishing in-flight events and clips (up to %.0f s)",
                            args.stop_deadline)
                service.request_stop()
                try:
                    await asyncio.wait_for(asyncio.shield(task), args.stop_deadline)
                except TimeoutError:
                    log.error("stop deadline passed; cancelling what is left")
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            else:
                # Every camera ended by itself: file cameras at their end, or failed ones.
                for cid, st in task.result().items():
                    ended.append(f"{cid}: {st.state} ({st.reason or 'no reason given'}), "
                                 f"{st.frames_analysed} frames analysed, {st.events} events")
        finally:
            if relay is not None:
                relay.request_stop()
                await relay_task
            if runner:
                await runner.cleanup()
            if api:
                await api.cleanup()
            if live is not None:
                live_task.cancel()
                await live.r.aclose()

    run_loop(main)
    if ended:
        log.warning("every camera has ended; nothing left to run:\n  %s", "\n  ".join(ended))
        return EXIT_SOURCE if any(": failed" in e for e in ended) else 0
    return 0


def cmd_fetch_clip(args: argparse.Namespace) -> int:
    """Fetch an event's clip from its camera's recorder (NVR playback) into the evidence."""
    from orchestrator.events.recorder import EventRecorder  # noqa: PLC0415
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    settings = settings_from(args)
    store = EventStore(settings.outputs.store_url)
    event = store.get(args.event_id)
    if event is None:
        raise UsageError(f"no event {args.event_id!r} in {settings.outputs.store_url}")
    camera = next((c for c in settings.cameras if c.id == event.camera), None)
    if camera is None or camera.nvr is None:
        raise ConfigError(f"camera {event.camera!r} has no nvr section in the configuration")
    recorder = EventRecorder(camera, settings.outputs, store, ring=None)
    clip = event.clip or f"{event.camera}/{event.capture_time:%Y-%m-%d}/{event.id}.mp4"
    path = settings.outputs.evidence_dir / clip
    if not asyncio.run(recorder.fetch_from_recorder(event, path)):
        raise ConfigError(f"event {event.id}: the recorder gave no clip (see the log)")
    store.set_clip(event.id, "ready", clip)
    print(path.resolve())
    return 0
