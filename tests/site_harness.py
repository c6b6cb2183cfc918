"""A whole small site on localhost, as an operator meets it: a real RTSP camera (gst-rtsp-server,
the Stadtmitte street played back and forth), `perishield worker`, `relay`, `deliver platform`
and `api` as processes on the real Redis (a private prefix), SQLite, RabbitMQ (private exchange
and queues) and a local 3D platform (``Peers``). Used by the browser tests and bench/webload.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aio_pika
import yaml

from api.auth import hash_password, new_token
from orchestrator.events.store import EventStore
from orchestrator.triton.server import free_port
from tests.alarm_peers import Peers
from tests.control_helpers import client, wait_for
from tests.rtsp.server import RtspServer, palindrome

ROOT = Path(__file__).parents[1]
SHARED = ROOT.parent / "shared" / "data"
PASSWORD = "correct horse battery"
# Drawn across the street for the test (not the demo's rules): people cross it every few s.
GATE = {"name": "gate", "points": [[320, 200], [320, 460]], "direction": "any"}


def camera_doc(source: str, lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": "street", "name": "Pedestrian street", "source": source,
            "analysis_fps": 5, "lines": [GATE] if lines is None else lines,
            "rules": {"confirm_frames": 2, "cooldown_s": 5,
                      "filter": {"classes": ["person"], "min_size": [15, 40]}}}


class Site:
    def __init__(self, cache: Path, workers: int = 1) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="perishield-site-"))
        self.tag = uuid.uuid4().hex[:8]
        self.prefix = f"site{self.tag}:"
        self.workers = workers
        self.clip = palindrome(SHARED / "TUD-Stadtmitte.mp4", cache / "street-palindrome.mp4", 6)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.peers = Peers("unused", per_minute=1000)
        self.rtsp = RtspServer({"/street": self.clip})
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.store_url = f"sqlite:///{self.tmp / 'data' / 'events.db'}"
        self.redis = client()
        self.token = ""

    def config(self) -> Path:
        path = self.tmp / "site.yaml"
        path.write_text(yaml.safe_dump({
            "detector": {"model": "fastestdet.onnx", "format": "fastestdet",
                         "classes": ["person"]},
            "control": {"prefix": self.prefix, "heartbeat_s": 2, "claim_interval_s": 0.5,
                        "status_interval_s": 1},
            "outputs": {"data_dir": str(self.tmp / "data"), "pre_roll_s": 2,
                        "post_roll_s": 2},
            "alarms": {"exchange": f"site.{self.tag}", "queue_prefix": f"site.{self.tag}",
                       "platform_url": self.peers.platform_url,
                       "evidence_secret": "site-secret",
                       "evidence_base_url": f"{self.url}/evidence"}}))
        return path

    def spawn(self, name: str, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *args], stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / f"{name}.log", "w"), env=env,  # noqa: SIM115
            start_new_session=True)

    def start(self) -> Site:
        self.peers.__enter__()
        self.rtsp.start()
        cfg = self.config()
        store = EventStore(self.store_url)
        for name, role in (("ada", "admin"), ("otto", "operator"), ("vera", "viewer")):
            store.put_user(name, hash_password(PASSWORD), role)
        self.token = new_token(store, "vera", "load", 1)
        store.close()
        doc = self.tmp / "street.yaml"
        doc.write_text(yaml.safe_dump({"cameras": [camera_doc(self.rtsp.url("/street"))]}))
        subprocess.run([sys.executable, "-m", "orchestrator", "params", "import", str(doc),
                        "-c", str(cfg)], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.spawn("api", "api", "-c", str(cfg), "--port", str(self.api_port))
        for i in range(self.workers):
            self.spawn(f"w{i}", "worker", "-c", str(cfg), "--id", f"w{i}")
        self.spawn("relay", "relay", "-c", str(cfg))
        self.spawn("deliver", "deliver", "platform", "-c", str(cfg))
        wait_for(self._api_up, 60, what="the API")
        wait_for(lambda: self.redis.hget(f"{self.prefix}status:camera:street", "state")
                 == "live", 90, what="the camera live on a worker")
        return self

    def _api_up(self) -> bool:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def events(self) -> list[Any]:
        store = EventStore(self.store_url, create=False)
        try:
            return store.query(camera="street", limit=1000)
        finally:
            store.close()

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 20
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.rtsp.stop()
        self.peers.__exit__(None, None, None)
        for key in self.redis.scan_iter(f"{self.prefix}*"):
            self.redis.delete(key)
        # In a thread of its own: the caller's thread may hold an event loop (Playwright's).
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, delete_topology(f"site.{self.tag}")).result()


async def delete_topology(name: str) -> None:
    """The site's exchange and queues on the shared RabbitMQ."""
    conn = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with conn:
        ch = await conn.channel()
        q = f"{name}.platform"
        for queue in [q, f"{q}.dlq", *(f"{q}.retry.{i}" for i in range(6))]:
            await ch.queue_delete(queue)
        await ch.exchange_delete(name)
