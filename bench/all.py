"""Run the per-frame benches one after the other and keep their figures.

    .venv/bin/python bench/all.py [--quick]

Runs bench/tracking.py, bench/decode.py, bench/service_load.py, bench/e2e.py, bench/triton.py
(it starts its own tritonserver), bench/graph_nms.py and bench/alarm_latency.py (PostgreSQL and
RabbitMQ on this machine), each interleaving its own rounds and reporting medians and ranges;
writes every figure to bench/results/latest.json with the date and the machine, and prints the
summary table of bench/README.md. ``--quick`` runs fewer rounds (a smoke run, not figures to
quote); ``--only tracking,decode`` runs some of them and keeps the others' last figures in
latest.json. The soak and web-load benches run for tens of minutes on a whole site: run them
on their own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import alarm_latency  # noqa: E402
import decode  # noqa: E402
import e2e  # noqa: E402
import graph_nms  # noqa: E402
import service_load  # noqa: E402
import tracking  # noqa: E402
import triton  # noqa: E402
from figures import median_range  # noqa: E402

BENCHES = ("tracking", "decode", "service_load", "e2e", "triton", "graph_nms",
           "alarm_latency")


def table(res: dict) -> str:
    mr = median_range
    rows = ["| measure | median (range) | includes |", "|---|---|---|"]
    for name, r in res.get("tracking", {}).get("rows", {}).items():
        rows.append(f"| tracking + rules, {name}: ms per camera-frame | {mr(r['ours_ms'])} "
                    f"(Roboflow pair {mr(r['theirs_ms'])}, {r['speedup']:.1f}×) | tracker "
                    "and rules update, one process; no detection |")
    for n, ms in res.get("tracking", {}).get("batched", {}).items():
        rows.append(f"| tracking batched across {n}, 5 objects each: ms per camera-frame | "
                    f"tracker {mr(ms['tracker, batched'])} (one by one "
                    f"{mr(ms['tracker, one by one'])}); with each camera's perimeter rules "
                    f"{mr(ms['tracker + rules, batched'])} (one by one "
                    f"{mr(ms['tracker + rules, one by one'])}) | ByteTrackBatch vs a ByteTrack "
                    "per camera; rules in one RuleBatch vs each camera's engine |")
    for codec, r in res.get("decode", {}).items():
        ms = r["cpu_ms_per_decoded_frame"]
        ff = statistics.median(ms["ffmpeg -threads 1 (-benchmark)"])
        for side in ("VideoSource, 5 fps + detector input",
                     "VideoSource, every frame + detector input"):
            rows.append(f"| decode {codec}, {side}: CPU ms per decoded frame | {mr(ms[side])} "
                        f"({statistics.median(ms[side]) / ff:.2f}× ffmpeg -threads 1) | ingest "
                        "thread, packet ring, hand-over, 416×416 input of analysed frames |")
    for case, r in res.get("e2e", {}).items():
        rows.append(f"| end to end, demo video, {case}: analysed frames/s; × real time; CPU ms "
                    f"per analysed frame | {mr(r['analysed_per_s'], '.1f')}; "
                    f"{mr(r['x_real_time'], '.1f')}; {mr(r['cpu_ms_per_analysed_frame'], '.1f')}"
                    " | decode, YOLOX-Nano (ONNX Runtime), tracking, rules, evidence, SQLite |")
    for cams, sides in res.get("triton", {}).items():
        base = statistics.median(sides["onnxruntime in-process"]["cpu_ms_per_frame"])
        for side, r in sides.items():
            rows.append(f"| detector {side}, {cams}: frames/s; CPU ms per frame (client + "
                        f"server); p99 ms | {mr(r['fps'], '.1f')}; "
                        f"{mr(r['cpu_ms_per_frame'], '.2f')} "
                        f"({statistics.median(r['cpu_ms_per_frame']) / base:.2f}× in-process); "
                        f"{mr(r['p99_ms'], '.1f')} | batcher, letterbox, transfer, the same "
                        "graph, YOLOX decode + NMS; frames decoded up front |")
    for batch, sides in res.get("graph_nms", {}).items():
        for side, r in sides.items():
            rows.append(f"| detector step {side}, {batch}: ms per frame; Python (GIL) ms; "
                        f"out KB | {mr(r['step_ms'])}; {mr(r['python_ms'], '.3f')}; "
                        f"{r['bytes_per_frame'] / 1024:.1f} | YOLOX-Nano on ONNX Runtime (2 "
                        "threads), decode and NMS; letterbox left out |")
    if "alarm_latency" in res:
        r = res["alarm_latency"]
        rows.append(f"| alarm latency, 20 cameras × 5 fps: act's frame captured → platform's "
                    f"200, p50; p99 ms | {mr(r['total p50'], '.0f')}; {mr(r['total p99'], '.0f')}"
                    f" (of it judged → platform p99 {mr(r['store→platform p99'], '.0f')}) | "
                    "thread-hop detector, confirmation, snapshot, PostgreSQL, outbox, relay, "
                    "RabbitMQ, delivery, HTTP |")
    for case, r in res.get("service_load", {}).items():
        rows.append(f"| orchestrator, {case}: camera-frames/s; per CPU-s; cores; lag p99 ms; "
                    f"dropped; loop thread ms per frame | {mr(r['frames_per_s'], '.0f')}; "
                    f"{mr(r['frames_per_cpu_s'], '.0f')}; {mr(r['cores'], '.2f')}; "
                    f"{mr(r['lag_p99_ms'], '.1f')}; "
                    f"{mr(r['dropped'], '.0f')}; {mr(r['loop_ms_per_frame'], '.2f')} | batcher, "
                    "thread-hop detector (sleep), tracking, rules, events, snapshots, SQLite |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    ap.add_argument("--only", help="comma-separated: " + ",".join(BENCHES))
    args = ap.parse_args()
    quick = args.quick
    runs = {
        "tracking": lambda: tracking.measure(rounds=3 if quick else tracking.ROUNDS),
        "decode": lambda: decode.measure(rounds=2 if quick else decode.ROUNDS),
        "service_load": lambda: service_load.measure(
            rounds=1 if quick else service_load.ROUNDS, seconds=4.0 if quick else 8.0),
        "e2e": lambda: e2e.measure(rounds=1 if quick else e2e.ROUNDS),
        "triton": lambda: triton.measure(rounds=1 if quick else triton.ROUNDS),
        "graph_nms": lambda: graph_nms.measure(rounds=2 if quick else graph_nms.ROUNDS),
        "alarm_latency": lambda: alarm_latency.measure(
            seconds=15.0 if quick else 40.0, rounds=1 if quick else 3),
    }
    chosen = BENCHES if not args.only else args.only.split(",")
    unknown = set(chosen) - set(runs)
    if unknown:
        ap.error(f"no bench {', '.join(sorted(unknown))}; choose from {', '.join(BENCHES)}")
    res = {name: runs[name]() for name in BENCHES if name in chosen}
    latest = HERE / "results" / "latest.json"
    if args.only and latest.exists():  # the others keep their last figures
        before = json.loads(latest.read_text())
        res = {**before.get("results", {}), **res}
    out = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "platform": platform.platform()},
           "quick": quick, "results": res}
    (HERE / "results").mkdir(exist_ok=True)
    latest.write_text(json.dumps(out, indent=1, default=float))
    print(table(res))


if __name__ == "__main__":
    main()
