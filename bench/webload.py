"""Load check of the operators' side: N viewers on a camera's live view (MJPEG) and on the
alarm feed (SSE) at once, while the worker analyses the camera.

A whole small site runs on this machine (tests/site_harness.py: a real RTSP camera, a worker
with FastestDet at 5 analysed fps, relay, delivery to a local platform, `perishield api`).
Phases of --seconds each, interleaved (quiet, loaded, quiet, loaded, ...): the worker's
analysed frames per second (from its status in Redis) with no viewer and with N; under load,
per viewer the MJPEG frames received per second, and per alarm the delay from its commit
(`detected_at`) to its arrival at each SSE client; the API's and the worker's CPU.

It includes the API process, Redis and the worker's JPEG encoding for the live view (one
encoder per camera, whatever the viewers). It leaves out TLS, a reverse proxy, browsers'
decoding, and networks other than loopback; all clients share one process here.

    .venv/bin/python bench/webload.py [--viewers 50] [--seconds 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from figures import median_range

from tests.site_harness import Site

CLK = 100  # clock ticks per second (/proc/<pid>/stat)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


async def viewer(url: str, token: str, stop: asyncio.Event, frames: list[float]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers) as s, \
            s.get("/api/v1/cameras/street/live.mjpeg") as r:
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(r.content.readany(), 1.0)
            except TimeoutError:
                continue
            frames.extend(time.monotonic() for _ in range(chunk.count(b"\xff\xd9")))


async def listener(url: str, token: str, stop: asyncio.Event,
                   delays: list[float]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers) as s, \
            s.get("/api/v1/stream", timeout=aiohttp.ClientTimeout(total=None)) as r:
        kind = ""
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(r.content.readline(), 1.0)
            except TimeoutError:
                continue
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                kind = text[7:]
            elif text.startswith("data: ") and kind == "alarm":
                ev = json.loads(text[6:])
                delays.append(time.time() - datetime.fromisoformat(ev["detected_at"])
                              .timestamp())


def fps_now(site: Site) -> float:
    return float(site.redis.hget(f"{site.prefix}status:camera:street", "fps") or 0)


async def phase(site: Site, n: int, seconds: float) -> dict[str, float | list[float]]:
    stop = asyncio.Event()
    frames: list[list[float]] = [[] for _ in range(n)]
    delays: list[float] = []
    tasks = [asyncio.create_task(viewer(site.url, site.token, stop, frames[i]))
             for i in range(n)]
    tasks += [asyncio.create_task(listener(site.url, site.token, stop, delays))
              for _ in range(n)]
    await asyncio.sleep(3)  # connections open, watch marks set
    api, worker = site.procs["api"].pid, site.procs["w0"].pid
    c0 = (cpu_s(api), cpu_s(worker))
    t0 = time.monotonic()
    fps = []
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(1.0)
        fps.append(fps_now(site))
    t1 = time.monotonic()
    c1 = (cpu_s(api), cpu_s(worker))
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    rates = [sum(1 for t in f if t0 <= t <= t1) / (t1 - t0) for f in frames]
    return {"fps": statistics.median(fps), "view_fps": rates, "delays": delays,
            "api_cpu": (c1[0] - c0[0]) / (t1 - t0), "worker_cpu": (c1[1] - c0[1]) / (t1 - t0)}


async def run(site: Site, args: argparse.Namespace) -> None:
    rows: dict[int, list[dict[str, float | list[float]]]] = {0: [], args.viewers: []}
    for r in range(args.rounds):
        for n in (0, args.viewers):
            got = await phase(site, n, args.seconds)
            rows[n].append(got)
            print(f"round {r + 1}, {n:3d} viewers: worker {got['fps']:.2f} analysed fps, "
                  f"worker CPU {got['worker_cpu']:.2f}, API CPU {got['api_cpu']:.2f}",
                  flush=True)

    def med(n: int, key: str) -> str:
        return median_range([float(x[key]) for x in rows[n]], ".2f")  # type: ignore[arg-type]

    print(f"\nmedians over {args.rounds} rounds of {args.seconds:g} s (min–max):")
    for n in rows:
        print(f"  {n:3d} viewers: worker analysed fps {med(n, 'fps')}, worker CPU "
              f"{med(n, 'worker_cpu')}, API CPU {med(n, 'api_cpu')}")
    view = [v for x in rows[args.viewers] for v in x["view_fps"]]  # type: ignore[union-attr]
    delays = sorted(d for x in rows[args.viewers] for d in x["delays"])  # type: ignore[union-attr]
    print(f"  live view per viewer: median {statistics.median(view):.2f} frames/s, slowest "
          f"{min(view):.2f}")
    if delays:
        p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]  # noqa: E731
        print(f"  alarm commit → SSE client: {len(delays)} deliveries, p50 {p(0.5) * 1000:.0f}"
              f" ms, p99 {p(0.99) * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cache = Path("/tmp/perishield-bench-cache")
    cache.mkdir(exist_ok=True)
    site = Site(cache).start()
    try:
        asyncio.run(run(site, args))
    finally:
        site.stop()


if __name__ == "__main__":
    main()
