"""Control plane against the real Redis with real worker processes."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import load_settings
from orchestrator.control.params import InvalidParameters, ParamCenter, StaleVersion
from orchestrator.control.redis_client import Keys, connect
from orchestrator.events.store import EventStore
from orchestrator.triton.server import free_port
from tests.control_helpers import (
    WorkerProc,
    client,
    leases,
    metric,
    running,
    synthetic,
    wait_for,
    write_site,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"test-{uuid.uuid4().hex[:8]}:"
    yield p
    r = client()
    keys = list(r.scan_iter(f"{p}*"))
    if keys:
        r.delete(*keys)


def import_params(config: Path) -> None:
    settings = load_settings(config)

    async def main() -> None:
        r = connect(settings.control.redis_url)
        try:
            await ParamCenter(r, Keys(settings.control.prefix)).import_settings(settings)
        finally:
            await r.aclose()

    asyncio.run(main())


def test_thirty_cameras_three_workers_then_kill_9(tmp_path: Path, prefix: str) -> None:
    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(30), heartbeat_s=10)
    import_params(cfg)
    r = client()
    workers = [WorkerProc(cfg, f"w{i}") for i in range(3)]
    try:
        wait_for(lambda: len(leases(r, prefix)) == 30
                 and sum(len(v) for v in running(r, prefix).values()) == 30, 40,
                 what="30 cameras leased and running")
        # Rebalancing hands cameras over at each heartbeat (10 s here): a few rounds, more
        # when a loaded machine starts the workers seconds apart.
        wait_for(lambda: sorted(Counter(leases(r, prefix).values()).values()) == [10, 10, 10],
                 90, what="an even spread")
        every_camera = sorted(f"cam{i:02d}" for i in range(30))
        wait_for(lambda: sorted(c for cams in running(r, prefix).values() for c in cams)
                 == every_camera, 10, what="every camera running exactly once")
        victim = workers[0]
        orphans = {c for c, w in leases(r, prefix).items() if w == victim.id}
        killed_at = time.time()
        victim.signal(signal.SIGKILL)
        moved = wait_for(lambda: all(leases(r, prefix).get(c) not in (None, victim.id)
                                     for c in orphans)
                         and orphans <= {c for w, cams in running(r, prefix).items()
                                         if w != victim.id for c in cams}, 30,
                         what="orphaned cameras running elsewhere")
        print(f"kill -9 with a 10 s heartbeat: {len(orphans)} cameras running on the other "
              f"workers after {moved:.1f} s")
        assert moved <= 15.0
        wait_for(lambda: sorted(c for w, cams in running(r, prefix).items()
                                if w != victim.id for c in cams) == every_camera, 10,
                 what="30 cameras on the two survivors")
    finally:
        for w in workers:
            w.stop()
    assert_never_twice(_intervals(workers, ended={victim.id: killed_at}))


def test_parameter_change_applied_within_a_second(tmp_path: Path, prefix: str) -> None:
    cams = synthetic(2, fps=5)
    cfg = write_site(tmp_path / "site.yaml", prefix, cams, heartbeat_s=10)
    import_params(cfg)
    r = client()
    worker = WorkerProc(cfg, "w0")
    try:
        wait_for(lambda: len(running(r, prefix).get("w0", [])) == 2, 30, what="cameras up")
        settings = load_settings(cfg)

        async def change() -> tuple[float, int]:
            rc = connect(settings.control.redis_url)
            pc = ParamCenter(rc, Keys(prefix))
            try:
                current = await pc.get("cam00")
                assert current is not None
                doc = current.camera.model_dump(mode="json")
                doc["zones"] = [{"name": "yard", "points": [[0, 0], [100, 0], [100, 100]]}]
                t0 = time.monotonic()
                version = await pc.put(doc, expected_version=current.version)
                while int(await rc.hget(f"{prefix}status:camera:cam00", "params_version")
                          or 0) != version:
                    await asyncio.sleep(0.01)
                applied_in = time.monotonic() - t0
                deadline = time.monotonic() + 15  # the status says how long it has been blind
                while await rc.hget(f"{prefix}status:camera:cam00", "blind_s") is None:
                    assert time.monotonic() < deadline, "no blind_s in the camera's status"
                    await asyncio.sleep(0.05)
                with pytest.raises(StaleVersion, match="stale"):
                    await pc.put(doc, expected_version=current.version)
                bad = {**doc, "zones": [{"name": "yard", "points": [[0, 0], [1, 1]]}]}
                with pytest.raises(InvalidParameters, match="polygon needs >=3 points"):
                    await pc.put(bad)
                assert (await pc.get("cam00")).version == version  # type: ignore[union-attr]
                return applied_in, version
            finally:
                await rc.aclose()

        applied_in, version = asyncio.run(change())
        print(f"parameter change applied by the worker in {applied_in * 1000:.0f} ms")
        assert applied_in < 1.0
        # zones: applied hot, no stream restart
        wait_for(lambda: f"parameters v{version} applied (hot)" in worker.text(), 10,
                 what="the worker's log of the change")
    finally:
        worker.stop()


def test_pause_resume_and_drain(tmp_path: Path, prefix: str) -> None:
    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(4), heartbeat_s=2)
    import_params(cfg)
    r = client()
    a = WorkerProc(cfg, "wa")
    try:
        wait_for(lambda: len(running(r, prefix).get("wa", [])) == 4, 30, what="4 on wa")
        from orchestrator.cli import main

        assert main(["control", "pause", "cam01", "-c", str(cfg)]) == 0
        wait_for(lambda: "cam01" not in running(r, prefix).get("wa", [])
                 and r.hget(f"{prefix}status:camera:cam01", "state") == "paused", 10,
                 what="paused")
        assert main(["control", "resume", "cam01", "-c", str(cfg)]) == 0
        wait_for(lambda: "cam01" in running(r, prefix).get("wa", []), 10, what="resumed")
        b = WorkerProc(cfg, "wb")
        try:
            wait_for(lambda: len(running(r, prefix).get("wb", [])) == 2, 30,
                     what="rebalanced onto the new worker")
            assert main(["control", "drain", "wa", "-c", str(cfg)]) == 0
            wait_for(lambda: len(running(r, prefix).get("wb", [])) == 4
                     and not running(r, prefix).get("wa"), 30, what="wa drained")
        finally:
            b.stop()
    finally:
        a.stop()


def test_paused_worker_stops_and_its_late_events_are_refused(tmp_path: Path, prefix: str,
                                                             stadtmitte: Path) -> None:
    cam = {"id": "gate", "source": str(stadtmitte), "realtime": True, "loop": True,
           "analysis_fps": 10, "rules": {"cooldown_s": 0, "confirm_frames": 2},
           "lines": [{"name": "gate", "points": [[320, 200], [320, 460]]}],
           "zones": [{"name": "plaza", "points": [[0, 300], [300, 300], [300, 479],
                                                  [0, 479]]}]}
    cfg = write_site(tmp_path / "site.yaml", prefix, [cam], heartbeat_s=2,
                     detector={"backend": "onnxruntime", "model": "fastestdet.onnx",
                               "format": "fastestdet", "threads": 1})
    import_params(cfg)
    r = client()
    db = tmp_path / "data" / "events.db"

    def events() -> list[tuple[str, int, str]]:
        if not db.exists():
            return []
        with sqlite3.connect(db) as c:
            return c.execute("select id, fence_token, detected_at from events").fetchall()

    first = WorkerProc(cfg, "first")
    second = None
    try:
        wait_for(lambda: leases(r, prefix).get("gate") == "first", 30, what="first leases")
        wait_for(events, 40, what="an event from the first worker")
        first_token = int(r.hget(f"{prefix}lease:gate", "token"))
        second = WorkerProc(cfg, "second")
        wait_for(lambda: r.exists(f"{prefix}worker:second"), 30, what="second registered")
        first.signal(signal.SIGSTOP)  # paused past its lease (2.4 s)
        wait_for(lambda: leases(r, prefix).get("gate") == "second", 30, what="takeover")
        takeover = time.time()
        wait_for(lambda: any(t > first_token for _, t, _ in events()), 40,
                 what="an event from the second worker")
        first.signal(signal.SIGCONT)  # wakes up with a stale lease
        wait_for(lambda: "lease on gate" in first.text(), 15, what="first notices the loss")
        wait_for(lambda: "gate" not in running(r, prefix).get("first", ["gate"]), 15,
                 what="first no longer running gate")
        late = [e for e in events() if e[1] == first_token
                and _epoch(e[2]) > takeover]
        assert late == []  # none of its late events was accepted
        with sqlite3.connect(db) as c:
            fence = c.execute("select token from camera_fences where camera_id='gate'"
                              ).fetchone()[0]
        assert fence > first_token
    finally:
        first.signal(signal.SIGCONT)
        first.stop()
        if second:
            second.stop()


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def assert_never_twice(per: dict[str, list[tuple[float, float, str]]]) -> None:
    for cam, spans in per.items():
        spans.sort()
        for (_s1, e1, w1), (s2, _e2, w2) in itertools.pairwise(spans):
            assert e1 <= s2, f"{cam} ran on {w1} and {w2} at once ({s2:.3f} < {e1:.3f})"


def _intervals(workers: list[WorkerProc], ended: dict[str, float] | None = None
               ) -> dict[str, list[tuple[float, float, str]]]:
    """Per camera, the [leased, stopped] intervals of every worker, from their logs."""
    from datetime import datetime

    per: dict[str, list[tuple[float, float, str]]] = {}
    for w in workers:
        open_: dict[str, float] = {}
        for line in w.text().splitlines():
            m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?: (leased|stopped) (\S+)",
                         line)
            if not m:
                continue
            t = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if m[2] == "leased":
                open_[m[3]] = t
            elif m[3] in open_:
                per.setdefault(m[3], []).append((open_.pop(m[3]), t, w.id))
        for cam, t in open_.items():  # still running at the end, or until the worker died
            per.setdefault(cam, []).append((t, (ended or {}).get(w.id, float("inf")), w.id))
    return per


def test_redis_restart_workers_reestablish_leases_never_twice(tmp_path: Path,
                                                              prefix: str) -> None:
    import subprocess

    from orchestrator.triton.server import free_port

    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "yes", "--dir", str(data)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    r = client(url)
    wait_for(lambda: _ping(r), 10, what="private redis")
    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(6, fps=2), redis_url=url,
                     heartbeat_s=2)
    import_params(cfg)
    workers = [WorkerProc(cfg, "wa"), WorkerProc(cfg, "wb")]
    try:
        wait_for(lambda: sum(len(v) for v in running(r, prefix).values()) == 6, 30,
                 what="6 cameras running")
        server.terminate()  # SIGTERM: Redis writes its AOF and exits
        server.wait(10)
        time.sleep(3.0)  # longer than a lease: workers must stop trusting theirs
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        wait_for(lambda: _ping(r), 10, what="redis back")
        back = wait_for(lambda: len(leases(r, prefix)) == 6
                        and sum(len(v) for v in running(r, prefix).values()) == 6, 30,
                        what="leases re-established")
        print(f"Redis restarted: all 6 cameras leased and running again {back:.1f} s later")
    finally:
        for w in workers:
            w.stop()
        server.terminate()
        server.wait(10)
    per = _intervals(workers)
    assert set(per) == {f"cam{i:02d}" for i in range(6)}
    assert_never_twice(per)
    assert any(len(spans) > 1 for spans in per.values())  # leases were really re-taken


def _ping(r: object) -> bool:
    try:
        return bool(r.ping())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - not up yet
        return False


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", *map(str, args)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_poisoned_document_disables_its_camera_alone(tmp_path: Path, prefix: str) -> None:
    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(4), heartbeat_s=2)
    import_params(cfg)
    r = client()
    # Refused at the door: NaN and infinity, a zone crossing itself, a 200,000-point zone.
    doc = {"id": "cam01", "source": "synthetic://160x120", "analysis_fps": 1}
    bad = tmp_path / "bad.yaml"
    for zone, fault in (([[0, 0], [".nan", 1], [5, 5]], "finite number"),
                        ([[0, 0], [10, 10], [10, 0], [0, 10]], "crosses itself"),
                        ([[i % 640, i % 480] for i in range(600)], "at most 500"),
                        ([[i % 640, i % 480] for i in range(200_000)], "at most")):
        bad.write_text(yaml.safe_dump({**doc, "zones": [{"name": "z", "points": zone}]})
                       .replace("'.nan'", ".nan"))
        t0 = time.monotonic()
        out = cli("params", "put", bad, "-c", cfg)
        print(f"{fault}: refused in {time.monotonic() - t0:.1f} s")
        assert out.returncode == 2 and fault in out.stderr, out.stderr
    assert r.hget(f"{prefix}params:cam01", "version") == "1"  # nothing was written
    # One already in Redis (written around the parameter center): the site goes on.
    r.hset(f"{prefix}params:cam01", mapping={
        "doc": '{"id": "cam01", "source": "x", "zones": [{"name": "z", "points": '
               '[[0, 0], [null, 1], [5, 5]]}]}', "version": 2})
    listed = cli("params", "list", "-c", cfg)
    assert listed.returncode == 0 and "INVALID" in listed.stdout, listed.stderr
    assert listed.stdout.split()[4:8] == ["zones", "lines", "routes", "climbs"], listed.stdout
    assert all(f"cam0{i}" in listed.stdout for i in range(4))
    assert cli("params", "get", "cam00", "-c", cfg).returncode == 0
    worker = WorkerProc(cfg, "w0")
    try:
        wait_for(lambda: sorted(running(r, prefix).get("w0", [])) == ["cam00", "cam02",
                                                                     "cam03"], 30,
                 what="the three valid cameras running")
        wait_for(lambda: r.hget(f"{prefix}status:camera:cam01", "state") == "invalid", 10,
                 what="the poisoned camera shown invalid")
        assert "zones.0.points" in (r.hget(f"{prefix}status:camera:cam01", "reason") or "")
        token = r.hget(f"{prefix}lease:cam01", "token")
        # Another camera's change is applied at once; the bad one's lease does not churn.
        changed = tmp_path / "cam02.yaml"
        changed.write_text(yaml.safe_dump({"id": "cam02", "source": "synthetic://160x120",
                                           "analysis_fps": 2}))
        assert cli("params", "put", changed, "-c", cfg).returncode == 0
        wait_for(lambda: r.hget(f"{prefix}status:camera:cam02", "params_version") == "2", 5,
                 what="cam02's change applied")
        assert r.hget(f"{prefix}lease:cam01", "token") == token
        # Fixed: it runs.
        fixed = tmp_path / "cam01.yaml"
        fixed.write_text(yaml.safe_dump(doc))
        assert cli("params", "put", fixed, "-c", cfg).returncode == 0
        wait_for(lambda: "cam01" in running(r, prefix).get("w0", []), 10,
                 what="cam01 running once valid")
    finally:
        worker.stop()


def test_a_claim_that_fails_leaves_the_worker_working(tmp_path: Path, prefix: str) -> None:
    # The store refuses cam03's lease token (a newer one is recorded): taking it fails on
    # every round. The claim loop logs, counts and goes on; the other cameras run.
    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(4), heartbeat_s=2)
    import_params(cfg)
    EventStore(load_settings(cfg).outputs.store_url).advance_fence("cam03", 10**12)
    r = client()
    port = free_port()
    worker = WorkerProc(cfg, "w0", "--metrics-port", str(port))
    try:
        wait_for(lambda: sorted(running(r, prefix).get("w0", [])) == ["cam00", "cam01",
                                                                     "cam02"], 30,
                 what="the other cameras running")

        def claim_failures() -> float:
            got = metric(port, r'perishield_worker_task_failures_total\{task="claim"\} (\S+)')
            return float(got[0]) if got else 0.0

        wait_for(lambda: claim_failures() >= 2, 20, what="claim failures counted")
        # a new camera is still taken: the claim loop lives
        new = tmp_path / "cam04.yaml"
        new.write_text(yaml.safe_dump({"id": "cam04", "source": "synthetic://160x120"}))
        assert cli("params", "put", new, "-c", cfg).returncode == 0
        wait_for(lambda: "cam04" in running(r, prefix).get("w0", []), 15,
                 what="a new camera taken")
        assert "cam03 not taken: StaleFenceError" in worker.text()
    finally:
        worker.stop()


def test_cameras_handed_off_leave_nothing_behind(tmp_path: Path, prefix: str) -> None:
    # w0 runs all four, then w1 joins and takes half: w0's metrics report only what it holds.
    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(4), heartbeat_s=1)
    import_params(cfg)
    r = client()
    port = free_port()
    w0 = WorkerProc(cfg, "w0", "--metrics-port", str(port))
    w1 = None

    def reported() -> set[str]:
        return set(metric(port, r'perishield_camera_frames_analysed_total\{camera="([^"]+)"\}'))

    try:
        wait_for(lambda: len(running(r, prefix).get("w0", [])) == 4, 30, what="w0 runs all")
        wait_for(lambda: len(reported()) == 4, 10, what="w0 reports four cameras")
        w1 = WorkerProc(cfg, "w1")
        wait_for(lambda: sorted(Counter(leases(r, prefix).values()).values()) == [2, 2], 40,
                 what="two cameras each")

        def own() -> set[str]:
            return {c for c, w in leases(r, prefix).items() if w == "w0"}

        # (read together: a loaded machine may still move a camera between the two workers)
        wait_for(lambda: len(held := own()) == 2 and reported() == held, 20,
                 what="w0 reporting only its own cameras")
    finally:
        w0.stop()
        if w1 is not None:
            w1.stop()


def test_a_late_event_loop_keeps_its_leases_and_a_stopped_one_lets_them_go(
        tmp_path: Path, prefix: str) -> None:
    """An overloaded worker's event loop runs seconds late: its leases are renewed and claimed
    on threads of their own, so it keeps them and takes new cameras. A loop that does not run
    at all (three heartbeats) lets them expire, and the cameras are free for the other
    workers."""
    from orchestrator.control.worker import Worker

    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(3, fps=5), heartbeat_s=3)
    import_params(cfg)
    r = client()
    cams = {"cam00", "cam01", "cam02"}

    def ours() -> set[str]:
        return {c for c, w in leases(r, prefix).items() if w == "inproc"}

    def block(seconds: float, check: Any) -> None:
        """The event loop does nothing for ``seconds`` (this runs on it), while ``check``
        is asked every 0.1 s."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            check()
            time.sleep(0.1)

    async def main() -> None:
        worker = Worker(load_settings(cfg), "inproc")
        task = asyncio.create_task(worker.run())
        try:
            while ours() != cams or len(worker.service.running_cameras) < 3:
                assert not task.done(), task
                await asyncio.sleep(0.1)

            def kept() -> None:
                assert ours() >= cams, "a lease expired while the loop was late"
            # Twice the lease's TTL (3.6 s) without the loop: renewals still go out, and a
            # camera enabled meanwhile is claimed (and started once the loop runs).
            new = tmp_path / "cam03.yaml"
            new.write_text(yaml.safe_dump({"id": "cam03", "source": "synthetic://160x120"}))
            t0 = time.monotonic()
            assert cli("params", "put", new, "-c", cfg).returncode == 0
            block(max(0.0, 7.5 - (time.monotonic() - t0)), kept)
            assert ours() == cams | {"cam03"}, "not claimed while the loop was late"
            await asyncio.sleep(1.0)  # the watchdog runs again
            cams.add("cam03")
            assert worker.lease_events["lost"] == 0
            assert set(worker.held) == cams and len(worker.service.running_cameras) == 4
            assert worker.loop_lag_s >= 7.0
            assert worker.lease_events["renewed"] >= 3 * 4

            # Stalled past three heartbeats: no renewal, the leases expire.
            gone: list[float] = []
            t0 = time.monotonic()

            def expired() -> None:
                if not gone and not ours():
                    gone.append(time.monotonic() - t0)
            block(16.0, expired)
            assert gone and gone[0] > 9.0, gone  # not before the stall was three heartbeats
            while worker.lease_events["lost"] < 4:  # the watchdog stops them, then re-claims
                await asyncio.sleep(0.1)
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, 60)

    asyncio.run(main())
    assert not leases(r, prefix)  # released at the stop


def test_cameras_being_taken_are_renewed_from_their_claim(tmp_path: Path, prefix: str) -> None:
    """Taking a camera can be slow (here the event store is locked while its fence is
    recorded; at scale, hundreds of cameras on a busy loop): its lease is renewed from the
    claim on, so it does not expire before the camera runs."""
    import sqlite3

    from orchestrator.control.worker import Worker

    cfg = write_site(tmp_path / "site.yaml", prefix, synthetic(3), heartbeat_s=2)
    settings = load_settings(cfg)
    r = client()
    cams = {"cam00", "cam01", "cam02"}

    async def main() -> None:
        worker = Worker(settings, "inproc")
        task = asyncio.create_task(worker.run())
        db = tmp_path / "data" / "events.db"
        while worker.service.store is None or not db.exists():
            assert not task.done(), task
            await asyncio.sleep(0.1)
        lock = sqlite3.connect(db, timeout=30, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            redis = connect(settings.control.redis_url)
            await ParamCenter(redis, Keys(prefix)).import_settings(settings)
            await redis.aclose()
            while set(leases(r, prefix)) != cams:
                await asyncio.sleep(0.1)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 6.0:  # 2.5 lease lifetimes
                assert set(leases(r, prefix)) == cams, "a lease expired while being taken"
                assert not worker.service.running_cameras
                await asyncio.sleep(0.1)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        try:
            while len(worker.service.running_cameras) < 3:
                await asyncio.sleep(0.1)
            assert worker.lease_events == {"taken": 3, "lost": 0, "handed_off": 0,
                                           "renewed": worker.lease_events["renewed"]}
            assert not worker.failures
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, 60)

    asyncio.run(main())


def test_a_periodic_task_ends_at_the_stop_even_if_its_cancel_is_swallowed(
        tmp_path: Path, prefix: str) -> None:
    """A cancellation that meets a Redis call's own deadline can come out as that call's
    TimeoutError (an OSError, which a periodic task logs and retries): the task must still
    end when the worker stops, or the worker never stops its cameras."""
    from orchestrator.control.worker import Worker

    worker = Worker(load_settings(write_site(tmp_path / "site.yaml", prefix, synthetic(1))))
    runs: list[float] = []
    swallow = [True]

    async def step() -> None:
        runs.append(time.monotonic())
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if not swallow[0]:
                raise
            raise TimeoutError("Timeout reading from socket") from None

    async def main() -> bool:
        task = asyncio.create_task(worker._every(0.01, step, "status"))
        while len(runs) < 3:
            await asyncio.sleep(0.01)
        worker.request_stop()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        swallow[0] = False  # so that a failing run still ends
        task.cancel()
        return bool(done)

    assert asyncio.run(main()), "the task went on after the stop"
    assert worker.failures == {"status": 1}  # the swallowed cancel, logged once
