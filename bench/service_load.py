"""Orchestrator overhead without decode or inference, with a detector that behaves like one.

Synthetic cameras (one prepared 640×480 image, no decoding) feed the real service: batcher,
ByteTrack, the rules, events with their snapshots into the SQLite store, per-camera stats.
The detector is called as the real in-process one is, on a worker thread (asyncio.to_thread,
up to 4 batches in flight, up to 32 frames a batch), and costs what a GPU server's round trip
does without using this CPU: it sleeps 2 ms + 0.5 ms per frame. It returns five 40×100
people walking left to right across the view (40 px/s, wrapping), so every camera fires about
one event every two seconds (a tripwire crossed, a zone entered), each with its snapshot of
the synthetic still (smooth, compressible as a camera's picture is).

Figures:
- throughput: 100 cameras asking 60 fps each (more than one process can take): analysed
  camera-frames per second of wall time and per CPU-second of the process;
- real time: 50, 100, 200 and 1,000 cameras at 5 fps: lag (analysis done − capture) p50/p99,
  frames dropped as stale, events, CPU used (cores). The goal is 1,000 cameras in one process
  with lag p99 < 250 ms and no drops; the run says how far from it this machine is. (Its
  events are far denser than a perimeter's: a tenth of all frames fire one.)
- the event loop thread's CPU per analysed frame (``loop ms/frame``): the Python that holds the
  GIL for orchestration, tracking and rules, the budget that caps one process.

Each case runs ROUNDS times, the cases interleaved round by round; it prints medians and
ranges. It leaves out decoding and BGR conversion (bench/decode.py), inference (the sleep),
the control plane (leases, status) and alarm delivery (bench/alarms.py).

    .venv/bin/python bench/service_load.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

import numpy as np
from figures import median_range

from orchestrator.config import Settings
from orchestrator.detections import Detections
from orchestrator.service import Service

ROUNDS = 3
N_PEOPLE = 5
SPEED = 40.0  # px/s: each person crosses the tripwire and enters the zone every 18 s


class WalkingDetector:
    """Five 40×100 people walking across a 640×480 view; costs a thread hop and a sleep."""

    max_batch = 32
    max_inflight = 4

    def __init__(self, base_s: float = 0.002, per_frame_s: float = 0.0005) -> None:
        self.base_s, self.per_frame_s = base_s, per_frame_s

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        time.sleep(self.base_s + self.per_frame_s * len(frames))
        t = time.monotonic()
        x = (t * SPEED + np.arange(N_PEOPLE) * 680 / N_PEOPLE) % 680 - 40
        y = 150.0 + np.arange(N_PEOPLE) * 60
        boxes = np.stack([x, y, x + 40, y + 100], axis=1).astype(np.float32)
        return [Detections(boxes, np.full(N_PEOPLE, 0.9, np.float32),
                           np.zeros(N_PEOPLE, np.int64)) for _ in frames]

    def close(self) -> None:
        pass


def settings(tmp: str, cameras: int, fps: float) -> Settings:
    zone = {"name": "yard", "points": [[400, 250], [639, 250], [639, 479], [400, 479]]}
    line = {"name": "wall", "points": [[320, 0], [320, 479]]}
    return Settings.model_validate({
        "cameras": [{"id": f"sim{i:03d}", "source": "synthetic://640x480", "analysis_fps": fps,
                     "rules": {"cooldown_s": 5}, "zones": [zone], "lines": [line],
                     # a still image: its walkers exist only in the detector's answers
                     "detector": {"gate": "always"}}
                    for i in range(cameras)],
        "outputs": {"data_dir": tmp}})


def run(cameras: int, fps: float, seconds: float, warmup_s: float | None = None
        ) -> dict[str, float]:
    """One run; counts over the ``seconds`` after ``warmup_s`` (steady state only; by default
    2 s, and 1 s more per 250 cameras to start them)."""
    if warmup_s is None:
        warmup_s = 2.0 + cameras / 250
    def totals(service: Service) -> np.ndarray:
        return np.array([(s.frames_analysed, s.frames_dropped, s.events)
                         for s in service.stats.values()]).sum(axis=0)

    async def go() -> tuple[np.ndarray, np.ndarray, float, float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            service = Service(settings(tmp, cameras, fps), detector=WalkingDetector())
            task = asyncio.create_task(service.run())
            await asyncio.sleep(warmup_s)
            before = totals(service)
            for st in service.stats.values():
                st.lags.clear()
            # thread_time() here is the event loop's thread: the Python that holds the GIL
            # for orchestration, tracking and rules (decode, inference, snapshots and the store
            # run on other threads)
            cpu0, loop0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            loop_cpu = time.thread_time() - loop0
            counts = totals(service) - before
            lags = np.concatenate([np.asarray(s.lags) for s in service.stats.values()]) * 1000
            service.request_stop()
            await task
        return counts, lags, cpu, wall, loop_cpu

    (frames, dropped, events), lags, cpu, wall, loop_cpu = asyncio.run(go())
    return {"frames_per_s": frames / wall, "frames_per_cpu_s": frames / cpu,
            "cores": cpu / wall, "loop_ms_per_frame": loop_cpu / frames * 1000,
            "lag_p50_ms": float(np.percentile(lags, 50)),
            "lag_p99_ms": float(np.percentile(lags, 99)), "dropped": float(dropped),
            "events": float(events), "asked_per_s": cameras * fps}


def measure(rounds: int = ROUNDS, seconds: float = 8.0) -> dict[str, dict[str, list[float]]]:
    cases = {"throughput 100 x 60 fps": (100, 60.0), "50 x 5 fps": (50, 5.0),
             "100 x 5 fps": (100, 5.0), "200 x 5 fps": (200, 5.0),
             "1000 x 5 fps": (1000, 5.0)}
    out: dict[str, dict[str, list[float]]] = {k: {} for k in cases}
    for _ in range(rounds):
        for name, (n, fps) in cases.items():
            for k, v in run(n, fps, seconds).items():
                out[name].setdefault(k, []).append(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    res = measure(args.rounds, args.seconds)
    print(f"medians (ranges) of {args.rounds} interleaved rounds of {args.seconds:g} s")
    columns = [("frames/s", "frames_per_s", ".0f", 16),
               ("per CPU-s", "frames_per_cpu_s", ".0f", 16), ("cores", "cores", ".2f", 16),
               ("loop ms/frame", "loop_ms_per_frame", ".2f", 16),
               ("lag p50 ms", "lag_p50_ms", ".1f", 16), ("lag p99 ms", "lag_p99_ms", ".1f", 18),
               ("dropped", "dropped", ".0f", 14), ("events", "events", ".0f", 14)]
    print(f"{'case':24} {'asked/s':>7} " + " ".join(f"{t:>{w}}" for t, _, _, w in columns))
    for name, r in res.items():
        print(f"{name:24} {r['asked_per_s'][0]:7.0f} "
              + " ".join(f"{median_range(r[k], spec):>{w}}" for _, k, spec, w in columns))


if __name__ == "__main__":
    main()
