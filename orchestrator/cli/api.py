"""``perishield api`` (the operators' API) and ``perishield user`` (who may use it)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from orchestrator.cli.common import UsageError, settings_from
from orchestrator.config import Settings

log = logging.getLogger("perishield")


def build_app(settings: Settings) -> Any:
    """The API app over the configuration's store, evidence and control plane."""
    from api import create_app  # noqa: PLC0415
    from api.site import Control  # noqa: PLC0415
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    c = settings.control
    if not settings.alarms.evidence_secret:
        log.warning("alarms.evidence_secret is empty: the evidence links in alarms cannot be "
                    "verified and are refused; set it (the same on every worker)")
    return create_app(EventStore(settings.outputs.store_url), settings.outputs.evidence_dir,
                      settings.alarms.evidence_secret,
                      Control.connect(c.redis_url, c.prefix, c.timeout_s),
                      tell_platform=bool(settings.alarms.platform_url),
                      broker_url=settings.alarms.amqp_url)


async def serve(app: Any, host: str, port: int) -> Any:
    from aiohttp import web  # noqa: PLC0415

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.warning("API on http://%s:%d/api/v1", host, port)
    return runner


def cmd_api(args: argparse.Namespace) -> int:
    from orchestrator.cli.service import run_loop  # noqa: PLC0415

    settings = settings_from(args)
    logging.getLogger("perishield").setLevel(logging.INFO)

    async def main() -> None:
        runner = await serve(build_app(settings), args.host, args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()  # in-flight requests finish, connections close

    run_loop(main)
    return 0


def _password(args: argparse.Namespace, read: Callable[[str], str] = getpass.getpass) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = read("password: ")
    if read("again: ") != first:
        raise UsageError("the passwords differ")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from api.auth import ROLES, hash_password, new_token  # noqa: PLC0415
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    store = EventStore(settings_from(args).outputs.store_url)
    if args.user_command == "token":
        print(new_token(store, args.name, args.label, args.days))
        return 0
    existing = store.user(args.name)
    if args.user_command == "add" and existing is not None:
        raise UsageError(f"user {args.name!r} exists; use `perishield user passwd`")
    if args.user_command == "passwd" and existing is None:
        raise UsageError(f"no user {args.name!r}")
    role = args.role if args.user_command == "add" else existing["role"]  # type: ignore[index]
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}")
    store.put_user(args.name, hash_password(_password(args)), role)
    print(f"{args.name}: {role}")
    return 0


def add_parsers(sub: Any, config_arg: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    a = sub.add_parser("api", help="serve the web UI, the operators' API (/api/v1) and the "
                                   "alarms' evidence links over HTTP",
                       description="The web UI at /, the API under /api/v1 (OpenAPI at "
                                   "/api/v1/openapi.json), signed evidence links at /evidence/ "
                                   "and /metrics; see docs/api.md. Add users with "
                                   "`perishield user add`.")
    config_arg(a, False)
    a.add_argument("--host", default="127.0.0.1", help="address to listen on")
    a.add_argument("--port", type=int, default=8080, help="port to listen on")
    a.set_defaults(func=cmd_api)

    u = sub.add_parser("user", help="users of the API: add, passwd, token")
    usub = u.add_subparsers(dest="user_command", required=True)
    add = usub.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", choices=["viewer", "operator", "admin"], default="viewer")
    pw = usub.add_parser("passwd", help="set a user's password")
    pw.add_argument("name")
    for p in (add, pw):
        p.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of stdin")
    tok = usub.add_parser("token", help="make an API token for a machine (shown once)")
    tok.add_argument("name", help="the user the token acts as (its role applies)")
    tok.add_argument("--label", default="api")
    tok.add_argument("--days", type=float, help="expires after this many days (default never)")
    for p in (add, pw, tok):
        config_arg(p, False)
    u.set_defaults(func=cmd_user)
