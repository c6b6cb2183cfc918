"""Commands on recorded video and the event store: analyze, events, eval."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.cli.common import (
    EVENT_HEADER,
    EXIT_SOURCE,
    UsageError,
    event_rows,
    parse_line,
    parse_zone,
    print_table,
    settings_from,
    validated,
)
from orchestrator.events.model import Event
from orchestrator.ingest import SourceError


def cmd_analyze(args: argparse.Namespace) -> int:
    from orchestrator.evaluation.harness import single_camera  # noqa: PLC0415
    from orchestrator.service import Service  # noqa: PLC0415

    settings, cam = single_camera(settings_from(args), args.video, camera_id=args.camera)
    if args.zone or args.line:
        cam = cam.model_copy(update={
            "zones": [*cam.zones, *(parse_zone(z) for z in args.zone or [])],
            "lines": [*cam.lines, *(parse_line(ln) for ln in args.line or [])]})
        cam = type(cam).model_validate(cam.model_dump())
    if args.fps is not None:  # the configuration's bounds apply to the flag too
        cam = validated(type(cam), {**cam.model_dump(), "analysis_fps": args.fps}, "--fps",
                        str(args.fps))
    settings = settings.model_copy(update={"cameras": [cam]})
    expected = _probe(cam.source)  # an unreadable video fails here, before any store exists
    db = _sqlite_file(settings.outputs.store_url)
    had_store = db is not None and db.exists()
    if not cam.zones and not cam.lines and not cam.climbs:
        print("perishield: warning: no zones, lines or climbs configured; no event can fire",
              file=sys.stderr)
    root = settings.outputs.evidence_dir.resolve()
    done: list[Event] = []
    reader = [True]  # whoever reads our stdout is still there

    def on_evidence(ev: Event) -> None:
        done.append(ev)
        if args.json and reader[0]:
            try:
                print(json.dumps(ev.to_json(root)), flush=True)
            except BrokenPipeError:
                # The reader went away (`| head -1`): the analysis goes on to its end, so every
                # event keeps its clip; nothing more is printed.
                reader[0] = False
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    bar = _progress(args.video, expected, disable=args.json or args.quiet)
    service = Service(settings, on_evidence=on_evidence,
                      on_frame=lambda _c, f, _d: bar.update(f.index + 1 - bar.n))
    try:
        stats = asyncio.run(service.run(restart_failed=False))[cam.id]
    finally:
        bar.close()
        if not done and not had_store and db is not None:
            _remove_store(db)  # a run that recorded nothing leaves no empty store behind
    if stats.state == "failed":
        raise SourceError(stats.reason)
    short = expected is not None and stats.frames_decoded < 0.98 * expected - 2
    if not args.json and reader[0]:
        done.sort(key=lambda e: e.video_time)
        print(f"{len(done)} event(s) in {args.video} ({stats.frames_analysed} frames analysed "
              f"of {stats.frames_decoded})")
        if done:
            print_table(event_rows(done), EVENT_HEADER)
        print(f"evidence: {root}")
        print(f"events db: {settings.outputs.store_url}")
    if short:
        print(f"perishield: error: {args.video}: decoding ended after {stats.frames_decoded} of "
              f"the {expected} frames its index lists ({stats.last_video_time:.1f} s): the file "
              "is truncated or damaged; events after that point are missing", file=sys.stderr)
        return EXIT_SOURCE
    return 0


def _probe(source: str) -> int | None:
    """Open the video once (a missing, unreadable or non-video file fails here with its
    reason); returns the number of frames its index lists, if it lists them."""
    if source.startswith(("rtsp://", "rtsps://")):
        return None
    from orchestrator.ingest.source import open_container  # noqa: PLC0415

    container = open_container(source)
    try:
        return int(container.streams.video[0].frames) or None
    finally:
        container.close()


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    name = url.removeprefix("sqlite:///")
    return None if name in ("", ":memory:") else Path(name)


def _remove_store(db: Path) -> None:
    for f in (db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", ".migrate.lock"))):
        f.unlink(missing_ok=True)


def _progress(video: str, total: int | None, disable: bool) -> Any:
    from tqdm import tqdm  # noqa: PLC0415

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

    settings = settings_from(args)
    store = EventStore(settings.outputs.store_url, create=False)
    events = store.query(camera=args.camera, rule=args.rule, class_name=args.class_name,
                         since=_when(args.since), until=_when(args.until), limit=args.limit,
                         status=args.status)
    root = settings.outputs.evidence_dir.resolve()
    if args.json:
        for e in events:
            print(json.dumps(e.to_json(root)))
    else:
        print_table(event_rows(events), EVENT_HEADER)
        print(f"{len(events)} event(s) from {settings.outputs.store_url}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from orchestrator.evaluation.harness import evaluate  # noqa: PLC0415

    report = evaluate(settings_from(args), args.video, args.gt, args.tol, args.camera,
                      args.max_dist)
    if args.json:
        print(json.dumps(report))
        return 0
    t, c = report["tracking"], report["chance"]
    print(f"{args.video}: {report['analysed_frames']} frames, {report['video_seconds']} s; "
          f"matched within {args.tol} s and {args.max_dist} px")
    print(f"events: {report['true_events']} true ({report['dont_care_events']} don't-care), "
          f"{report['predicted_events']} predicted")
    rows = [[name, *_score_cells(r)] for name, r in report["rules"].items()]
    rows.append(["all", *_score_cells(report)])
    print_table(rows, ["rule", "TP", "FP", "FN", "precision", "recall", "F1", "FA/h",
                       "delay p50", "delay p95"])
    print(f"chance (same events at random times): precision {c['precision']:.3f}  "
          f"recall {c['recall']:.3f}")
    print(f"tracking MOTA {t['mota']:.3f}  IDF1 {t['idf1']:.3f}  ID switches "
          f"{int(t['num_switches'])}  FP {int(t['num_false_positives'])}  "
          f"misses {int(t['num_misses'])}")
    return 0


def _score_cells(r: dict[str, Any]) -> list[str]:
    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    return [str(r["tp"]), str(r["fp"]), str(r["fn"]), f"{r['precision']:.3f}",
            f"{r['recall']:.3f}", f"{r['f1']:.3f}", f"{r['false_alarms_per_hour']:.0f}",
            s(r["delay_median_s"]), s(r["delay_p95_s"])]
