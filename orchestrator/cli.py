"""The ``perishield`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.config import ConfigError, LineConfig, Settings, ZoneConfig, load_settings
from orchestrator.detect import DetectorError
from orchestrator.events.model import Event
from orchestrator.ingest import SourceError
from orchestrator.paths import MissingAssetError
from orchestrator.triton.server import TritonServerError

log = logging.getLogger("perishield")

EXIT_CONFIG, EXIT_ASSET, EXIT_SOURCE = 2, 3, 4


class UsageError(Exception):
    """Bad command-line input."""


def _points(text: str) -> list[tuple[float, float]]:
    try:
        pts = [tuple(float(v) for v in p.split(",")) for p in text.split(";") if p.strip()]
    except ValueError:
        raise UsageError(f"points must look like 'x,y;x,y;...', got {text!r}") from None
    if any(len(p) != 2 for p in pts):
        raise UsageError(f"every point needs x and y, got {text!r}")
    return pts  # type: ignore[return-value]


def parse_zone(text: str) -> ZoneConfig:
    """``NAME:x,y;x,y;x,y[:DWELL_S]``"""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"--zone expects NAME:x,y;x,y;x,y[:DWELL_S], got {text!r}")
    doc: dict[str, Any] = {"name": parts[0], "points": _points(parts[1])}
    if len(parts) == 3:
        doc["min_dwell_s"] = parts[2]
    return _validated(ZoneConfig, doc, "--zone", text)


def parse_line(text: str) -> LineConfig:
    """``NAME:x,y;x,y[;...][:a_to_b|b_to_a|any]``"""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"--line expects NAME:x,y;x,y[:a_to_b|b_to_a|any], got {text!r}")
    doc: dict[str, Any] = {"name": parts[0], "points": _points(parts[1])}
    if len(parts) == 3:
        doc["direction"] = parts[2]
    return _validated(LineConfig, doc, "--line", text)


def _validated(model: Any, doc: dict[str, Any], flag: str, text: str) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: "
                             f"{x['msg'].removeprefix('Value error, ')}" for x in e.errors())
        raise UsageError(f"{flag} {text!r}: {problems}") from None


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if getattr(args, "data_dir", None):
        settings.outputs.data_dir = Path(args.data_dir)
    return settings


def _print_table(rows: list[list[str]], header: list[str], out: Any = sys.stdout) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*header), file=out)
    print(fmt.format(*("-" * w for w in widths)), file=out)
    for r in rows:
        print(fmt.format(*r), file=out)


def _event_rows(events: list[Event]) -> list[list[str]]:
    return [[e.id, e.camera, e.rule, e.direction or "", str(e.track_id), e.class_name,
             f"{e.score:.2f}", f"{e.video_time:.2f}", e.capture_time.strftime("%H:%M:%S"),
             e.clip_status] for e in events]


EVENT_HEADER = ["id", "camera", "rule", "direction", "track", "class", "score", "video_s",
                "time_utc", "clip"]


# -- commands ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.service import Service  # noqa: PLC0415

    settings = _settings(args)
    if not [c for c in settings.cameras if c.enabled]:
        raise ConfigError(f"{args.config}: no enabled camera to run")

    async def main() -> None:
        from orchestrator.metrics import registry_for, start_metrics_server  # noqa: PLC0415

        service = Service(settings, triton_metrics_url=args.triton_metrics_url or None)
        runner = None
        if args.metrics_port:
            runner = await start_metrics_server(registry_for(service), args.metrics_port)
        task = asyncio.create_task(service.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            log.info("stopped")
        finally:
            if runner:
                await runner.cleanup()

    asyncio.run(main())
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from orchestrator.evaluation.harness import single_camera  # noqa: PLC0415
    from orchestrator.service import Service  # noqa: PLC0415

    settings, cam = single_camera(_settings(args), args.video, camera_id=args.camera)
    if args.zone or args.line:
        cam = cam.model_copy(update={
            "zones": [*cam.zones, *(parse_zone(z) for z in args.zone or [])],
            "lines": [*cam.lines, *(parse_line(ln) for ln in args.line or [])]})
        cam = type(cam).model_validate(cam.model_dump())
    if args.fps:
        cam = cam.model_copy(update={"analysis_fps": args.fps})
    settings = settings.model_copy(update={"cameras": [cam]})
    if not cam.zones and not cam.lines:
        print("perishield: warning: no zones or lines configured; no event can fire",
              file=sys.stderr)
    root = settings.outputs.evidence_dir.resolve()
    done: list[Event] = []

    def on_evidence(ev: Event) -> None:
        done.append(ev)
        if args.json:
            print(json.dumps(ev.to_json(root)), flush=True)

    bar = _progress(args.video, disable=args.json or args.quiet)
    service = Service(settings, on_evidence=on_evidence,
                      on_frame=lambda _c, f, _d: bar.update(f.index + 1 - bar.n))
    try:
        stats = asyncio.run(service.run(restart_failed=False))[cam.id]
    finally:
        bar.close()
    if stats.state == "failed":
        raise SourceError(stats.reason)
    if not args.json:
        done.sort(key=lambda e: e.video_time)
        print(f"{len(done)} event(s) in {args.video} ({stats.frames_analysed} frames analysed "
              f"of {stats.frames_decoded})")
        if done:
            _print_table(_event_rows(done), EVENT_HEADER)
        print(f"evidence: {root}")
        print(f"events db: {settings.outputs.store_url}")
    return 0


def _progress(video: str, disable: bool) -> Any:
    from tqdm import tqdm  # noqa: PLC0415

    total = None
    try:
        import av  # noqa: PLC0415

        with av.open(video) as c:
            total = c.streams.video[0].frames or None
    except Exception:  # noqa: BLE001 - the source itself reports real errors
        pass
    return tqdm(total=total, unit="frame", desc=Path(video).name, disable=disable,
                file=sys.stderr)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"expected an ISO time like 2026-11-25T08:00:00, got {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def cmd_events(args: argparse.Namespace) -> int:
    from orchestrator.events.store import EventStore  # noqa: PLC0415

    settings = _settings(args)
    store = EventStore(settings.outputs.store_url)
    events = store.query(camera=args.camera, rule=args.rule, class_name=args.class_name,
                         since=_when(args.since), until=_when(args.until), limit=args.limit)
    root = settings.outputs.evidence_dir.resolve()
    if args.json:
        for e in events:
            print(json.dumps(e.to_json(root)))
    else:
        _print_table(_event_rows(events), EVENT_HEADER)
        print(f"{len(events)} event(s) from {settings.outputs.store_url}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from orchestrator.evaluation.harness import evaluate  # noqa: PLC0415

    report = evaluate(_settings(args), args.video, args.gt, args.tolerance, args.camera)
    if args.json:
        print(json.dumps(report))
        return 0
    t = report["tracking"]
    print(f"{args.video}: {report['analysed_frames']} frames, {report['video_seconds']} s")
    print(f"events   true {report['true_events']}  predicted {report['predicted_events']}  "
          f"TP {report['true_positives']}  FP {report['false_positives']}  "
          f"FN {report['false_negatives']}")
    print(f"         precision {report['precision']:.3f}  recall {report['recall']:.3f}  "
          f"F1 {report['f1']:.3f}  false alarms/h {report['false_alarms_per_hour']:.1f}")
    print(f"delay    mean {report['alarm_delay_mean_s']} s  max {report['alarm_delay_max_s']} s")
    print(f"tracking MOTA {t['mota']:.3f}  IDF1 {t['idf1']:.3f}  ID switches "
          f"{int(t['num_switches'])}  FP {int(t['num_false_positives'])}  "
          f"misses {int(t['num_misses'])}")
    return 0


def cmd_triton(args: argparse.Namespace) -> int:
    from orchestrator.triton.repository import build_repository  # noqa: PLC0415
    from orchestrator.triton.server import TritonServer  # noqa: PLC0415

    if args.triton_command == "build":
        for path in build_repository(model=args.model):
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
    config_arg(r, True)
    r.add_argument("--metrics-port", type=int, default=0,
                   help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (0 = off)")
    r.add_argument("--triton-metrics-url", default="http://127.0.0.1:8002/metrics",
                   help="Triton's metrics endpoint, read when detector.backend is triton")
    r.set_defaults(func=cmd_run)

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
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_events)

    v = sub.add_parser("eval", help="score events and tracks against MOT ground truth")
    v.add_argument("video")
    v.add_argument("--gt", required=True, help="MOT-format ground truth (frame,id,x,y,w,h,...)")
    config_arg(v, True)
    v.add_argument("--camera", help="the camera whose rules are judged (default first)")
    v.add_argument("--tolerance", type=float, default=1.0,
                   help="seconds between a true and a detected event that still match")
    v.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    v.set_defaults(func=cmd_eval)

    t = sub.add_parser("triton", help="the Triton model repository and a local server")
    tsub = t.add_subparsers(dest="triton_command", required=True)
    tb = tsub.add_parser("build", help="write the generated models into model_repository/")
    tb.add_argument("--model", help="source ONNX (default yolox_nano.onnx from shared/models)")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return int(args.func(args))
    except (ConfigError, UsageError, ValueError) as e:
        print(f"perishield: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except (MissingAssetError, DetectorError) as e:
        print(f"perishield: error: {e}", file=sys.stderr)
        return EXIT_ASSET
    except (SourceError, TritonServerError, RuntimeError) as e:
        print(f"perishield: error: {e}", file=sys.stderr)
        return EXIT_SOURCE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
