"""Routes (ordered zones), on synthetic walkers with what real cameras do to them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.config import CameraConfig
from orchestrator.evaluation.synthetic import Camera, PathWalker, frames
from orchestrator.rules import RuleEngine, RuleHit

SIZE = (1920, 1080)
# Three zones along a path, left to right, and a fourth off it.
GATE = {"name": "gate", "points": [[100, 400], [400, 400], [400, 900], [100, 900]]}
LAWN = {"name": "lawn", "points": [[700, 400], [1000, 400], [1000, 900], [700, 900]]}
DORM = {"name": "dorm", "points": [[1300, 400], [1600, 400], [1600, 900], [1300, 900]]}
ROAD = {"name": "road", "points": [[700, 100], [1000, 100], [1000, 300], [700, 300]]}
ZONES = [GATE, LAWN, DORM, ROAD]


def engine(*routes: dict, **rules: object) -> RuleEngine:
    return RuleEngine(CameraConfig.model_validate(
        {"id": "c", "source": "x.mp4", "zones": ZONES, "routes": list(routes),
         "rules": rules}))


def route(steps: list[str], **kw: object) -> dict:
    return {"name": "r", "zones": steps, **kw}


def judge(eng: RuleEngine, walkers: list[PathWalker], cam: Camera) -> list[RuleHit]:
    hits: list[RuleHit] = []
    duration = max(w.t1 for w in walkers) + 1.0
    for t, det in frames(walkers, cam, duration):
        hits += eng.update(det, t, size=SIZE)
    return [h for h in hits if h.kind == "route"]


def walk(*points: tuple[float, float], speed: float = 120.0) -> PathWalker:
    """Feet through ``points`` at ``speed`` px/s (a 120 px tall person: one height a
    second)."""
    return PathWalker.through(*points, speed=speed)


def entry_time(w: PathWalker, x_edge: float) -> float:
    """When ``w`` (walking right along y = 650) passes x = ``x_edge``."""
    (t0, x0, _), (t1, x1, _) = w.waypoints[0], w.waypoints[-1]
    return t0 + (x_edge - x0) / (x1 - x0) * (t1 - t0)


@pytest.mark.parametrize("jitter", [0.0, 4.0, 8.0])
@pytest.mark.parametrize("fps", [5, 10])
def test_a_route_walked_in_order_fires_once_at_the_last_entry(jitter: float, fps: int) -> None:
    for seed in range(4):
        w = walk((0, 650), (1800, 650))
        hits = judge(engine(route(["gate", "lawn", "dorm"])), [w],
                     Camera(fps=fps, jitter=jitter, seed=seed))
        assert [(h.rule, h.direction, h.track_id) for h in hits] == [("r", "complete", 1)]
        assert hits[0].timestamp == pytest.approx(entry_time(w, 1300), abs=0.25)
        assert hits[0].point[0] == pytest.approx(1300, abs=30)


def test_the_wrong_order_fires_nothing() -> None:
    w = walk((1800, 650), (0, 650))
    assert judge(engine(route(["gate", "lawn", "dorm"])), [w], Camera(jitter=4)) == []


def test_a_route_slower_than_within_s_fires_nothing() -> None:
    w = walk((0, 650), (1800, 650))  # gate to dorm entries: 1200 px at 120 px/s, 10 s
    eng = route(["gate", "dorm"])
    assert judge(engine({**eng, "within_s": 9.5}), [w], Camera(jitter=4)) == []
    assert len(judge(engine({**eng, "within_s": 10.5}), [w], Camera(jitter=4))) == 1


def test_a_detour_through_other_zones_still_completes_the_route() -> None:
    w = walk((0, 650), (500, 650), (850, 200), (1200, 650), (1800, 650))
    hits = judge(engine(route(["gate", "road", "dorm"])), [w], Camera(jitter=4))
    assert len(hits) == 1
    # Not through the road: the lawn route does not need it, the road route does.
    w = walk((0, 650), (1800, 650))
    assert judge(engine(route(["gate", "road", "dorm"])), [w], Camera(jitter=4)) == []


def test_min_speed_is_in_box_heights_per_second() -> None:
    steps = route(["gate", "dorm"], min_speed=0.6, within_s=60)
    slow = walk((0, 650), (1800, 650), speed=50)  # 0.42 heights/s
    fast = walk((0, 650), (1800, 650), speed=200)  # 1.7 heights/s
    assert judge(engine(steps), [slow], Camera(jitter=4)) == []
    assert len(judge(engine(steps), [fast], Camera(jitter=4))) == 1
    # The same walk twice as far from the camera (half the size, half the pixels per
    # second) is as fast.
    far = PathWalker(tuple((t, x, y) for t, x, y in fast.waypoints), height=60)
    assert len(judge(engine(steps), [far], Camera(jitter=2))) == 1


def test_an_identity_switch_on_the_way_keeps_the_steps_made() -> None:
    w = walk((0, 650), (1800, 650))
    cam = Camera(jitter=4, switch_at=((0, entry_time(w, 850)),))  # on the lawn
    hits = judge(engine(route(["gate", "lawn", "dorm"])), [w], cam)
    assert [h.track_id for h in hits] == [1000]


def test_one_event_per_route_and_cooldown_per_track() -> None:
    there = [(0, 650), (1800, 650)]
    w = walk(*there, (0, 650), *there)  # there, back, and there again: two routes
    assert len(judge(engine(route(["gate", "dorm"])), [w], Camera(jitter=4))) == 1
    assert len(judge(engine(route(["gate", "dorm"]), cooldown_s=0), [w],
                     Camera(jitter=4))) == 2


def test_a_route_keeps_its_steps_through_a_rule_edit() -> None:
    eng = engine(route(["gate", "dorm"]))
    w = walk((0, 650), (1800, 650))
    seq = frames([w], Camera(jitter=4), w.t1 + 1)
    hits, edited = [], False
    for t, det in seq:
        if not edited and t > entry_time(w, 850):  # between the two steps
            eng.reconfigure(CameraConfig.model_validate(
                {"id": "c", "source": "x.mp4", "zones": ZONES,
                 "routes": [route(["gate", "dorm"], within_s=30)]}))
            edited = True
        hits += [h for h in eng.update(det, t, size=SIZE) if h.kind == "route"]
    assert len(hits) == 1


@pytest.mark.parametrize(("routes", "message"), [
    ([route(["gate", "nowhere"])], "names zones this camera does not have"),
    ([route(["gate", "gate", "dorm"])], "twice in a row"),
    ([route(["gate"])], "at least 2"),
    ([{**route(["gate", "dorm"]), "name": "gate"}], "must be unique"),
])
def test_a_bad_route_is_a_clear_config_error(routes: list[dict], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CameraConfig.model_validate({"id": "c", "source": "x.mp4", "zones": ZONES,
                                     "routes": routes})
