"""Soak: a small site left running, to show that nothing grows and nothing is lost.

Two `perishield worker` processes lease CAMERAS cameras through the real Redis. Each camera
reads a real RTSP server (gst-rtsp-server, the Stadtmitte street looped) through its own TCP
link; the detector is FastestDet in-process at 2 analysed fps; a tripwire and a zone drawn on
the street fire events, which go to the real PostgreSQL (a database of its own), its outbox,
RabbitMQ (`perishield relay`) and a local HTTP platform (`perishield deliver platform`).

Faults, on a schedule: every minute one camera's link is cut for 20 s (round robin); every
fifth minute one worker is drained (its cameras move to the other) and undrained a minute
later (they move back).

Each minute it prints, per worker: RSS, open file descriptors, threads, asyncio tasks (from
its /metrics) and cameras held; and for the site: events recorded, alarms delivered, the
platform queue's depth, clips pending beyond their post-roll. At the end, after a minute of
drain (the last clips written, the last alarms delivered): slopes per hour of each per-worker
figure after warm-up (least squares over the minutes after the first WARMUP), pending clips,
and lost events (recorded but never delivered).

It includes the whole process of a worker (decode, detection, tracking, rules, evidence, store
writes, lease renewals, status) under hand-offs and reconnects. It leaves out GPU inference
(FastestDet on the CPU), Triton, and cameras of other resolutions or codecs.

    .venv/bin/python bench/soak.py [--minutes 30] [--cameras 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import aio_pika
import numpy as np
import redis
import sqlalchemy as sa
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from orchestrator.triton.server import free_port
from tests.alarm_peers import Peers
from tests.rtsp.proxy import BlipProxy
from tests.rtsp.server import RtspServer, palindrome
from tests.site_harness import delete_topology

ROOT = Path(__file__).parents[1]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
WARMUP = 3  # minutes left out of the slopes


def proc_figures(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024  # type: ignore[index]
    threads = int(re.search(r"Threads:\s+(\d+)", status)[1])  # type: ignore[index]
    return {"rss_mb": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads}


def scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            body = r.read().decode()
    except OSError:
        return {}
    out = {}
    m = re.search(r"^perishield_asyncio_tasks (\S+)", body, re.M)
    if m:
        out["tasks"] = float(m[1])
    held = re.findall(r'^perishield_worker_cameras\{state="\w+"\} (\S+)', body, re.M)
    out["cameras"] = sum(float(x) for x in held)
    return out


async def queue_depth(name: str) -> int:
    conn = await aio_pika.connect(AMQP)
    async with conn:
        ch = await conn.channel()
        try:
            q = await ch.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return 0
        return int(q.declaration_result.message_count)


def site_config(path: Path, prefix: str, db_url: str, tag: str, peers: Peers,
                cameras: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({
        "cameras": cameras,
        "detector": {"model": "fastestdet.onnx", "format": "fastestdet", "classes": ["person"]},
        "control": {"prefix": prefix, "heartbeat_s": 2, "claim_interval_s": 0.5,
                    "status_interval_s": 2, "capacity": len(cameras)},
        "outputs": {"data_dir": str(path.parent / "data"), "database_url": db_url,
                    "pre_roll_s": 2, "post_roll_s": 2},
        "alarms": {"exchange": f"soak.{tag}", "queue_prefix": f"soak.{tag}",
                   "platform_url": peers.platform_url}}))
    return path


def slope_per_hour(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    x = np.arange(len(values), dtype=float)
    return float(np.polyfit(x, np.asarray(values, float), 1)[0] * 60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--malloc-arena-max", type=int, default=0,
                    help="set MALLOC_ARENA_MAX for the workers (glibc malloc arenas; 0 = "
                         "glibc's default of 8 per core)")
    ap.add_argument("--memprobe", action="store_true",
                    help="run the workers under bench/memprobe.py (RSS and glibc's heap in "
                         "use and free each minute, in the logs folder)")
    ap.add_argument("--w0-env", action="append", default=[], metavar="KEY=VALUE",
                    help="an environment variable for worker w0 only: an A/B of a setting "
                         "in one run, both workers under the same faults (repeatable)")
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    prefix = f"soak-{tag}:"
    db = f"perishield_soak_{tag}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{db}"'))
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    tmp = Path(tempfile.mkdtemp(prefix="perishield-soak-"))
    clip = palindrome(ROOT.parent / "shared" / "data" / "TUD-Stadtmitte.mp4",
                      tmp / "street.mp4", 8)
    r = redis.Redis(decode_responses=True)
    procs: list[subprocess.Popen[bytes]] = []
    with Peers("unused", per_minute=1000) as peers, RtspServer({"/street": clip}) as server:
        links = [BlipProxy(server.port) for _ in range(args.cameras)]
        cams = [{"id": f"cam{i:02d}", "source": f"rtsp://127.0.0.1:{p.port}/street",
                 "analysis_fps": 2, "stall_s": 3, "open_timeout_s": 5,
                 "rules": {"cooldown_s": 5},
                 "lines": [{"name": "gate", "points": [[320, 200], [320, 470]]}],
                 "zones": [{"name": "plaza", "points": [[0, 300], [300, 300], [300, 479],
                                                        [0, 479]]}]}
                for i, p in enumerate(links)]
        cfg = site_config(tmp / "site.yaml", prefix, db_url, tag, peers, cams)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.malloc_arena_max:
            env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)

        def spawn(*a: str, log: str, probe: bool = False,
                  extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
            run = [str(ROOT / "bench" / "memprobe.py")] if probe else ["-m", "orchestrator"]
            penv = {**env, "MEMPROBE_DIR": str(tmp / f"probe-{Path(log).stem}"),
                    **(extra or {})}
            p = subprocess.Popen([sys.executable, *run, *a], stdout=subprocess.DEVNULL,
                                 stderr=open(tmp / log, "w"), env=penv)  # noqa: SIM115
            procs.append(p)
            return p

        subprocess.run([sys.executable, "-m", "orchestrator", "params", "import", str(cfg),
                        "-c", str(cfg)], check=True, env=env, stdout=subprocess.DEVNULL)
        ports = [free_port(), free_port()]
        workers = [spawn("worker", "-c", str(cfg), "--id", f"w{i}", "--metrics-port",
                         str(ports[i]), log=f"w{i}.log", probe=args.memprobe,
                         extra=dict(kv.split("=", 1) for kv in args.w0_env) if i == 0 else None)
                   for i in range(2)]
        spawn("relay", "-c", str(cfg), log="relay.log")
        spawn("deliver", "platform", "-c", str(cfg), log="deliver.log")
        engine = sa.create_engine(db_url)

        def site() -> dict[str, float]:
            with engine.connect() as c:
                n = c.execute(sa.text("select count(*) from events")).scalar() or 0
                pending = c.execute(sa.text(
                    "select count(*) from events where clip_status = 'pending' "
                    "and detected_at < now() - interval '30 seconds'")).scalar() or 0
            # list(): the platform thread adds keys meanwhile (a snapshot is atomic)
            alarms = sum(1 for k in list(peers.platform_requests) if k.endswith(":alarm"))
            return {"events": n, "delivered": alarms,
                    "queued": asyncio.run(queue_depth(f"soak.{tag}.platform")),
                    "pending_clips": pending}

        rows: list[dict[str, float]] = []
        t0 = time.monotonic()
        minute = 0
        print(f"soak: {args.cameras} cameras, 2 workers, {args.minutes:g} min; logs in {tmp}")
        print(f"{'min':>4} {'worker':>6} {'rss MB':>7} {'fds':>5} {'thr':>4} {'tasks':>6} "
              f"{'cams':>5} | {'events':>6} {'deliv':>6} {'queue':>5} {'pend':>4}")
        try:
            while minute < args.minutes:
                minute += 1
                # faults of this minute
                links[(minute - 1) % len(links)].cut(20.0)
                if minute % 5 == 0:
                    victim = f"w{(minute // 5) % 2}"
                    r.publish(f"{prefix}control",
                              json.dumps({"cmd": "drain", "worker": victim}))
                if minute % 5 == 1 and minute > 1:
                    r.publish(f"{prefix}control", '{"cmd": "undrain", "worker": "*"}')
                time.sleep(max(0.0, t0 + 60 * minute - time.monotonic()))
                s = site()
                for i, w in enumerate(workers):
                    if w.poll() is not None:
                        raise SystemExit(f"worker w{i} died: see {tmp / f'w{i}.log'}")
                    f = {**proc_figures(w.pid), **scrape(ports[i]), "minute": minute,
                         "worker": i}
                    rows.append(f)
                    print(f"{minute:>4} {'w' + str(i):>6} {f['rss_mb']:>7.0f} {f['fds']:>5.0f} "
                          f"{f['threads']:>4.0f} {f.get('tasks', -1):>6.0f} "
                          f"{f.get('cameras', -1):>5.0f} | {s['events']:>6.0f} "
                          f"{s['delivered']:>6.0f} {s['queued']:>5.0f} "
                          f"{s['pending_clips']:>4.0f}", flush=True)
            r.publish(f"{prefix}control", '{"cmd": "undrain", "worker": "*"}')
            for w in workers:  # stop intake; clips flushed, leases released
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(60)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                s = site()
                if s["delivered"] >= s["events"] and s["queued"] == 0:
                    break
                time.sleep(2)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            for link in links:
                link.close()
        with engine.connect() as c:
            ids = {x for (x,) in c.execute(sa.text("select id from events"))}
            pending = c.execute(sa.text(
                "select count(*) from events where clip_status = 'pending'")).scalar()
        engine.dispose()
        delivered = {k.split(":")[0] for k in list(peers.platform_requests)
                     if k.endswith(":alarm")}
    lost = ids - delivered
    print(f"\nafter {args.minutes:g} min: {len(ids)} events recorded, {len(ids & delivered)} "
          f"delivered, {len(lost)} lost; {pending} clips pending at the end")
    print(f"slopes per hour after {WARMUP} min of warm-up, over the minutes each worker held "
          f"its usual share (drain minutes left out: like with like), per worker:")
    for i in range(2):
        mine = [x for x in rows if x["worker"] == i and x["minute"] > WARMUP
                and x.get("cameras") == args.cameras // 2]
        figures = {k: slope_per_hour([x.get(k, 0.0) for x in mine])
                   for k in ("rss_mb", "fds", "threads", "tasks")}
        print(f"  w{i}: RSS {figures['rss_mb']:+.1f} MB/h, fds {figures['fds']:+.1f}/h, "
              f"threads {figures['threads']:+.1f}/h, asyncio tasks {figures['tasks']:+.1f}/h")
    r.delete(*(list(r.scan_iter(f"{prefix}*")) or ["-"]))
    asyncio.run(delete_topology(f"soak.{tag}"))
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE "{db}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
