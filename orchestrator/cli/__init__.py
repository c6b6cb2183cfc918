"""The ``perishield`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from redis.exceptions import RedisError

from orchestrator.cli.alarms import add_parsers as add_alarm_parsers
from orchestrator.cli.analysis import cmd_analyze, cmd_eval, cmd_events
from orchestrator.cli.api import add_parsers as add_api_parsers
from orchestrator.cli.common import EXIT_ASSET, EXIT_CONFIG, EXIT_SOURCE, UsageError
from orchestrator.cli.control import add_parsers as add_control_parsers
from orchestrator.cli.service import cmd_fetch_clip, cmd_run
from orchestrator.cli.triton import cmd_triton
from orchestrator.config import ConfigError
from orchestrator.control.params import InvalidParameters, StaleVersion
from orchestrator.control.redis_client import ControlPlaneError
from orchestrator.detect import DetectorError
from orchestrator.events.store import StoreError
from orchestrator.ingest import SourceError
from orchestrator.paths import MissingAssetError
from orchestrator.triton.server import TritonServerError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perishield",
        description="Perimeter-intrusion video analytics: detect, track, judge zones and "
                    "tripwire lines, record evidence-backed events.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    def config_arg(sp: argparse.ArgumentParser, required: bool) -> None:
        sp.add_argument("-c", "--config", required=required,
                        help="YAML configuration (see examples/ and docs/configuration.md)")
        sp.add_argument("--data-dir", help="override outputs.data_dir (events.db, evidence/)")

    r = sub.add_parser("run", help="run the service on every enabled camera until stopped")
    config_arg(r, False)
    r.add_argument("--metrics-port", type=int, default=0,
                   help="serve Prometheus metrics on HOST:PORT/metrics (0 = off)")
    r.add_argument("--metrics-host", default="127.0.0.1",
                   help="address the metrics listen on (0.0.0.0 in a container)")
    r.add_argument("--triton-metrics-url", default="http://127.0.0.1:8002/metrics",
                   help="Triton's metrics endpoint, read when detector.backend is triton")
    r.add_argument("--relay", action="store_true",
                   help="also publish the alarm outbox to RabbitMQ from this process")
    r.add_argument("--api", action="store_true",
                   help="also serve the operators' API from this process (see perishield api)")
    r.add_argument("--api-port", type=int, default=8080)
    r.add_argument("--stop-deadline", type=float, default=10.0,
                   help="seconds SIGTERM waits for in-flight events and clips (default 10)")
    r.set_defaults(func=cmd_run)

    f = sub.add_parser("fetch-clip", help="fetch an event's clip from its camera's recorder")
    f.add_argument("event_id")
    config_arg(f, True)
    f.set_defaults(func=cmd_fetch_clip)

    a = sub.add_parser("analyze", help="analyse one video file and list its events")
    a.add_argument("video", help="video file (or rtsp:// URL)")
    config_arg(a, False)
    a.add_argument("--camera", help="take the rules of this camera of the config (default first)")
    a.add_argument("--zone", action="append", metavar="NAME:x,y;x,y;x,y[:DWELL_S]",
                   help="add a polygon zone (repeatable)")
    a.add_argument("--line", action="append", metavar="NAME:x,y;x,y[:DIRECTION]",
                   help="add a tripwire line or polyline; DIRECTION a_to_b, b_to_a or any")
    a.add_argument("--fps", type=float, help="analysis frames per second")
    a.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_analyze)

    e = sub.add_parser("events", help="query the event store")
    config_arg(e, False)
    e.add_argument("--camera")
    e.add_argument("--rule")
    e.add_argument("--class", dest="class_name")
    e.add_argument("--since", help="ISO time (UTC unless it says otherwise)")
    e.add_argument("--until", help="ISO time (UTC unless it says otherwise)")
    e.add_argument("--limit", type=int, default=50)
    e.add_argument("--status", choices=["unacknowledged", "confirmed", "false_alarm"])
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_events)

    v = sub.add_parser("eval", help="score events and tracks against MOT ground truth")
    v.add_argument("video")
    v.add_argument("--gt", required=True, help="MOT-format ground truth (frame,id,x,y,w,h,...)")
    config_arg(v, True)
    v.add_argument("--camera", help="the camera whose rules are judged (default first)")
    v.add_argument("--tol", "--tolerance", type=float, default=0.5, dest="tol",
                   help="seconds between the true act and an event's time that still match "
                   "(default 0.5)")
    v.add_argument("--max-dist", type=float, default=40.0,
                   help="pixels between the true anchor and an event's point that still match "
                   "(default 40)")
    v.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    v.set_defaults(func=cmd_eval)

    t = sub.add_parser("triton", help="the Triton model repository and a local server")
    tsub = t.add_subparsers(dest="triton_command", required=True)
    tb = tsub.add_parser("build", help="write the generated models into model_repository/")
    tb.add_argument("--model", help="source ONNX (default yolox_nano.onnx from shared/models)")
    tb.add_argument("--onnx-instances", choices=("gpu", "cpu"), default="gpu",
                    help="where yolox_nano_onnx (ONNX Runtime) runs: gpu as shipped, or cpu "
                         "for a server without a GPU (NGC's image, a CPU node)")
    ts = tsub.add_parser("serve", help="run the bundled tritonserver on the CPU models "
                                       "(builds its venv on first use) until Ctrl-C")
    ts.add_argument("--grpc-port", type=int, default=8001)
    ts.add_argument("--http-port", type=int, default=8000)
    ts.add_argument("--metrics-port", type=int, default=8002)
    tt = tsub.add_parser("stats", help="queue/compute time and batch sizes of a served model")
    tt.add_argument("--url", default="127.0.0.1:8001", help="Triton gRPC host:port")
    tt.add_argument("--model-name", default="yolox_nano_cpu")
    tt.add_argument("--metrics-url", default="http://127.0.0.1:8002/metrics",
                    help="Triton's Prometheus endpoint ('' to skip)")
    t.set_defaults(func=cmd_triton)
    add_control_parsers(sub, config_arg)
    add_alarm_parsers(sub, config_arg)
    add_api_parsers(sub, config_arg)
    return p


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one exit code per fault
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return int(args.func(args))
    except (ConfigError, UsageError, ValueError) as e:
        print(f"perishield: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except (InvalidParameters, StaleVersion) as e:
        print(f"perishield: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except (ControlPlaneError, RedisError) as e:
        print(f"perishield: error: Redis: {e}", file=sys.stderr)
        return EXIT_SOURCE
    except (MissingAssetError, DetectorError) as e:
        print(f"perishield: error: {e}", file=sys.stderr)
        return EXIT_ASSET
    except (SourceError, TritonServerError, StoreError, RuntimeError) as e:
        print(f"perishield: error: {e}", file=sys.stderr)
        return EXIT_SOURCE
    except KeyboardInterrupt:
        return 130
