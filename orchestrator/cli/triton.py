"""``perishield triton``: the model repository, a local server, statistics."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

from orchestrator.cli.common import EXIT_SOURCE


def cmd_triton(args: argparse.Namespace) -> int:
    from orchestrator.triton.repository import build_repository  # noqa: PLC0415
    from orchestrator.triton.server import TritonServer  # noqa: PLC0415

    if args.triton_command == "build":
        for path in build_repository(model=args.model, onnx_instances=args.onnx_instances):
            print(path)
        return 0
    if args.triton_command == "stats":
        return _triton_stats(args)
    server = TritonServer(grpc_port=args.grpc_port, http_port=args.http_port,
                          metrics_port=args.metrics_port)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"tritonserver ready: gRPC {server.grpc_url}, metrics {server.metrics_url}, "
          f"models {', '.join(server.models)} (log {server.log_path}); Ctrl-C stops it",
          flush=True)
    try:
        while not stop and server.running:
            time.sleep(0.2)
    finally:
        server.stop()
    return 0 if stop else EXIT_SOURCE


def _triton_stats(args: argparse.Namespace) -> int:
    from orchestrator.config import DetectorConfig, TritonConfig  # noqa: PLC0415
    from orchestrator.triton.client import TritonDetector  # noqa: PLC0415
    from orchestrator.triton.metrics import scrape  # noqa: PLC0415

    async def main() -> dict[str, Any]:
        det = TritonDetector(DetectorConfig(backend="triton", triton=TritonConfig(
            url=args.url, model=args.model_name)))
        await det.start()
        try:
            return await det.statistics()
        finally:
            await det.aclose()

    stats = asyncio.run(main())
    if args.metrics_url:
        stats["metrics"] = scrape(args.metrics_url, args.model_name)
    print(json.dumps(stats, indent=2))
    return 0
