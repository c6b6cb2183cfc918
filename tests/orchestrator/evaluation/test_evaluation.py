"""Event truth read off ground-truth tracks, and the one-to-one scoring of predictions."""

from __future__ import annotations

import numpy as np

from orchestrator.config import CameraConfig
from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.evaluation.metrics import PredictedEvent, chance_level, match_events
from orchestrator.evaluation.truth import TruthEvent, truth_events


def gt_of(paths: dict[int, list[tuple[float, float]]], h: float = 100) -> GroundTruth:
    """Ground truth with one box per track and frame, feet at the given points."""
    frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for tid, pts in paths.items():
        for k, (x, y) in enumerate(pts):
            ids, xyxy = frames.get(k + 1, (np.zeros(0, np.int64), np.zeros((0, 4), np.float32)))
            box = np.array([[x - 20, y - h, x + 20, y]], np.float32)
            frames[k + 1] = (np.append(ids, tid), np.concatenate([xyxy, box]))
    return GroundTruth(frames)


CAM = CameraConfig.model_validate({
    "id": "c", "source": "x.mp4",
    "lines": [{"name": "gate", "points": [[100, 0], [100, 400]]}],
    "zones": [{"name": "yard", "points": [[200, 0], [400, 0], [400, 400], [200, 400]]}]})


def test_truth_is_the_crossing_frame_and_wobbles_are_dont_care() -> None:
    straight = [(60 + 10 * k, 200) for k in range(30)]  # on x = 100 at 0.16 s, past at 0.2 s
    wobble = [(95, 300), (105, 300), (95, 300), (105, 300), (95, 300)]  # net: no crossing
    truth = truth_events(gt_of({1: straight, 2: wobble}), CAM, fps=25)
    real = [e for e in truth if not e.dont_care and e.rule == "gate"]
    assert [(e.rule, e.direction, e.track_id) for e in real] == [("gate", "a_to_b", 1)]
    assert real[0].time == 0.2 and real[0].point == (110.0, 200.0)  # first frame past it
    assert sum(e.dont_care for e in truth if e.track_id == 2) == 4


def test_zone_entry_and_a_track_that_appears_inside() -> None:
    walks_in = [(150 + 20 * k, 200) for k in range(8)] + [(310, 200)] * 20  # in at x = 210
    appears = [(300, 200)] * 25  # first seen inside, away from the border
    truth = truth_events(gt_of({1: walks_in, 2: appears}), CAM, fps=25, size=(640, 480))
    zone = {e.track_id: e for e in truth if e.rule == "yard"}
    assert not zone[1].dont_care and zone[1].time == 3 / 25
    assert zone[2].dont_care


def test_grazes_and_the_end_of_the_recording_are_dont_care() -> None:
    graze = [(150, 200), (190, 200), (201, 200), (190, 200)] + [(150, 200)] * 30  # 1 px in
    late = [(60, 300)] * 28 + [(110, 300)] * 2  # crosses the gate 40 ms before the end
    truth = truth_events(gt_of({1: graze, 2: late}), CAM, fps=25, size=(640, 480))
    assert truth and all(e.dont_care for e in truth)


def test_route_truth_is_the_last_entry_in_order_in_time() -> None:
    cam = CameraConfig.model_validate({
        "id": "c", "source": "x.mp4",
        "zones": [{"name": "a", "points": [[100, 0], [200, 0], [200, 400], [100, 400]]},
                  {"name": "b", "points": [[300, 0], [400, 0], [400, 400], [300, 400]]}],
        "routes": [{"name": "ab", "zones": ["a", "b"], "within_s": 2},
                   {"name": "fast", "zones": ["a", "b"], "within_s": 2, "min_speed": 3}]})
    there = [(50 + 10 * k, 200) for k in range(40)]  # into a at frame 5, b at frame 25
    back = list(reversed(there))
    slow = [(50 + 2 * k, 200) for k in range(200)]  # 8 s from a to b
    inside = [(150 + 10 * k, 200) for k in range(30)]  # first seen inside a; b at frame 15
    truth = truth_events(gt_of({1: there, 2: back, 3: slow, 4: inside}), cam, fps=25,
                         size=(640, 480))
    routes = [(e.rule, e.track_id, e.time, e.dont_care) for e in truth
              if e.direction == "complete"]
    # 100 px/s at 100 px tall: 1 height/s, below the 3 the fast route asks
    assert routes == [("ab", 4, 15 / 25, True), ("ab", 1, 25 / 25, False)]


def test_matching_is_one_to_one_within_time_and_distance() -> None:
    truth = [TruthEvent("gate", "a_to_b", 1.0, (100, 200), 1),
             TruthEvent("gate", "a_to_b", 1.1, (100, 200), 2, dont_care=True)]
    pred = [PredictedEvent("gate", "a_to_b", 1.2, (105, 200), 1.5),
            PredictedEvent("gate", "a_to_b", 1.3, (100, 210), 1.6),  # the don't-care one
            PredictedEvent("gate", "a_to_b", 1.0, (300, 200), 1.2),  # too far away
            PredictedEvent("gate", "b_to_a", 1.0, (100, 200), 1.2)]  # wrong direction
    s = match_events(truth, pred, 0.5, 3600)
    assert (s.true_positives, s.false_positives, s.false_negatives, s.dont_care) == (1, 2, 0, 1)
    assert s.delays_s == (0.5,) and s.false_alarms_per_hour == 2
    late = match_events(truth[:1], [PredictedEvent("gate", "a_to_b", 1.6, (100, 200))], 0.5, 10)
    assert late.true_positives == 0 and late.false_negatives == 1
    assert chance_level(truth[:1], pred[:1], 0.5, 100)["precision"] < 0.05
