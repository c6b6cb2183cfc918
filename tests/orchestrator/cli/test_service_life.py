"""`perishield run` as a real process: metrics while it runs, a graceful SIGTERM."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from orchestrator import memory
from orchestrator.triton.server import free_port


def test_sigterm_finishes_events_and_flushes_clips(tmp_path: Path, stadtmitte: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"""
cameras:
  - id: gate
    source: {stadtmitte}
    realtime: true
    loop: true
    analysis_fps: 10
    lines:
      - name: gate
        points: [[320, 200], [320, 460]]
outputs:
  data_dir: {tmp_path / 'data'}
  pre_roll_s: 1
  post_roll_s: 30
process:
  heap_trim_s: 0.2
""")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", "-c", str(cfg),
                             "--metrics-port", str(port), "--stop-deadline", "15"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "data" / "events.db"
    try:
        deadline = time.monotonic() + 60
        rows: list = []
        while time.monotonic() < deadline and not rows:
            time.sleep(0.2)
            if db.exists():
                with sqlite3.connect(db) as c:
                    try:
                        rows = c.execute("select id, clip_status from events").fetchall()
                    except sqlite3.OperationalError:  # the store is making its tables
                        continue
        assert rows, "no event within 60 s"
        assert rows[0][1] == "pending"  # 30 s of post-roll: the clip waits
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'perishield_camera_frames_analysed_total{camera="gate"}' in metrics
        assert 'perishield_camera_up{camera="gate",state="live"} 1.0' in metrics
        assert 'perishield_camera_decode_errors_total{camera="gate"} 0.0' in metrics
        assert 'perishield_camera_blind_seconds{camera="gate"} 0.0' in metrics
        # run re-executed itself on jemalloc (installed here: Redis depends on it), same pid
        allocator = "jemalloc" if memory.jemalloc_library() else "glibc"
        assert f'perishield_heap_bytes{{allocator="{allocator}",kind="free"}}' in metrics
        trims = re.search(r"^perishield_heap_trims_total (\S+)$", metrics, re.M)
        assert trims and float(trims[1]) >= 1, "the heap is trimmed every 0.2 s"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()  # type: ignore[union-attr]
    with sqlite3.connect(db) as c:
        rows = c.execute("select clip_status, clip_path from events").fetchall()
    assert rows and all(status == "ready" for status, _ in rows)  # flushed, not lost
    assert all((tmp_path / "data" / "evidence" / path).stat().st_size > 0 for _, path in rows)
    assert stopped_in < 15
