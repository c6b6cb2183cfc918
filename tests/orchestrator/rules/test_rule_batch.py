"""Rules judged for many cameras at once give each camera exactly its own hits."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.config import CameraConfig
from orchestrator.evaluation.synthetic import Camera, Walker, frames
from orchestrator.rules import RuleBatch, RuleEngine
from orchestrator.rules.geometry import Shapes, ShapesBatch

LINES = [{"name": "wall", "points": [[0, 500], [1900, 500]], "direction": "any"},
         {"name": "kerb", "points": [[100, 700], [900, 640], [1800, 720]]},
         {"name": "gate", "points": [[960, 100], [960, 1000]], "direction": "a_to_b",
          "anchor": "center"}]
ZONES = [{"name": "yard", "points": [[400, 300], [1400, 300], [1400, 900], [400, 900]]},
         {"name": "dwell", "points": [[1000, 600], [1700, 600], [1700, 1000], [1000, 1000]],
          "min_dwell_s": 1.0, "filter": {"min_size": [10, 60]}}]


def camera(i: int) -> CameraConfig:
    """Cameras with different rule sets: lines only, zones only, all, none."""
    kinds = [(LINES, []), ([], ZONES), (LINES, ZONES), ([], []), (LINES[1:], ZONES[:1])]
    lines, zones = kinds[i % len(kinds)]
    return CameraConfig.model_validate({"id": f"c{i}", "source": "-", "lines": lines,
                                        "zones": zones, "rules": {"cooldown_s": 0}})


def scene(seed: int) -> dict[float, object]:
    rng = np.random.default_rng(seed)
    walkers = [Walker((float(rng.uniform(100, 1800)), float(rng.uniform(200, 1000))),
                      (float(rng.uniform(-250, 250)), float(rng.uniform(-250, 250))),
                      t0=float(rng.uniform(0, 3)), t1=float(rng.uniform(4, 9)),
                      height=float(rng.uniform(60, 200)))
               for _ in range(int(rng.integers(0, 7)))]
    cam = Camera(fps=10, jitter=float(rng.uniform(0, 4)), miss=0.1, seed=seed,
                 occluded=((0, 2.0, 2.6),), switch_at=((1, 4.0),),
                 dropped=tuple(float(x) for x in rng.uniform(0, 9, 3).round(1)))
    return {round(t, 3): det for t, det in frames(walkers, cam, 9.0)}


@pytest.mark.parametrize("seed", range(6))
def test_batched_rules_give_each_camera_its_own_hits(seed: int) -> None:
    n = 12
    scenes = [scene(seed * 100 + i) for i in range(n)]
    alone = [RuleEngine(camera(i)) for i in range(n)]
    batched = [RuleEngine(camera(i)) for i in range(n)]
    batch = RuleBatch(cache=2)  # small: cameras missing a frame change the combination
    want: list[list] = [[] for _ in range(n)]
    got: list[list] = [[] for _ in range(n)]
    times = sorted(set().union(*scenes))
    for t in times:
        present = [i for i in range(n) if t in scenes[i]]
        for i in present:
            want[i] += alone[i].update(scenes[i][t], t, size=(1920, 1080))  # type: ignore
        results = batch.judge([(batched[i], scenes[i][t], t, None, (1920, 1080), None)
                               for i in present])  # type: ignore[misc]
        for i, hits in zip(present, results, strict=True):
            got[i] += hits
    assert got == want
    assert sum(map(len, want)) >= 5  # the scenes fire
    for a, b in zip(alone, batched, strict=True):
        assert a.trajectories.keys() == b.trajectories.keys()


def test_many_cameras_measured_together_equal_each_measured_alone() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        shapes = []
        for _ in range(int(rng.integers(1, 6))):
            polys = [np.round(rng.uniform(0, 100, (int(rng.integers(3, 7)), 2)))
                     for _ in range(int(rng.integers(0, 3)))]
            lines = [np.round(rng.uniform(0, 100, (int(rng.integers(2, 5)), 2)))
                     for _ in range(int(rng.integers(0, 3)))]
            shapes.append(Shapes(polys, lines))
        pts = [np.round(rng.uniform(-10, 110, (int(rng.integers(0, 6)), 2))).astype(np.float32)
               for _ in shapes]
        for s, p in zip(shapes, pts, strict=True):  # points on vertices: ties, line ends
            for j in range(len(p)):
                if len(s._a) and rng.random() < 0.4:
                    p[j] = s._end[rng.integers(len(s._a))]
        for s, p, got in zip(shapes, pts, ShapesBatch(shapes).measure(pts), strict=True):
            want = s.measure(p)
            for name, a, b in zip(want._fields, want, got, strict=True):
                assert a.shape == b.shape and np.array_equal(a, b), name


def test_one_cameras_failure_is_its_own() -> None:
    class Broken(RuleEngine):
        def end(self, frame, measured):  # type: ignore[no-untyped-def]
            raise RuntimeError("this camera's rules failed")

    det = scene(3)
    t = next(t for t, d in det.items() if len(d))  # type: ignore[arg-type]
    engines = [RuleEngine(camera(0)), Broken(camera(0)), RuleEngine(camera(2))]
    out = RuleBatch().judge_each([(e, det[t], t, None, None, None)  # type: ignore[misc]
                                  for e in engines])
    assert isinstance(out[1], RuntimeError)
    assert isinstance(out[0], list) and isinstance(out[2], list)
    with pytest.raises(RuntimeError, match="rules failed"):
        RuleBatch().judge([(e, det[t], t, None, None, None) for e in engines])  # type: ignore


def test_the_tracking_batcher_judges_each_camera_as_alone() -> None:
    import asyncio

    from orchestrator.config import TrackerConfig
    from orchestrator.tracking import TrackingBatcher, bytetrack_config
    from trackers import ByteTrack

    n = 4
    scenes = [scene(40 + i) for i in range(n)]
    times = sorted(set().union(*scenes))

    def alone(i: int) -> list:
        tracker, engine, hits = ByteTrack(bytetrack_config(TrackerConfig())), \
            RuleEngine(camera(i)), []
        for t in times:
            if t in scenes[i]:
                d = scenes[i][t]
                det = type(d)(d.xyxy, d.confidence, d.class_id)  # type: ignore[attr-defined]
                det.tracker_id = tracker.update(det.xyxy, det.confidence, det.class_id, t)
                hits += engine.update(det, t, None, (1920, 1080), tracker.births)
        return hits

    async def together() -> list[list]:
        tb = TrackingBatcher(TrackerConfig())
        trackers, engines = [tb.tracker() for _ in range(n)], [RuleEngine(camera(i))
                                                                for i in range(n)]
        out: list[list] = [[] for _ in range(n)]
        for t in times:
            async def one(i: int, t: float = t) -> None:
                d = scenes[i][t]
                det = type(d)(d.xyxy, d.confidence, d.class_id)  # type: ignore[attr-defined]
                _, hits = await tb.judge(trackers[i], det, t, engines[i], None, (1920, 1080))
                out[i] += hits
            await asyncio.gather(*(one(i) for i in range(n) if t in scenes[i]))
        # A wait cancelled before the flush leaves its camera's rules where they were.
        busiest = max((t for t in times if t in scenes[0]),
                      key=lambda t: len(scenes[0][t]))  # type: ignore[arg-type]
        d = scenes[0][busiest]
        for k in range(3):  # its boxes again: tracked, so the rules would see them
            await tb.judge(trackers[0], d, times[-1] + 0.1 * (k + 1), engines[0])
        task = asyncio.ensure_future(tb.judge(trackers[0], d, times[-1] + 0.4, engines[0]))
        await asyncio.sleep(0)
        task.cancel()
        before = {tid: len(tr.times) for tid, tr in engines[0].trajectories.items()}
        assert before
        await asyncio.sleep(0.01)
        assert {tid: len(tr.times) for tid, tr in engines[0].trajectories.items()} == before
        return out

    got = asyncio.run(together())
    assert got == [alone(i) for i in range(n)]
    assert sum(map(len, got)) >= 2
