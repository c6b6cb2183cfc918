"""Rules on synthetic tracks: the anchor (bottom-centre) path is what the rules judge."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.config import CameraConfig
from orchestrator.detections import Detections
from orchestrator.rules import Polygon, Polyline, RuleEngine, RuleHit

VERTICAL = {"name": "gate", "points": [[100, 0], [100, 200]]}  # side A is x < 100
SQUARE = {"name": "yard", "points": [[0, 0], [100, 0], [100, 100], [0, 100]]}


def camera(lines: list | None = None, zones: list | None = None, **rules: object) -> CameraConfig:
    return CameraConfig.model_validate({"id": "c", "source": "x.mp4", "lines": lines or [],
                                        "zones": zones or [], "rules": rules})


def box_at(x: float, y: float, w: float = 20, h: float = 40) -> list[float]:
    """A box whose bottom-centre is (x, y)."""
    return [x - w / 2, y - h, x + w / 2, y]


def frame(*tracks: tuple[int, float, float], cls: int = 0, score: float = 0.9) -> Detections:
    if not tracks:
        return Detections.empty()
    ids = [t[0] for t in tracks]
    return Detections(np.array([box_at(x, y) for _, x, y in tracks]),
                      np.full(len(ids), score), np.full(len(ids), cls), np.array(ids))


def run(engine: RuleEngine, path: list[list[tuple[int, float, float]]], fps: float = 10
        ) -> list[RuleHit]:
    hits: list[RuleHit] = []
    for i, tracks in enumerate(path):
        hits += engine.update(frame(*tracks), i / fps)
    return hits


def walk(tid: int, xs: list[float], y: float = 100) -> list[list[tuple[int, float, float]]]:
    return [[(tid, x, y)] for x in xs]


def hold(xs: list[float], n: int = 3) -> list[float]:
    """Each position held for ``n`` frames (the side is judged on the mean over 0.2 s)."""
    return [x for x in xs for _ in range(n)]


@pytest.mark.parametrize(("direction", "xs", "expected"), [
    ("any", [80, 90, 95, 105, 110, 120, 130, 140], ["a_to_b"]),
    ("any", [120, 110, 105, 95, 90, 80, 70, 60], ["b_to_a"]),
    ("a_to_b", [120, 110, 105, 95, 90, 80, 70, 60], []),
    ("b_to_a", [120, 110, 105, 95, 90, 80, 70, 60], ["b_to_a"]),
    ("a_to_b", [80, 90, 95, 105, 110, 120, 130, 140], ["a_to_b"]),
])
def test_line_direction(direction: str, xs: list[float], expected: list[str]) -> None:
    eng = RuleEngine(camera([{**VERTICAL, "direction": direction}], confirm_frames=3))
    assert [h.direction for h in run(eng, walk(1, xs))] == expected


def test_jitter_on_the_line_never_fires() -> None:
    eng = RuleEngine(camera([VERTICAL], confirm_frames=3))
    xs = [90, 99, 101, 99, 102, 98, 101, 101, 99, 100.5, 99.5, 98]
    assert run(eng, walk(1, xs)) == []


def test_crossing_counts_once_despite_jitter_after_it() -> None:
    eng = RuleEngine(camera([VERTICAL], confirm_frames=2, cooldown_s=0))
    xs = [80, 90, 110, 115, 99, 112, 118, 125, 130]
    hits = run(eng, walk(1, xs))
    assert [h.direction for h in hits] == ["a_to_b"]
    # stamped where the anchor passed x = 100 (between the frames at 0.1 s and 0.2 s), not
    # at the later frame that confirmed it
    assert hits[0].timestamp == pytest.approx(0.15)
    assert hits[0].point == pytest.approx((100, 100))
    assert hits[0].detected > hits[0].timestamp


def test_track_lost_and_regained_on_the_other_side() -> None:
    eng = RuleEngine(camera([VERTICAL], confirm_frames=2))
    path = walk(7, [60, 70, 80]) + [[], [], []] + walk(7, [130, 140, 150])
    hits = run(eng, path)
    assert [(h.track_id, h.direction) for h in hits] == [(7, "a_to_b")]


def test_walking_around_the_end_of_a_line_is_not_a_crossing() -> None:
    eng = RuleEngine(camera([VERTICAL], confirm_frames=2))
    path = [[(1, x, y)] for x, y in [(80, 150), (80, 210), (90, 240), (110, 240), (120, 240),
                                     (120, 210), (120, 150), (125, 140)]]
    assert run(eng, path) == []


def test_polyline_with_several_segments() -> None:
    wall = {"name": "wall", "points": [[100, 0], [140, 100], [100, 200], [140, 300]]}
    eng = RuleEngine(camera([wall], confirm_frames=2, cooldown_s=0))
    # crosses the 1st, 2nd and 3rd segment (each a different track), then one that grazes a bend
    path = (walk(1, [90, 100, 125, 140, 150], y=50) + walk(2, [150, 140, 120, 100, 90], y=150)
            + walk(3, [80, 100, 125, 150, 160], y=250))
    hits = run(eng, path)
    assert [(h.track_id, h.direction) for h in hits] == [(1, "a_to_b"), (2, "b_to_a"),
                                                          (3, "a_to_b")]
    sides = Polyline(wall["points"]).sides(np.array([[130, 100], [150, 100], [120, 350],
                                                     [120, -10]], np.float32))
    assert sides.tolist() == [1, -1, 0, 0]


def test_zone_entry_fires_once_per_stay() -> None:
    eng = RuleEngine(camera(zones=[SQUARE], confirm_frames=2, cooldown_s=0))
    path = walk(1, [130, 120, 90, 80, 70, 60, 50], y=50) + walk(1, hold([130, 140]), y=50) \
        + walk(1, [90, 80, 70, 60], y=50)
    hits = run(eng, path)
    assert [h.direction for h in hits] == ["enter", "enter"]


def test_box_grazing_a_zone_does_not_fire() -> None:
    # The box overlaps the square but its bottom-centre stays 5 px below it.
    eng = RuleEngine(camera(zones=[SQUARE], confirm_frames=1))
    assert run(eng, [[(1, x, 105)] for x in range(10, 90, 10)]) == []


def test_dwell_time() -> None:
    eng = RuleEngine(camera(zones=[{**SQUARE, "min_dwell_s": 2.0}], confirm_frames=2))
    hits = run(eng, [[(1, 50, 50)]] * 30, fps=10)
    assert len(hits) == 1 and hits[0].timestamp == pytest.approx(2.0)
    eng = RuleEngine(camera(zones=[{**SQUARE, "min_dwell_s": 2.0}], confirm_frames=2))
    assert run(eng, [[(1, 50, 50)]] * 15, fps=10) == []  # left after 1.5 s


def test_cooldown_per_track_and_rule() -> None:
    eng = RuleEngine(camera([VERTICAL], confirm_frames=1, cooldown_s=5))
    back_and_forth = hold([80, 120, 80, 120, 80, 120], 5)
    hits = run(eng, walk(1, back_and_forth) + walk(2, back_and_forth), fps=10)
    # the cooldown is per track and per direction: crossing back fires at once, crossing
    # again the same way within the cooldown does not
    assert [(h.track_id, h.direction) for h in hits] == [
        (1, "a_to_b"), (1, "b_to_a"), (2, "a_to_b"), (2, "b_to_a")]
    eng = RuleEngine(camera([VERTICAL], confirm_frames=1, cooldown_s=0.5))
    assert len(run(eng, walk(1, back_and_forth), fps=10)) == 5  # 1 s apart > 0.5 s


def test_object_filter_class_score_and_size() -> None:
    line = {**VERTICAL, "filter": {"classes": ["car"], "min_score": 0.5, "min_size": [10, 30]}}
    eng = RuleEngine(camera([line], confirm_frames=1))
    xs = hold([80, 120])
    assert [run(eng, [[(1, x, 100)] for x in xs])] == [[]]  # person: filtered out
    hits = []
    for i, x in enumerate(xs):
        hits += eng.update(frame((2, x, 100), cls=2), i / 10)
    assert len(hits) == 1
    for i, x in enumerate(xs):
        hits += eng.update(frame((3, x, 100), cls=2, score=0.3), 1 + i / 10)
    assert len(hits) == 1  # low score


def test_untracked_boxes_are_ignored() -> None:
    eng = RuleEngine(camera([VERTICAL], confirm_frames=1))
    hits = []
    for i, x in enumerate([80, 120]):
        hits += eng.update(frame((-1, x, 100)), i / 10)
    assert hits == []


def test_polygon_contains_vectorised() -> None:
    poly = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    pts = np.array([[5, 5], [11, 5], [-1, -1], [9.9, 0.1]], np.float32)
    assert poly.contains(pts).tolist() == [True, False, False, True]


def test_schedule_arms_and_disarms_rules_at_their_times() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    night = {**VERTICAL, "schedule": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                       "start": "18:00", "end": "07:00"}]}
    cam = CameraConfig.model_validate({"id": "c", "source": "x.mp4", "lines": [night],
                                       "timezone": "Asia/Shanghai",
                                       "rules": {"confirm_frames": 1, "cooldown_s": 0}})
    zone = ZoneInfo("Asia/Shanghai")

    def crossings_at(local: str) -> int:
        eng = RuleEngine(cam)
        wall = datetime.fromisoformat(local).replace(tzinfo=zone).timestamp()
        hits = []
        for i, x in enumerate(hold([80, 120])):
            hits += eng.update(frame((1, x, 100)), i / 10, wall + i / 10)
        return len(hits)

    assert crossings_at("2026-11-25T18:30:00") == 1  # Wednesday evening: armed
    assert crossings_at("2026-11-26T06:59:00") == 1  # Thursday early: still Wednesday's night
    assert crossings_at("2026-11-26T07:00:00") == 0  # disarmed at 07:00
    assert crossings_at("2026-11-26T12:00:00") == 0  # daytime
    assert crossings_at("2026-11-28T20:00:00") == 0  # Saturday: no window starts
    assert crossings_at("2026-11-30T03:00:00") == 0  # Monday 03:00 follows Sunday: disarmed
    assert crossings_at("2026-12-01T03:00:00") == 1  # Tuesday 03:00 follows Monday's window


def test_schedule_rejects_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        CameraConfig.model_validate({"id": "c", "source": "x", "timezone": "Mars/Olympus"})


def test_shapes_measured_together_equal_each_measured_alone() -> None:
    """The engine measures every zone and line of a camera at once; each one's column equals
    measuring it alone (points on vertices, beyond ends and far outside included)."""
    from orchestrator.rules.geometry import Shapes

    rng = np.random.default_rng(7)
    for _ in range(50):
        polygons = [rng.uniform(0, 640, (n, 2)) for n in rng.integers(3, 7, 3)]
        lines = [rng.uniform(0, 640, (n, 2)) for n in rng.integers(2, 5, 4)]
        pts = np.concatenate([rng.uniform(-100, 740, (60, 2)), *lines, *polygons]
                             ).astype(np.float32)
        together = Shapes(polygons, lines).measure(pts)
        for i, p in enumerate(polygons):
            alone = Shapes([p], []).measure(pts)
            np.testing.assert_array_equal(together.depth[:, i], alone.depth[:, 0])
            np.testing.assert_array_equal(together.inside[:, i], alone.inside[:, 0])
        for i, p in enumerate(lines):
            alone = Shapes([], [p]).measure(pts)
            np.testing.assert_array_equal(together.side[:, i], alone.side[:, 0])
            np.testing.assert_array_equal(together.distance[:, i], alone.distance[:, 0])
    empty = Shapes([], []).measure(pts)
    assert empty.depth.shape == (len(pts), 0) and empty.side.shape == (len(pts), 0)
