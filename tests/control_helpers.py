"""Real worker processes and a real Redis for the control-plane tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import yaml

REDIS_URL = "redis://127.0.0.1:6379/0"


def wait_for(cond: Callable[[], Any], timeout: float, step: float = 0.1,
             what: str = "condition") -> float:
    """Seconds until ``cond()`` is truthy; fails after ``timeout``."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - t0


def write_site(path: Path, prefix: str, cameras: list[dict], redis_url: str = REDIS_URL,
               heartbeat_s: float = 10.0, detector: dict | None = None,
               capacity: int = 50) -> Path:
    doc = {"cameras": cameras, "detector": detector or {"backend": "none"},
           "control": {"redis_url": redis_url, "prefix": prefix, "heartbeat_s": heartbeat_s,
                       "claim_interval_s": 0.5, "status_interval_s": 0.5,
                       "capacity": capacity},
           "outputs": {"data_dir": str(path.parent / "data"), "pre_roll_s": 1,
                       "post_roll_s": 1}}
    path.write_text(yaml.safe_dump(doc))
    return path


def synthetic(n: int, fps: float = 1.0) -> list[dict]:
    return [{"id": f"cam{i:02d}", "source": "synthetic://160x120", "analysis_fps": fps}
            for i in range(n)]


class WorkerProc:
    """`perishield worker` in its own process."""

    def __init__(self, config: Path, worker_id: str, *extra: str) -> None:
        self.id = worker_id
        self.log = config.parent / f"{worker_id}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "worker", "-c", str(config), "--id",
             worker_id, *extra], stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),  # noqa: SIM115
            start_new_session=True)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def client(url: str = REDIS_URL) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def leases(r: redis.Redis, prefix: str) -> dict[str, str]:
    """Camera → worker of the leases that have not expired (by Redis' clock)."""
    sec, usec = r.time()
    now = sec * 1000 + usec // 1000
    out = {}
    for cam in r.smembers(f"{prefix}cameras:enabled"):
        worker, expires = r.hmget(f"{prefix}lease:{cam}", "worker", "expires")
        if worker and int(expires) > now:
            out[cam] = worker
    return out


def running(r: redis.Redis, prefix: str) -> dict[str, list[str]]:
    """Worker → cameras it reports running."""
    out = {}
    for w in r.smembers(f"{prefix}workers"):
        got = r.hget(f"{prefix}worker:{w}", "running")
        if got is not None:
            out[w] = [c for c in got.split(",") if c]
    return out


def metric(port: int, pattern: str) -> list[str]:
    """The values ``pattern`` (a regex with one group) finds in a worker's /metrics; none
    while it does not answer yet."""
    import re
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as f:
            body = f.read().decode()
    except OSError:
        return []
    return re.findall(pattern, body)
