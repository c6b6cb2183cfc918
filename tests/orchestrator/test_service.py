"""Several cameras in one process: batching across cameras, failures stay local."""

from __future__ import annotations

import asyncio
from pathlib import Path

from orchestrator.config import Settings
from orchestrator.events.store import EventStore
from orchestrator.service import Service

GATE = {"name": "gate", "points": [[320, 200], [320, 460]]}


def settings(tmp_path: Path, cameras: list[dict]) -> Settings:
    return Settings.model_validate({"cameras": cameras, "outputs": {"data_dir": str(tmp_path)}})


def test_dead_camera_does_not_stop_the_others(tmp_path: Path, stadtmitte: Path) -> None:
    s = settings(tmp_path, [
        {"id": "good-1", "source": str(stadtmitte), "analysis_fps": 10, "lines": [GATE]},
        {"id": "dead", "source": str(tmp_path / "missing.mp4"), "lines": [GATE]},
        {"id": "good-2", "source": str(stadtmitte), "analysis_fps": 10, "lines": [GATE]},
    ])
    service = Service(s)
    stats = asyncio.run(service.run(restart_failed=False))
    assert stats["dead"].state == "failed" and "not found" in stats["dead"].reason
    for cam in ("good-1", "good-2"):
        assert stats[cam].state == "ended" and stats[cam].frames_analysed == 72
    by_cam = {cam: sorted((e.rule, e.direction) for e in service.events if e.camera == cam)
              for cam in ("good-1", "good-2")}
    assert by_cam["good-1"] == by_cam["good-2"] == [("gate", "a_to_b"), ("gate", "b_to_a")]
    store = EventStore(s.outputs.store_url)
    assert len(store.query(camera="good-1")) == 2 and store.query(camera="dead") == []


def test_failed_camera_is_restarted_with_backoff(tmp_path: Path, stadtmitte: Path) -> None:
    target = tmp_path / "late.mp4"
    s = settings(tmp_path, [{"id": "late", "source": str(target), "lines": [GATE]}])
    service = Service(s, max_restart_delay_s=0.5)

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        for _ in range(200):  # the file is missing: the camera fails and retries, twice
            st = service.stats.get("late")
            if st is not None and len(st.errors) >= 2:
                break
            await asyncio.sleep(0.05)
        target.write_bytes(stadtmitte.read_bytes())
        for _ in range(100):
            await asyncio.sleep(0.1)
            pipe = service.pipelines.get("late")
            if pipe and pipe.stats.state == "ended":
                break
        task.cancel()

    asyncio.run(scenario())
    pipe = service.pipelines["late"]
    assert pipe.stats.state == "ended" and pipe.stats.frames_analysed > 0
    assert len(pipe.stats.errors) >= 2 and "not found" in pipe.stats.errors[0]


def test_reconnect_backoff_stays_short_for_a_camera_live_minutes_ago() -> None:
    from orchestrator.service import next_retry_delay

    delay, waits = 1.0, []
    for blind in range(0, 600, 10):  # failing every 10 s for 10 minutes
        delay = next_retry_delay(delay, blind, 30.0)
        waits.append((blind, delay))
    assert all(d <= 3.0 for b, d in waits if b < 300)  # live minutes ago: a few seconds
    assert waits[-1][1] == 30.0  # gone for long: backs off to the maximum


def test_cameras_tracked_in_batches_fire_the_events_they_fire_alone(
        tmp_path: Path, stadtmitte: Path, campus: Path) -> None:
    """The service tracks the cameras of a detector batch in one call; each camera's events
    are those of analysing it alone (the accuracy rule sets on both shared sequences)."""
    import yaml

    root = Path(__file__).parents[2] / "examples" / "rulesets"
    cams = []
    for name in ("stadtmitte-gates", "stadtmitte-zones", "stadtmitte-polyline", "campus-gates",
                 "campus-zones"):
        cam = yaml.safe_load((root / f"{name}.yaml").read_text())["cameras"][0]
        cam.update(id=name, source=str(stadtmitte if name.startswith("stadt") else campus))
        cams.append(cam)

    def events(cameras: list[dict], where: Path) -> tuple[dict, Service]:
        s = Settings.model_validate({"cameras": cameras, "outputs": {"data_dir": str(where)},
                                     "detector": {"score_threshold": 0.3}})
        service = Service(s)
        asyncio.run(service.run(restart_failed=False))
        found: dict[str, list] = {}
        for e in service.events:
            found.setdefault(e.camera, []).append((e.rule, e.direction, e.track_id,
                                                   round(e.video_time, 2)))
        return {k: sorted(v) for k, v in found.items()}, service

    together, service = events(cams, tmp_path / "all")
    assert service.tracking.frames == 3 * 179 + 2 * 71  # every frame of every camera
    assert service.tracking.calls < service.tracking.frames / 2  # in batches
    alone = {}
    for i, cam in enumerate(cams):
        alone.update(events([cam], tmp_path / str(i))[0])
    assert together == alone
    assert sum(len(v) for v in alone.values()) >= 15


def test_a_released_camera_leaves_the_shared_tracking(tmp_path: Path) -> None:
    """A camera handed to another worker takes its tracks out of the process's batch."""
    import gc

    from tests.conftest import until

    s = Settings.model_validate({
        "cameras": [{"id": f"c{i}", "source": "synthetic://64x48", "analysis_fps": 20}
                    for i in range(3)],
        "detector": {"backend": "none"}, "outputs": {"data_dir": str(tmp_path)}})
    service = Service(s)

    async def scenario() -> tuple[int, int]:
        async with service.running():
            for cam in s.cameras:
                service.start_camera(cam)
            await until(lambda: all(st.frames_analysed >= 3 for st in service.stats.values())
                        and len(service.stats) == 3, 20, service.stats)
            before = service.tracking.batch.cameras
            await service.release_camera("c1")
            gc.collect()
            return before, service.tracking.batch.cameras

    assert asyncio.run(scenario()) == (3, 2)


def test_a_camera_goes_on_analysing_while_its_events_are_written(
        tmp_path: Path, stadtmitte: Path) -> None:
    """The store is locked by another writer (SQLite's exclusive lock: a slow disk, a long
    transaction): the camera's events wait to be stored, its frames do not; once the lock is
    gone every event is stored, in order."""
    import sqlite3

    from tests.conftest import until

    s = settings(tmp_path, [
        {"id": "cam", "source": str(stadtmitte), "analysis_fps": 10, "lines": [GATE]}])
    service = Service(s)

    async def scenario() -> int:
        task = asyncio.create_task(service.run(restart_failed=False))
        db = tmp_path / "events.db"
        await until(lambda: service.store is not None and db.exists(), 60)
        lock = sqlite3.connect(db, timeout=30, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            # Both crossings judged and the whole file analysed while neither can be stored.
            await until(lambda: "cam" in service.stats
                        and service.stats["cam"].frames_analysed == 72, 60, service.stats)
            assert service.stats["cam"].events == 2 and not service.events
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        stats = await task
        assert stats["cam"].state == "ended", stats["cam"].reason
        return len(EventStore(s.outputs.store_url).query(camera="cam"))

    assert asyncio.run(scenario()) == 2
    assert [(e.rule, e.direction) for e in service.events] == [("gate", "a_to_b"),
                                                              ("gate", "b_to_a")]
