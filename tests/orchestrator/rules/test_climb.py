"""The wall-climb rule on synthetic climbers, walkers along the wall and what cameras do."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.config import CameraConfig
from orchestrator.evaluation.synthetic import Camera, PathWalker, frames
from orchestrator.rules import RuleEngine, RuleHit

SIZE = (1920, 1080)
# A camera facing the wall's outer face: its top edge at y = 400, the ground in front of it
# (outside, side A: below) up to its foot at y = 520. Behind it (inside) is out of sight.
FACING = {"name": "wall", "points": [[0, 400], [1900, 400]], "outside": "a"}
# A camera inside, looking at the wall's inner face: the top edge at y = 300, beyond it
# (above) is outside, the campus (below) inside.
INSIDE = {"name": "wall", "points": [[0, 300], [1900, 300]], "outside": "b"}


def engine(climb: dict, **rules: object) -> RuleEngine:
    return RuleEngine(CameraConfig.model_validate(
        {"id": "c", "source": "x.mp4", "climbs": [climb], "rules": rules}))


def judge(eng: RuleEngine, walkers: list[PathWalker], cam: Camera, until: float
          ) -> list[RuleHit]:
    hits: list[RuleHit] = []
    for t, det in frames(walkers, cam, until):
        hits += eng.update(det, t, size=SIZE)
    return hits


def summary(hits: list[RuleHit]) -> list[tuple[str, str | None, int]]:
    return [(h.direction or "", h.outcome, h.track_id) for h in hits]


def climber(*, back: bool = False, stays: bool = False) -> PathWalker:
    """Walks up to the wall (feet at y = 520 at 3 s), climbs until the feet are on its top
    (y = 370 at 5 s, the feet crossing y = 400 at 4.6 s), sits there 1 s, then goes down the
    other side out of sight, or stays on top 3 s more; or climbs straight back down."""
    way = [(0.0, 900, 800), (3.0, 900, 520), (5.0, 900, 370), (6.0, 900, 370)]
    if back:  # straight back down, in less than drop_s
        way[-1:] = [(6.5, 900, 560)]
    elif stays:
        way += [(9.0, 910, 365)]
    return PathWalker(tuple(way))


OVER_AT = 3.0 + 2.0 * (520 - 400) / (520 - 370)


@pytest.mark.parametrize("jitter", [2.0, 4.0, 8.0])
@pytest.mark.parametrize("fps", [5, 10])
def test_a_climb_over_fires_at_the_act_and_is_confirmed_when_it_drops_in(
        jitter: float, fps: int) -> None:
    for seed in range(4):
        hits = judge(engine(FACING), [climber()], Camera(fps=fps, jitter=jitter, seed=seed), 9)
        assert summary(hits) == [("over", None, 1), ("over", "confirmed", 1)]
        assert hits[0].timestamp == pytest.approx(OVER_AT, abs=0.35)  # scored at 0.5 s
        assert hits[1].timestamp == pytest.approx(6.0 + 1.0, abs=0.3)  # out of sight 1 s


def test_a_climber_that_stays_inside_is_confirmed_after_drop_s() -> None:
    hits = judge(engine({**FACING, "drop_s": 1.5}), [climber(stays=True)], Camera(jitter=4), 9)
    assert summary(hits) == [("over", None, 1), ("over", "confirmed", 1)]
    assert hits[1].timestamp - hits[0].timestamp == pytest.approx(1.5, abs=0.25)


@pytest.mark.parametrize("fps", [5, 10])
def test_climbing_back_down_outside_retracts_the_alarm(fps: int) -> None:
    for seed in range(4):
        hits = judge(engine(FACING), [climber(back=True)], Camera(fps=fps, jitter=4, seed=seed),
                     9)
        assert summary(hits) == [("over", None, 1), ("over", "retracted", 1)]


@pytest.mark.parametrize("jitter", [2.0, 4.0, 8.0])
def test_walking_along_the_wall_never_fires(jitter: float) -> None:
    for seed in range(6):
        # At its foot outside; with the feet on the edge itself (only the upper body shows
        # behind a wall of the camera's own height); and inside, heads above the edge.
        outside = PathWalker(((0.0, 100, 525), (14.0, 1800, 525)))
        on_edge = PathWalker(((0.0, 1800, 402), (14.0, 100, 402)))
        assert judge(engine(FACING), [outside, on_edge],
                     Camera(jitter=jitter, seed=seed), 15) == []
        inside = PathWalker(((0.0, 100, 400), (14.0, 1800, 410)))  # head at y = 280-290
        assert judge(engine(INSIDE), [inside], Camera(jitter=jitter, seed=seed), 15) == []


@pytest.mark.parametrize("fps", [5, 10])
def test_a_box_jittering_over_the_edge_while_walking_along_it_moves_along_not_across(
        fps: int) -> None:
    # Feet hidden behind the wall's top: the box's bottom on the edge, jittering 8 px either
    # side of it as the walker goes along. A tripwire on the edge fires now and then.
    on_edge = PathWalker(((0.0, 1800, 402), (14.0, 100, 402)))
    for seed in range(10):
        assert judge(engine(FACING), [on_edge], Camera(fps=fps, jitter=8, seed=seed), 15) == []


def test_from_the_inside_the_feet_come_down_first_and_the_head_after() -> None:
    # On top of the wall (the feet just above the edge, outside), then down into the campus:
    # the feet cross y = 300 at 1.5 s, the head (120 px above) at 2.5 s.
    drop = PathWalker(((0.0, 900, 280), (1.0, 900, 280), (3.0, 900, 480), (6.0, 900, 480)))
    hits = judge(engine(INSIDE), [drop], Camera(jitter=4), 7)
    assert summary(hits) == [("over", None, 1), ("over", "confirmed", 1)]
    assert hits[0].timestamp == pytest.approx(2.5, abs=0.25)
    # A track that is first seen inside (it came in some other way) never fires.
    inside = PathWalker(((0.0, 900, 480), (4.0, 900, 340), (8.0, 900, 480)))
    assert judge(engine(INSIDE), [inside], Camera(jitter=4), 9) == []


def test_a_track_that_jumps_over_from_far_outside_never_approached() -> None:
    # A box the tracker moved from someone 400 px out onto someone on the wall's far side
    # (same size: not a jump in height the engine would catch).
    jumped = PathWalker(((0.0, 900, 800), (2.0, 900, 800), (2.1, 900, 300), (6.0, 900, 300)))
    assert judge(engine(FACING), [jumped], Camera(jitter=4), 7) == []
    # From as close as the wall's foot, the same jump is a climb seen at a low frame rate.
    assert len(judge(engine(FACING), [PathWalker(((0.0, 900, 500), (2.0, 900, 500),
                                                  (2.1, 900, 300), (6.0, 900, 300)))],
                     Camera(jitter=4), 7)) == 2


def test_the_climber_under_a_new_id_keeps_the_climb_and_its_event_id() -> None:
    cam = Camera(jitter=4, switch_at=((0, 6.0),))  # on top of the wall, waiting to drop
    hits = judge(engine(FACING), [climber(stays=True)], cam, 9)
    assert summary(hits) == [("over", None, 1), ("over", "confirmed", 1)]


def test_cooldown_silences_a_second_climb_of_the_same_track() -> None:
    twice = PathWalker(((0.0, 900, 800), (3.0, 900, 520), (5.0, 900, 370), (6.0, 900, 370),
                        (7.5, 900, 560), (9.0, 900, 520), (11.0, 900, 370), (12.0, 900, 370)))
    overs = [h for h in judge(engine(FACING), [twice], Camera(jitter=4), 14) if not h.outcome]
    assert len(overs) == 1
    overs = [h for h in judge(engine(FACING, cooldown_s=0), [twice], Camera(jitter=4), 14)
             if not h.outcome]
    assert len(overs) == 2


def test_a_climb_needs_its_outside() -> None:
    with pytest.raises(ValidationError, match="outside"):
        CameraConfig.model_validate({"id": "c", "source": "x.mp4", "climbs": [
            {"name": "w", "points": [[0, 0], [10, 0]]}]})
    with pytest.raises(ValidationError, match="zero-length"):
        CameraConfig.model_validate({"id": "c", "source": "x.mp4", "climbs": [
            {"name": "w", "points": [[0, 0], [0, 0]], "outside": "a"}]})


def test_flipping_the_outside_in_an_edit_starts_the_sides_afresh() -> None:
    # Someone standing at the wall's foot outside while an operator flips which side is
    # outside: the sides taken the old way round must not read as a climb.
    wall = {**FACING, "near": 2.0}  # approached from 160 px out: feet at 560, head at 440
    eng = engine(wall)
    standing = PathWalker(((0.0, 900, 560), (12.0, 900, 560)))
    hits = []
    for t, det in frames([standing], Camera(jitter=2), 12):
        if abs(t - 4.0) < 0.05:
            eng.reconfigure(CameraConfig.model_validate(
                {"id": "c", "source": "x.mp4", "climbs": [{**wall, "outside": "b"}]}))
        hits += eng.update(det, t, size=SIZE)
    assert hits == []
