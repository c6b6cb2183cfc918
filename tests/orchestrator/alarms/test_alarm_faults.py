"""1,000 alarms while RabbitMQ restarts, the platform answers 500, and the orchestrator is
killed mid-stream: every alarm reaches the platform and DingTalk, none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from orchestrator.config import AlarmConfig
from tests.alarm_peers import Peers
from tests.control_helpers import wait_for
from tests.orchestrator.alarms.test_alarms import AMQP, SECRET, _delete_topology

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]
N, RATE = 1000, 100.0


ROOT = Path(__file__).parents[3]


def spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    # Modules run from the project root (a script's own folder on sys.path would put
    # tests/orchestrator in place of the orchestrator package).
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), env=env, cwd=ROOT)


def events_in(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=10) as c:
            return int(c.execute("select count(*) from events").fetchone()[0])
    except sqlite3.OperationalError:  # not made yet
        return 0


def restart_rabbitmq() -> None:
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
    time.sleep(2.0)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)


def test_thousand_alarms_through_faults(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    with Peers(SECRET, per_minute=20) as peers:
        cfg = tmp_path / "site.yaml"
        cfg.write_text(yaml.safe_dump({
            "outputs": {"data_dir": str(tmp_path / "data")},
            "alarms": {"amqp_url": AMQP, "exchange": f"faults.{tag}",
                       "queue_prefix": f"faults.{tag}", "max_attempts": 100,
                       "retry_delays_s": [0.5, 1.0, 2.0], "prefetch": 200,
                       "platform_url": peers.platform_url, "dingtalk_url": peers.dingtalk_url,
                       "dingtalk_secret": SECRET, "dingtalk_per_minute": 20}}))
        procs = [spawn("-m", "orchestrator", "deliver", "platform", "-c", str(cfg),
                       log=tmp_path / "platform.log"),
                 spawn("-m", "orchestrator", "deliver", "dingtalk", "-c", str(cfg), "--batch",
                       "100", log=tmp_path / "dingtalk.log")]
        producer = spawn("-m", "tests.alarm_producer", str(cfg), str(N), str(RATE),
                         log=tmp_path / "producer-1.log")
        t0 = time.monotonic()
        db = tmp_path / "data" / "events.db"
        try:
            wait_for(lambda: len(peers.platform_requests) >= 50, 60, what="alarms flowing")
            peers.fail_until = time.monotonic() + 60.0  # (b) the platform answers 500 a minute
            recorded = events_in(db)
            wait_for(lambda: events_in(db) >= recorded + 50, 60, what="more alarms recorded")
            producer.send_signal(signal.SIGKILL)  # (c) the orchestrator dies mid-stream
            producer.wait()
            recorded = events_in(db)
            producer = spawn("-m", "tests.alarm_producer", str(cfg), str(N), str(RATE),
                             log=tmp_path / "producer-2.log")
            restart = threading.Thread(target=restart_rabbitmq)  # (a) the broker restarts
            wait_for(lambda: events_in(db) >= recorded + 50, 60,
                     what="the second producer recording")
            restart.start()
            restart.join()
            took = wait_for(lambda: len(peers.platform_requests) >= N
                            and len(peers.dingtalk_ids()) >= N, 240, step=0.5,
                            what="every alarm at both peers")
        finally:
            for p in [producer, *procs]:
                p.send_signal(signal.SIGTERM)
            for p in [producer, *procs]:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
            subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, check=False)
            asyncio.run(_delete_topology(AlarmConfig(exchange=f"faults.{tag}",
                                                     queue_prefix=f"faults.{tag}",
                                                     retry_delays_s=[0.5, 1.0, 2.0])))
        posts = sum(peers.platform_requests.values())
        ids = peers.dingtalk_ids()
        print(f"\n{N} alarms through a broker restart, a minute of platform 500s, a killed "
              f"orchestrator, delivered {time.monotonic() - t0:.1f} s after the start "
              f"({took:.1f} s waiting): platform {len(peers.platform_requests)} unique / "
              f"{posts} accepted, DingTalk {len(ids)} unique in {len(peers.dingtalk_messages)} "
              f"messages ({peers.dingtalk_rejected} refused)")
        assert len(peers.platform_requests) == N and set(peers.platform_requests.values()) == {1}
        assert len(ids) == N and peers.dingtalk_alarm_count() == N
