"""Control-plane commands: params, status, worker, control."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from orchestrator.cli.common import UsageError, choose_allocator, print_table
from orchestrator.config import ControlConfig, Settings, load_settings, read_yaml


def control_settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config) if args.config else load_settings()
    update: dict[str, Any] = {}
    if args.redis:
        update["redis_url"] = args.redis
    if args.prefix:
        update["prefix"] = args.prefix
    if getattr(args, "capacity", None):
        update["capacity"] = args.capacity
    if update:
        control = ControlConfig.model_validate({**settings.control.model_dump(), **update})
        settings = settings.model_copy(update={"control": control})
    if getattr(args, "data_dir", None):
        settings.outputs.data_dir = Path(args.data_dir)
    return settings


def _with_redis(args: argparse.Namespace,
                body: Callable[[Any, Any, Settings], Awaitable[int]]) -> int:
    from orchestrator.control.redis_client import Keys, connect  # noqa: PLC0415

    settings = control_settings(args)

    async def main() -> int:
        r = connect(settings.control.redis_url, settings.control.timeout_s)
        try:
            return await body(r, Keys(settings.control.prefix), settings)
        finally:
            await r.aclose()

    return asyncio.run(main())


def cmd_params(args: argparse.Namespace) -> int:
    from orchestrator.control.params import (  # noqa: PLC0415
        MAX_DOC_BYTES,
        ParamCenter,
        VersionedCamera,
    )

    async def body(r: Any, keys: Any, settings: Settings) -> int:
        pc = ParamCenter(r, keys)
        if args.params_command == "put":
            doc = read_yaml(args.file, "camera document", 4 * MAX_DOC_BYTES)
            if not isinstance(doc, dict):
                raise UsageError(f"{args.file}: expected one camera document (a mapping)")
            print(f"{doc.get('id')}: version {await pc.put(doc, args.version)}")
        elif args.params_command == "get":
            got = await pc.get(args.camera)
            if got is None:
                raise UsageError(f"no parameters for camera {args.camera!r}")
            print(json.dumps({"version": got.version,
                              "camera": got.camera.model_dump(mode="json")}, indent=2))
        elif args.params_command == "list":
            rows = [[v.camera.id, str(v.version), str(v.camera.enabled), v.camera.source,
                     *(str(len(rules)) for rules in (v.camera.zones, v.camera.lines,
                                                     v.camera.routes, v.camera.climbs))]
                    if isinstance(v, VersionedCamera) else
                    [v.camera, str(v.version), "INVALID", str(v)[:60], "", "", "", ""]
                    for v in await pc.list()]
            print_table(rows, ["camera", "version", "enabled", "source", "zones", "lines",
                               "routes", "climbs"])
        elif args.params_command == "delete":
            await pc.delete(args.camera)
        else:  # import
            for cam, version in (await pc.import_settings(load_settings(args.file))).items():
                print(f"{cam}: version {version}")
        return 0

    return _with_redis(args, body)


def cmd_status(args: argparse.Namespace) -> int:
    from orchestrator.control.status import read_status  # noqa: PLC0415

    async def body(r: Any, keys: Any, _: Settings) -> int:
        st = await read_status(r, keys)
        if args.json:
            print(json.dumps({"workers": st.workers, "cameras": st.cameras,
                              "leases": st.leases}))
            return 0
        now = time.time()
        print_table([[w, i.get("host", ""), i.get("cameras", ""), i.get("capacity", ""),
                      "draining" if i.get("draining") == "1" else "running",
                      f"{now - float(i.get('heartbeat', now)):.1f}s ago"]
                     for w, i in st.workers.items()],
                    ["worker", "host", "cameras", "capacity", "state", "heartbeat"])
        print()
        print_table([[c, st.leases.get(c, "-"), s.get("state", "unleased"), s.get("fps", ""),
                      s.get("lag_p50_ms", ""), s.get("lag_p99_ms", ""),
                      s.get("blind_s", ""), s.get("mode", ""), s.get("params_version", ""),
                      s.get("events", ""), s.get("errors", "")[:40]]
                     for c, s in st.cameras.items()],
                    ["camera", "leased by", "state", "fps", "lag p50", "lag p99", "blind s",
                     "mode", "params", "events", "last error"])
        return 0

    return _with_redis(args, body)


def cmd_control(args: argparse.Namespace) -> int:
    async def body(r: Any, keys: Any, _: Settings) -> int:
        if args.action in ("pause", "resume"):
            if args.action == "pause":
                await r.sadd(keys.paused, args.target)
            else:
                await r.srem(keys.paused, args.target)
            msg = {"cmd": args.action, "camera": args.target}
        else:
            msg = {"cmd": args.action, "worker": args.target}
        receivers = await r.publish(keys.control, json.dumps(msg))
        print(f"{args.action} {args.target}: sent to {receivers} worker(s)")
        return 0

    return _with_redis(args, body)


def cmd_worker(args: argparse.Namespace) -> int:
    from orchestrator.cli.service import run_loop  # noqa: PLC0415
    from orchestrator.control.worker import Worker  # noqa: PLC0415

    settings = control_settings(args)
    choose_allocator(settings)
    logging.getLogger("orchestrator").setLevel(logging.INFO)  # leases and changes are news

    async def main() -> None:
        from orchestrator.metrics import registry_for, start_metrics_server  # noqa: PLC0415

        worker = Worker(settings, args.id)
        runner = None
        if args.metrics_port:
            runner = await start_metrics_server(registry_for(worker.service, worker),
                                                args.metrics_port, args.metrics_host)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.request_stop)
        try:
            await worker.run()
        finally:
            if runner is not None:
                await runner.cleanup()

    run_loop(main)
    return 0


def add_parsers(sub: Any, config_arg: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    def redis_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", help="YAML configuration (its control section)")
        p.add_argument("--redis", help="Redis URL (default control.redis_url)")
        p.add_argument("--prefix", help="key prefix of the site (default control.prefix)")

    p = sub.add_parser("params", help="the parameter center in Redis")
    psub = p.add_subparsers(dest="params_command", required=True)
    put = psub.add_parser("put", help="store one camera document (YAML or JSON file)")
    put.add_argument("file")
    put.add_argument("--version", type=int, help="refuse unless the current version is this")
    get = psub.add_parser("get", help="print a camera's document and version")
    get.add_argument("camera")
    psub.add_parser("list", help="every camera's version")
    delete = psub.add_parser("delete", help="remove a camera")
    delete.add_argument("camera")
    imp = psub.add_parser("import", help="store every camera of a YAML configuration")
    imp.add_argument("file")
    for sp in (put, get, delete, imp, psub.choices["list"]):
        redis_args(sp)
    p.set_defaults(func=cmd_params)

    s = sub.add_parser("status", help="every worker and camera of the site")
    redis_args(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    w = sub.add_parser("worker", help="run an orchestrator that leases cameras from Redis")
    redis_args(w)
    w.add_argument("--id", help="worker id (default host-pid)")
    w.add_argument("--capacity", type=int, help="cameras this worker may run")
    w.add_argument("--data-dir", help="override outputs.data_dir")
    w.add_argument("--metrics-port", type=int, default=0,
                   help="serve Prometheus metrics on HOST:PORT/metrics (0 = off)")
    w.add_argument("--metrics-host", default="127.0.0.1",
                   help="address the metrics listen on (0.0.0.0 in a container)")
    w.set_defaults(func=cmd_worker)

    c = sub.add_parser("control", help="pause/resume a camera, drain/undrain a worker")
    redis_args(c)
    c.add_argument("action", choices=["pause", "resume", "drain", "undrain"])
    c.add_argument("target", help="camera id (pause/resume) or worker id, * for all (drain)")
    c.set_defaults(func=cmd_control)
