"""Run the per-frame benches one after the other and keep their figures.

    .venv/bin/python bench/all.py [--quick]

Runs bench/tracking.py, bench/decode.py and bench/service_load.py (each interleaves its own
rounds and reports medians and ranges), writes every figure to bench/results/latest.json
with the date and the machine, and prints the summary table of bench/README.md. ``--quick``
runs fewer rounds (a smoke run, not figures to quote). The soak, web-load, alarm and Triton
benches need services and minutes each; run them on their own.
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

import decode  # noqa: E402
import service_load  # noqa: E402
import tracking  # noqa: E402
from figures import median_range  # noqa: E402


def table(res: dict) -> str:
    mr = median_range
    rows = ["| measure | median (range) | includes |", "|---|---|---|"]
    for name, r in res["tracking"]["rows"].items():
        rows.append(f"| tracking + rules, {name}: ms per camera-frame | {mr(r['ours_ms'])} "
                    f"(Roboflow pair {mr(r['theirs_ms'])}, {r['speedup']:.1f}×) | tracker "
                    "and rules update, one process; no detection |")
    for n, ms in res["tracking"]["batched"].items():
        rows.append(f"| tracking batched across {n}, 5 objects each: ms per camera-frame | "
                    f"tracker {mr(ms['tracker, batched'])} (one by one "
                    f"{mr(ms['tracker, one by one'])}); with each camera's perimeter rules "
                    f"{mr(ms['tracker + rules, batched'])} (one by one "
                    f"{mr(ms['tracker + rules, one by one'])}) | ByteTrackBatch vs a ByteTrack "
                    "per camera; rules per camera |")
    for codec, r in res["decode"].items():
        ms = r["cpu_ms_per_decoded_frame"]
        ff = statistics.median(ms["ffmpeg -threads 1 (-benchmark)"])
        for side in ("VideoSource, 5 fps + detector input",
                     "VideoSource, every frame + detector input"):
            rows.append(f"| decode {codec}, {side}: CPU ms per decoded frame | {mr(ms[side])} "
                        f"({statistics.median(ms[side]) / ff:.2f}× ffmpeg -threads 1) | ingest "
                        "thread, packet ring, hand-over, 416×416 input of analysed frames |")
    for case, r in res["service_load"].items():
        rows.append(f"| orchestrator, {case}: camera-frames/s; per CPU-s; lag p99 ms; dropped; "
                    f"loop thread ms per frame | {mr(r['frames_per_s'], '.0f')}; "
                    f"{mr(r['frames_per_cpu_s'], '.0f')}; {mr(r['lag_p99_ms'], '.1f')}; "
                    f"{mr(r['dropped'], '.0f')}; {mr(r['loop_ms_per_frame'], '.2f')} | batcher, "
                    "thread-hop detector (sleep), tracking, rules, events, snapshots, SQLite |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    quick = ap.parse_args().quick
    res = {
        "tracking": tracking.measure(rounds=3 if quick else tracking.ROUNDS),
        "decode": decode.measure(rounds=2 if quick else decode.ROUNDS),
        "service_load": service_load.measure(rounds=1 if quick else service_load.ROUNDS,
                                             seconds=4.0 if quick else 8.0),
    }
    out = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "platform": platform.platform()},
           "quick": quick, "results": res}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "latest.json").write_text(json.dumps(out, indent=1, default=float))
    print(table(res))


if __name__ == "__main__":
    main()
