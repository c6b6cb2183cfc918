"""Alarm latency from the act's frame to the platform's 200, through the whole path.

CAMERAS synthetic cameras at 5 fps run in the real service (batcher, ByteTrack, rules with
their confirmation frames, the snapshot, the event and its outbox rows in one transaction)
with the walking detector of bench/service_load.py (a thread hop and a 2 ms + 0.5 ms/frame
sleep, as a GPU server's round trip; five people crossing a tripwire and entering a zone, so
every camera fires about one event a second). `perishield relay` and `perishield deliver
platform` run as their own processes, as deployed: the outbox goes to the real RabbitMQ and on
to a local HTTP platform, which notes when each alarm arrived.

Latency is the platform's receipt minus the alarm's ``captured_at`` (the capture time of the
frame where the act happened: the crossing itself, not the frame that confirmed it), split at
``detected_at`` (when the event was judged) into detection + confirmation and store + outbox +
broker + HTTP. Rounds are independent runs; it prints medians and ranges of each round's
p50/p99. It leaves out decoding (the cameras are synthetic) and real inference (the sleep).

    .venv/bin/python bench/alarm_latency.py [--cameras 20] [--seconds 40] [--rounds 3]
                                            [--store postgres|sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from figures import median_range  # noqa: E402
from service_load import WalkingDetector  # noqa: E402
from soak import PG_ADMIN  # noqa: E402

from orchestrator.config import load_settings  # noqa: E402
from orchestrator.service import Service  # noqa: E402
from tests.alarm_peers import Peers  # noqa: E402
from tests.site_harness import delete_topology  # noqa: E402


def config(path: Path, cameras: int, db_url: str, tag: str, peers: Peers) -> Path:
    zone = {"name": "yard", "points": [[400, 250], [639, 250], [639, 479], [400, 479]]}
    line = {"name": "wall", "points": [[320, 0], [320, 479]]}
    path.write_text(yaml.safe_dump({
        "cameras": [{"id": f"sim{i:03d}", "source": "synthetic://640x480", "analysis_fps": 5,
                     "rules": {"cooldown_s": 5}, "zones": [zone], "lines": [line],
                     # a still image: its walkers exist only in the detector's answers
                     "detector": {"gate": "always"}}
                    for i in range(cameras)],
        "outputs": {"data_dir": str(path.parent / "data"), "database_url": db_url},
        "alarms": {"exchange": f"bench.{tag}", "queue_prefix": f"bench.{tag}",
                   "platform_url": peers.platform_url}}))
    return path


def one_round(cameras: int, seconds: float, store: str) -> dict[str, list[float]]:
    tag = uuid.uuid4().hex[:8]
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    db = f"perishield_bench_{tag}"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp, Peers("x") as peers:
        if store == "postgres":
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{db}"'))
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
        else:
            url = f"sqlite:///{tmp}/events.db"
        cfg = config(Path(tmp) / "site.yaml", cameras, url, tag, peers)
        settings = load_settings(cfg)
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        try:
            service = Service(settings, detector=WalkingDetector())

            async def go() -> int:
                task = asyncio.create_task(service.run())
                while service.store is None:  # the store makes its tables first
                    await asyncio.sleep(0.05)
                for cmd in (["relay"], ["deliver", "platform"]):
                    procs.append(subprocess.Popen(
                        [sys.executable, "-m", "orchestrator", *cmd, "-c", str(cfg)],
                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                await asyncio.sleep(seconds)
                service.request_stop()
                await task
                return sum(s.events for s in service.stats.values())

            events = asyncio.run(go())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sum(
                    1 for k in list(peers.platform_requests) if k.endswith(":alarm")) < events:
                time.sleep(0.2)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
        keys = [k for k in list(peers.platform_requests) if k.endswith(":alarm")]
        captured = np.array([datetime.fromisoformat(
            peers.platform_bodies[k]["captured_at"]).timestamp() for k in keys])
        detected = np.array([datetime.fromisoformat(
            peers.platform_bodies[k]["detected_at"]).timestamp() for k in keys])
        received = np.array([peers.platform_received_at[k] for k in keys])
    asyncio.run(delete_topology(f"bench.{tag}"))
    if store == "postgres":
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE "{db}" WITH (FORCE)'))
    admin.dispose()
    # The first seconds carry the relay's and the delivery worker's start-up: left out.
    steady = captured > captured.min() + 5 if len(captured) else captured.astype(bool)
    total, judge, deliver = ((received - captured) * 1000, (detected - captured) * 1000,
                             (received - detected) * 1000)
    out: dict[str, list[float]] = {"events": [float(events)], "delivered": [float(len(keys))]}
    for name, xs in (("total", total), ("detect+confirm", judge), ("store→platform", deliver)):
        out[f"{name} p50"] = [float(np.percentile(xs[steady], 50))]
        out[f"{name} p99"] = [float(np.percentile(xs[steady], 99))]
    return out


def measure(cameras: int = 20, seconds: float = 40.0, rounds: int = 3,
            store: str = "postgres") -> dict[str, list[float]]:
    res: dict[str, list[float]] = {}
    for _ in range(rounds):
        for k, v in one_round(cameras, seconds, store).items():
            res.setdefault(k, []).extend(v)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    a = ap.parse_args()
    res = measure(a.cameras, a.seconds, a.rounds, a.store)
    print(f"{a.cameras} cameras x 5 fps, {a.store}, {a.rounds} rounds of {a.seconds:g} s: "
          f"events {res['events']}, delivered {res['delivered']}")
    for k, xs in res.items():
        if k.endswith(("p50", "p99")):
            print(f"  {k:22} {median_range(xs, '.1f'):>24} ms")


if __name__ == "__main__":
    main()
