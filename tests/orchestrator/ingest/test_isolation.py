"""One camera's fault never slows another: silent, refusing and garbage-sending cameras beside
a good one (a real RTSP server), all real sockets on localhost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from orchestrator.config import Settings
from orchestrator.service import Service
from tests.conftest import run_until
from tests.rtsp.server import RtspServer, free_port, transcode

pytestmark = pytest.mark.rtsp
WINDOW_S = 12.0


class Peers:
    """A port that accepts and never answers, one that sends garbage, one that refuses."""

    def __init__(self) -> None:
        self.silent = self._listen()
        self.garbage = self._listen()
        self.refusing = free_port()  # nothing listens there
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        for srv, talk in ((self.silent, False), (self.garbage, True)):
            threading.Thread(target=self._serve, args=(srv, talk), daemon=True).start()

    @staticmethod
    def _listen() -> socket.socket:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        s.settimeout(0.2)
        return s

    def _serve(self, srv: socket.socket, talk: bool) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:  # closed: the test is over
                return
            self._held.append(conn)
            if talk:
                threading.Thread(target=self._babble, args=(conn,), daemon=True).start()

    def _babble(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                conn.sendall(os.urandom(4096))
                self._stop.wait(0.05)

    def port(self, which: str) -> int:
        return {"silent": self.silent.getsockname()[1],
                "garbage": self.garbage.getsockname()[1], "refusing": self.refusing}[which]

    def close(self) -> None:
        self._stop.set()
        for s in [self.silent, self.garbage, *self._held]:
            s.close()


@pytest.fixture()
def peers() -> Iterator[Peers]:
    p = Peers()
    yield p
    p.close()


def camera(cid: str, url: str) -> dict:
    return {"id": cid, "source": url, "analysis_fps": 5, "open_timeout_s": 10,
            "lines": [{"name": "gate", "points": [[320, 200], [320, 460]]}]}


def measure(tmp: Path, cameras: list[dict]) -> tuple[int, float]:
    """Frames the good camera analysed in the window, and its lag p99 (ms)."""
    settings = Settings.model_validate({"cameras": cameras, "detector": {"classes": ["person"]},
                                        "outputs": {"data_dir": str(tmp)}})
    service = Service(settings)
    stats = service.stats
    t0: list[float] = []

    def done() -> bool:
        good = stats.get("good")
        if good is None or good.frames_analysed == 0:
            return False
        if not t0:
            t0.append(time.monotonic())
            good.frames_analysed, good.lags = 0, type(good.lags)(maxlen=good.lags.maxlen)
        return time.monotonic() - t0[0] >= WINDOW_S

    asyncio.run(run_until(service, done, 90))
    good = stats["good"]
    return good.frames_analysed, good.lag_ms(99) or 0.0


def test_bad_cameras_do_not_slow_a_good_one(tmp_path: Path, stadtmitte: Path,
                                            peers: Peers) -> None:
    src = transcode(stadtmitte, tmp_path / "long.mp4", loops=8)
    with RtspServer({"/good": src}) as server:
        good = camera("good", server.url("/good"))
        alone_frames, alone_lag = measure(tmp_path / "alone", [good])
        bad = ([camera(f"silent{i}", f"rtsp://127.0.0.1:{peers.port('silent')}/s{i}")
                for i in range(20)]
               + [camera(f"refusing{i}", f"rtsp://127.0.0.1:{peers.port('refusing')}/r{i}")
                  for i in range(10)]
               + [camera("garbage", f"rtsp://127.0.0.1:{peers.port('garbage')}/g")])
        frames, lag = measure(tmp_path / "crowd", [good, *bad])
    print(f"good camera alone: {alone_frames} frames in {WINDOW_S:g} s, lag p99 "
          f"{alone_lag:.0f} ms; beside 31 bad ones: {frames} frames, lag p99 {lag:.0f} ms")
    assert frames >= alone_frames / 2
    # A fault that held the good camera up (an open or a read blocking the loop) would cost it
    # seconds (the open timeout is 10 s). The bad cameras' own reconnect attempts cost CPU:
    # on a busy two-core machine (`stress --cpu 2`) that is up to a few hundred ms at p99
    # (measured: 84 ms alone, 296 ms beside them), which is contention, not a fault.
    assert lag <= max(3 * alone_lag, 500.0)


def test_metrics_answer_and_sigterm_is_prompt_beside_bad_cameras(
        tmp_path: Path, stadtmitte: Path, peers: Peers) -> None:
    # The service as run in production (`perishield run`, its own process): /metrics answers
    # at once while 31 cameras hang, refuse or babble, and SIGTERM ends it in seconds.
    src = transcode(stadtmitte, tmp_path / "long.mp4", loops=8)
    with RtspServer({"/good": src}) as server:
        cams = ([camera("good", server.url("/good"))]
                + [camera(f"silent{i}", f"rtsp://127.0.0.1:{peers.port('silent')}/s{i}")
                   for i in range(20)]
                + [camera(f"refusing{i}", f"rtsp://127.0.0.1:{peers.port('refusing')}/r{i}")
                   for i in range(10)]
                + [camera("garbage", f"rtsp://127.0.0.1:{peers.port('garbage')}/g")])
        cfg = tmp_path / "site.yaml"
        cfg.write_text(yaml.safe_dump({"cameras": cams, "detector": {"classes": ["person"]},
                                       "outputs": {"data_dir": str(tmp_path / "data")}}))
        port = free_port()
        proc = subprocess.Popen([str(Path(sys.executable).with_name("perishield")), "run",
                                 "-c", str(cfg), "--metrics-port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            waits: list[float] = []
            analysed = 0.0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (len(waits) < 40 or analysed < 20):
                t = time.monotonic()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                                timeout=30) as r:
                        body = r.read().decode()
                except OSError:
                    time.sleep(0.2)  # not listening yet
                    continue
                waits.append(time.monotonic() - t)
                m = re.search(r'perishield_camera_frames_analysed_total\{camera="good"\} (\S+)',
                              body)
                analysed = float(m[1]) if m else 0.0
                time.sleep(0.25)
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
            stop_s = time.monotonic() - t
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print(f"/metrics: {len(waits)} scrapes, median {1000 * np.median(waits):.0f} ms, "
          f"max {1000 * max(waits):.0f} ms; good camera {analysed:.0f} frames; "
          f"SIGTERM to exit {stop_s:.1f} s (exit {code})")
    assert analysed >= 20, proc.stderr
    assert max(waits) < 1.0
    assert code == 0 and stop_s < 5.0
