"""Perspective plausibility: heights learned from confirmed tracks, implausible boxes screened
before the tracker, the model saved and loaded; and `perishield eval`'s count on real video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from orchestrator.config import PerspectiveConfig
from orchestrator.detect.perspective import Perspective
from orchestrator.detections import Detections
from orchestrator.paths import PROJECT_ROOT, find_data
from tests.orchestrator.cli.test_cli import perishield
from trackers import ByteTrack

SIZE = (640, 480)


def person(x: float, y: float, h: float, score: float = 0.9, tid: int = -1) -> list[float]:
    return [x - 0.2 * h, y - h, x + 0.2 * h, y, score, tid]


def dets(rows: list[list[float]]) -> Detections:
    a = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], np.zeros(len(a), np.int64), a[:, 5].astype(np.int64))


def learned(n: int = 200, seed: int = 0) -> Perspective:
    """A camera whose people are 0.5·y - 20 px tall at foot row y (80 px at y 200, 200 at
    440), with 5 % jitter and one box in ten wildly off (merged, swapped)."""
    rng = np.random.default_rng(seed)
    p = Perspective(PerspectiveConfig(enabled=True), SIZE)
    for k in range(n):
        x, y = rng.uniform(60, 580), rng.uniform(200, 470)
        h = (0.5 * y - 20) * rng.normal(1, 0.05) * (rng.choice([0.3, 2.5]) if k % 10 == 0
                                                    else 1.0)
        p.learn(dets([person(x, y, h, tid=k)]))
    return p


def test_heights_are_learned_robustly_from_confirmed_tracks() -> None:
    p = learned()
    a, b, c = p.models[0].coef  # type: ignore[misc]
    assert abs(b - 0.5) < 0.03 and abs(a + 20) < 8 and abs(c) < 0.01
    # Unconfirmed boxes (no track id) and boxes cut by the image border teach nothing.
    fresh = Perspective(PerspectiveConfig(enabled=True), SIZE)
    fresh.learn(dets([person(300, 400, 180)] * 100 + [person(300, 479, 30, tid=1)] * 100))
    assert len(fresh.models[0].samples) == 0


def test_implausible_boxes_are_screened_and_start_no_track() -> None:
    p = learned()
    frame = dets([person(200, 400, 180), person(420, 400, 25), person(320, 250, 230)])
    screened = p.screen(frame)
    # The 180 px person at y 400 is as expected; a 25 px "person" there, and a 230 px one at
    # y 250 (where people are 105 px: a shadow on the wall, two people merged), are not.
    assert np.allclose(screened.confidence, [0.9, 0.9 * 0.25, 0.9 * 0.25])
    assert p.last.tolist() == [1, 2] and p.screened == 2
    tracker = ByteTrack()
    for k in range(5):
        ids = tracker.update(screened.xyxy, screened.confidence, screened.class_id, k / 5)
    assert (ids >= 0).tolist() == [True, False, False]  # only the plausible one is tracked


def test_nothing_is_screened_before_the_model_has_its_samples() -> None:
    p = learned(n=40)
    frame = dets([person(420, 400, 25)])
    assert np.allclose(p.screen(frame).confidence, [0.9])


def test_the_learned_heights_outlive_the_run(tmp_path: Path) -> None:
    p = learned()
    p.save(tmp_path / "cam.json")
    again = Perspective(PerspectiveConfig(enabled=True), SIZE)
    again.load(tmp_path / "cam.json")
    p.models[0].fit()  # on every sample (it refits every 25 new ones)
    assert np.allclose(again.models[0].coef, p.models[0].coef)  # type: ignore[arg-type]
    (tmp_path / "bad.json").write_text("{not json")
    Perspective(PerspectiveConfig(enabled=True), SIZE).load(tmp_path / "bad.json")


def test_eval_counts_false_boxes_removed_and_true_boxes_lost(tmp_path: Path) -> None:
    # TUD-Stadtmitte: the detector's odd boxes (a part of a person, two people in one) go; no
    # labelled person is lost, and the events are those without the model.
    rules = yaml.safe_load((PROJECT_ROOT / "examples/rulesets/stadtmitte-gates.yaml")
                           .read_text())
    video = find_data("TUD-Stadtmitte.mp4")
    got = {}
    for on in (False, True):
        rules["cameras"][0]["source"] = str(video)
        rules["cameras"][0]["perspective"] = {"enabled": on}
        cfg = tmp_path / f"{on}.yaml"
        cfg.write_text(yaml.safe_dump(rules))
        out = perishield("eval", video, "--gt", find_data("TUD-Stadtmitte.gt.txt"), "-c", cfg,
                         "--json", "--data-dir", tmp_path)
        got[on] = json.loads(out.stdout)
    assert got[True]["perspective"]["fp_removed"] >= 1
    assert got[True]["perspective"]["true_lost"] == 0
    assert got[False]["perspective"]["screened"] == 0
    assert (got[True]["tp"], got[True]["fp"]) == (got[False]["tp"], got[False]["fp"])


def test_nothing_is_judged_where_nobody_was_seen() -> None:
    # Learned from feet at rows 200-470; a small box at row 120 (the far end, where nobody
    # walked yet) is not screened: the line is not extrapolated.
    p = learned()
    assert np.allclose(p.screen(dets([person(300, 120, 20)])).confidence, [0.9])
