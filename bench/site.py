"""The whole site on one machine, scaled down honestly: N `perishield worker` processes lease M
cameras through the real Redis, and their events go through PostgreSQL, the outbox, RabbitMQ
and `perishield deliver platform` to a local HTTP platform.

What is real: the worker processes (leases, heartbeats, status, the service: batcher, ByteTrack,
rules, the motion gate, events with snapshots, write lanes), Redis, PostgreSQL, `perishield
relay`, RabbitMQ, `perishield deliver platform`, HTTP. What is not: the cameras replay decoded
frames of TUD-Stadtmitte at 5 fps (played forward then back, so nobody jumps; decode is measured
apart, bench/decode.py and bench/capacity.py), and the detector answers each frame with the
boxes the real model gave on it (`detector.backend: recorded`), so the machine's CPU goes to
everything but decoding and the model. Every camera carries a tripwire and a zone across the
street, so it fires an event every few seconds: far more than a perimeter does.

For each M (100, 250, 500, 1000 by default) with N workers (4): achieved against asked
camera-frames/s, lag p50 / p99 (the median over cameras of their p50, the 99th percentile over
cameras of their p99), frames dropped, CPU seconds of the workers per camera-second, RSS per
camera, lease renewals a second (counted by the workers), Redis' CPU and commands a second,
leases lost, the workers' worst event-loop lateness, alarm latency capture -> platform p50 /
p99, and alarms lost (events recorded but not delivered after the run). At the largest M one
worker is killed with SIGKILL: the time until all its cameras run on the others again, and
whether any camera ran on two workers meanwhile. Two cores cannot keep
1,000 cameras in real time: the larger runs show where this machine saturates and what a
camera-second costs; they must still finish, lose no alarm and keep every lease.

Plots: bench/results/site.png.

    .venv/bin/python bench/site.py [--cameras 100,250,500,1000] [--workers 4] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import sqlalchemy as sa
import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from soak import PG_ADMIN  # noqa: E402

from orchestrator.config import DetectorConfig  # noqa: E402
from orchestrator.detect import create_detector  # noqa: E402
from orchestrator.detect.recorded import save_recording  # noqa: E402
from orchestrator.paths import find_data  # noqa: E402
from orchestrator.triton.server import free_port  # noqa: E402
from tests.alarm_peers import Peers  # noqa: E402
from tests.control_helpers import client, leases, running  # noqa: E402
from tests.site_harness import delete_topology  # noqa: E402

FPS = 5.0
HEARTBEAT_S = 10.0
GATE = {"name": "gate", "points": [[320, 200], [320, 460]], "direction": "any"}
YARD = {"name": "yard", "points": [[0, 300], [300, 300], [300, 479], [0, 479]]}


def recording(into: Path) -> tuple[Path, Path]:
    """TUD-Stadtmitte at 5 fps, forward then back (.npy), and the embedded detector's boxes on
    each of those frames (.npz)."""
    with av.open(str(find_data("TUD-Stadtmitte.mp4"))) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)][::5]
    frames = frames + frames[-2:0:-1]
    path, dets = into / "frames.npy", into / "dets.npz"
    np.save(path, np.stack(frames))
    save_recording(dets, create_detector(DetectorConfig(max_batch=8)).detect(frames))
    return path, dets


def site_config(path: Path, cameras: int, prefix: str, db: str, tag: str, peers: Peers,
                frames: Path, dets: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "cameras": [{"id": f"cam{i:04d}", "source": f"synthetic://replay?frames={frames}",
                     "analysis_fps": FPS, "lines": [GATE], "zones": [YARD],
                     "rules": {"cooldown_s": 5}} for i in range(cameras)],
        "detector": {"backend": "recorded", "model": str(dets)},
        "control": {"redis_url": "redis://127.0.0.1:6379/0", "prefix": prefix,
                    "heartbeat_s": HEARTBEAT_S, "claim_interval_s": 0.5,
                    "status_interval_s": 2.0, "capacity": cameras},
        "outputs": {"data_dir": str(path.parent / "data"), "database_url": db,
                    "pre_roll_s": 1, "post_roll_s": 1},
        "alarms": {"exchange": f"bench.{tag}", "queue_prefix": f"bench.{tag}",
                   "platform_url": peers.platform_url}}))
    return path


def scrape(port: int, tries: int = 3) -> dict[str, Any]:
    """A worker's counters per camera, its process totals and per-camera lags from its
    /metrics ({} if it does not answer: an overloaded worker may take seconds)."""
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as f:
                body = f.read().decode()
            break
        except OSError:
            time.sleep(1)
    else:
        return {}

    def per_camera(name: str) -> dict[str, float]:
        return {c: float(v) for c, v in re.findall(
            rf'^{name}{{camera="([^"]+)"}} (\S+)$', body, re.M)}

    def total(name: str) -> float:
        return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", body, re.M))

    lags = {q: [float(v) for v in re.findall(
        rf'^perishield_camera_lag_ms{{camera="[^"]+",quantile="{q}"}} (\S+)$', body, re.M)]
        for q in ("0.50", "0.99")}
    def lease(event: str) -> float:
        return sum(float(v) for v in re.findall(
            rf'^perishield_worker_leases_total{{event="{event}"}} (\S+)$', body, re.M))

    return {"analysed": per_camera("perishield_camera_frames_analysed_total"),
            "dropped": per_camera("perishield_camera_frames_dropped_total"),
            "cpu": total("process_cpu_seconds_total"),
            "rss": total("process_resident_memory_bytes"),
            "lost": lease("lost"), "renewed": lease("renewed"), "lag": lags,
            "loop_lag": total("perishield_worker_loop_lag_seconds")}


def redis_counters(r: Any) -> tuple[float, float]:
    cpu, stats = r.info("cpu"), r.info("stats")
    return (float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
            float(stats["total_commands_processed"]))


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args],
                            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
                            stdout=subprocess.DEVNULL, stderr=log.open("w"),
                            start_new_session=True)


def wait(cond: Any, timeout_s: float) -> float | None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            return None
        time.sleep(0.2)
    return time.monotonic() - t0


def one_run(cameras: int, workers: int, seconds: float, frames: Path, dets: Path,
            kill: bool, logs: Path | None = None) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}:"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    dbname = f"perishield_site_{tag}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
    r = client()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    out: dict[str, Any] = {"cameras": cameras, "workers": workers, "asked": cameras * FPS}
    with tempfile.TemporaryDirectory(prefix="perishield-site-") as tmp, Peers("x") as peers:
        cfg = site_config(Path(tmp) / "site.yaml", cameras, prefix,
                          f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}", tag, peers,
                          frames, dets)
        subprocess.run([sys.executable, "-m", "orchestrator", "db", "upgrade", "-c", str(cfg)],
                       check=True, capture_output=True, env={**os.environ,
                                                             "PYTHONPATH": str(HERE.parent)})
        subprocess.run([sys.executable, "-m", "orchestrator", "params", "import", "-c",
                        str(cfg), str(cfg)], check=True, capture_output=True)
        ports = [free_port() for _ in range(workers)]
        try:
            for i, port in enumerate(ports):
                procs[f"w{i}"] = spawn(["worker", "-c", str(cfg), "--id", f"w{i}",
                                        "--metrics-port", str(port)], Path(tmp) / f"w{i}.log")
            procs["relay"] = spawn(["relay", "-c", str(cfg)], Path(tmp) / "relay.log")
            procs["deliver"] = spawn(["deliver", "platform", "-c", str(cfg)],
                                     Path(tmp) / "deliver.log")
            def balanced() -> bool:  # every camera runs, shared fairly (no hand-offs left)
                held = [len(v) for v in running(r, prefix).values()]
                return (len(held) == workers and sum(held) >= cameras
                        and min(held) >= cameras // workers - 1)

            t_start = wait(balanced, 120 + cameras / 5)
            out["start_s"] = t_start
            time.sleep(5)  # past the start-up of the last cameras
            before = [scrape(p) for p in ports]
            redis0, t0 = redis_counters(r), time.monotonic()
            wall0 = time.time()
            time.sleep(seconds)
            after = [scrape(p) for p in ports]
            redis1, window = redis_counters(r), time.monotonic() - t0
            wall1 = time.time()
            out.update(_window(before, after, window, cameras))
            out["redis_cpu_pct"] = (redis1[0] - redis0[0]) / window * 100
            out["redis_commands_per_s"] = (redis1[1] - redis0[1]) / window
            if kill:
                out.update(_kill_one(r, prefix, procs, cameras))
        finally:
            for name, p in procs.items():
                if p.poll() is None and name.startswith("w"):
                    os.killpg(p.pid, signal.SIGTERM)
            for name, p in procs.items():
                if name.startswith("w"):
                    try:
                        p.wait(90)
                    except subprocess.TimeoutExpired:
                        os.killpg(p.pid, signal.SIGKILL)
                        p.wait()
        # The workers have stopped (their events written); the relay and delivery drain.
        stored = _stored(f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}")
        wait(lambda: sum(1 for k in list(peers.platform_requests) if k.endswith(":alarm"))
             >= stored, 120)
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
        keys = [k for k in list(peers.platform_requests) if k.endswith(":alarm")]
        out["alarms_stored"], out["alarms_delivered"] = stored, len(keys)
        captured = np.array([datetime.fromisoformat(
            peers.platform_bodies[k]["captured_at"]).timestamp() for k in keys])
        received = np.array([peers.platform_received_at[k] for k in keys])
        steady = (captured >= wall0) & (captured <= wall1)
        lat = (received - captured)[steady] * 1000
        out["alarm_p50_ms"] = float(np.percentile(lat, 50)) if len(lat) else None
        out["alarm_p99_ms"] = float(np.percentile(lat, 99)) if len(lat) else None
        if logs is not None:  # the processes' logs, kept
            (logs / str(cameras)).mkdir(parents=True, exist_ok=True)
            for log in Path(tmp).glob("*.log"):
                (logs / str(cameras) / log.name).write_bytes(log.read_bytes())
    asyncio.run(delete_topology(f"bench.{tag}"))
    for key in r.scan_iter(f"{prefix}*"):
        r.delete(key)
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE "{dbname}" WITH (FORCE)'))
    admin.dispose()
    return out


def _stored(url: str) -> int:
    eng = sa.create_engine(url)
    with eng.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    eng.dispose()
    return int(n)


def _window(before: list[dict[str, Any]], after: list[dict[str, Any]], window: float,
            cameras: int) -> dict[str, Any]:
    """Frames per camera summed over workers (a camera that moved between workers in the
    window counts from zero where it went); CPU of the workers scraped both times."""
    def frames(key: str) -> float:
        b: dict[str, float] = {}
        a: dict[str, float] = {}
        for snap, into in ((before, b), (after, a)):
            for w in snap:
                for cam, v in w.get(key, {}).items():
                    into[cam] = into.get(cam, 0.0) + v
        return sum(v - b.get(c, 0.0) if v >= b.get(c, 0.0) else v for c, v in a.items())

    both = [(x, y) for x, y in zip(before, after, strict=True) if x and y]
    cpu = sum(y["cpu"] - x["cpu"] for x, y in both)
    p50 = [v for a in after for v in a.get("lag", {}).get("0.50", [])]
    p99 = [v for a in after for v in a.get("lag", {}).get("0.99", [])]
    return {"achieved": frames("analysed") / window, "dropped": frames("dropped"),
            "cpu_s_per_camera_s": cpu / (cameras * window) if both else None,
            "cores": cpu / window if both else None,
            "workers_scraped": len(both),
            "rss_mb_per_camera": sum(a.get("rss", 0) for a in after) / cameras / 2**20,
            "lag_p50_ms": statistics.median(p50) if p50 else None,
            "lag_p99_ms": float(np.percentile(p99, 99)) if p99 else None,
            "leases_lost": sum(y["lost"] - x["lost"] for x, y in both),
            "lease_renewals_per_s": sum(y["renewed"] - x["renewed"] for x, y in both) / window,
            "loop_lag_max_s": max((a["loop_lag"] for a in after if a), default=None)}


def _kill_one(r: Any, prefix: str, procs: dict[str, subprocess.Popen[bytes]],
              cameras: int) -> dict[str, Any]:
    """SIGKILL the worker with the most cameras; time until all of them run elsewhere."""
    held = running(r, prefix)
    victim = max(held, key=lambda w: len(held[w]))
    orphans = set(held[victim])
    os.killpg(procs[victim].pid, signal.SIGKILL)
    procs[victim].wait()
    doubled: set[str] = set()
    t0 = time.monotonic()
    leased_after: list[float] = []

    def moved() -> bool:
        now = {w: set(c) for w, c in running(r, prefix).items() if w != victim}
        seen: dict[str, str] = {}
        for w, cams in now.items():
            for c in cams:
                if c in seen:
                    doubled.add(c)
                seen[c] = w
        holders = leases(r, prefix)
        leased = all(holders.get(c) not in (None, victim) for c in orphans)
        if leased and not leased_after:
            leased_after.append(time.monotonic() - t0)
        return orphans <= set(seen) and leased

    took = wait(moved, 120)
    return {"killed": victim, "orphans": len(orphans),
            "recovery_s": took, "leased_s": leased_after[0] if leased_after else None,
            "on_two_workers": len(doubled)}


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = [r["cameras"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(m, [r["asked"] for r in results], "k--", label="asked")
    a.plot(m, [r["achieved"] for r in results], "o-", label="achieved")
    a.set_xlabel("cameras (5 fps)")
    a.set_ylabel("camera-frames/s")
    a.legend()
    a.set_title(f"{results[0]['workers']} workers, 2 vCPU")
    b.plot(m, [r["lag_p99_ms"] or 0 for r in results], "o-", label="lag p99")
    b.plot(m, [r["alarm_p99_ms"] or 0 for r in results], "s-", label="alarm capture→platform p99")
    b.set_xlabel("cameras (5 fps)")
    b.set_ylabel("ms")
    b.set_yscale("log")
    b.legend()
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", default="100,250,500,1000")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--logs", type=Path, help="keep the processes' logs here (DIR/M/*.log)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.cameras.split(",")]
    with tempfile.TemporaryDirectory(prefix="perishield-rec-") as tmp:
        frames, dets = recording(Path(tmp))
        results = []
        for m in sizes:
            res = one_run(m, args.workers, args.seconds, frames, dets, kill=m == max(sizes),
                          logs=args.logs)
            results.append(res)
            print(json.dumps(res), flush=True)
    print(f"\n{args.workers} workers, {args.seconds:g} s window:")
    print("| cameras | asked/s | achieved/s | lag p50 / p99 ms | dropped | CPU s per camera-s | "
          "cores | RSS MB per camera | renewals/s | Redis CPU % / cmd/s | leases lost | "
          "loop lag max s | alarm p50 / p99 ms | alarms stored / delivered |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    def f(v: Any, spec: str = ".0f") -> str:
        return "-" if v is None else format(v, spec)

    for r in results:
        print(f"| {r['cameras']} | {r['asked']:.0f} | {r['achieved']:.0f} | "
              f"{f(r['lag_p50_ms'])} / {f(r['lag_p99_ms'])} | {r['dropped']:.0f} | "
              f"{f(r['cpu_s_per_camera_s'], '.4f')} | {f(r['cores'], '.2f')} | "
              f"{r['rss_mb_per_camera']:.1f} | {r['lease_renewals_per_s']:.0f} | "
              f"{r['redis_cpu_pct']:.1f} / {r['redis_commands_per_s']:.0f} | "
              f"{r['leases_lost']:.0f} | {f(r['loop_lag_max_s'], '.1f')} | "
              f"{f(r['alarm_p50_ms'])} / {f(r['alarm_p99_ms'])} | "
              f"{r['alarms_stored']} / {r['alarms_delivered']} |")
    killed = [r for r in results if "killed" in r]
    for r in killed:
        print(f"\nkill -9 of {r['killed']} at {r['cameras']} cameras: its {r['orphans']} cameras "
              f"were leased by the others after {f(r['leased_s'], '.1f')} s and ran there "
              f"after {f(r['recovery_s'], '.1f')} s (target 15 s); on two workers at once: "
              f"{r['on_two_workers']}")
    plot(results, HERE / "results" / "site.png")
    print("plot: bench/results/site.png")


if __name__ == "__main__":
    main()
