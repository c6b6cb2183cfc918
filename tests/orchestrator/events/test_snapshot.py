"""Snapshot drawing: labels of people standing close stay readable."""

from __future__ import annotations

import numpy as np

from orchestrator.config import CameraConfig
from orchestrator.detections import Detections
from orchestrator.events.snapshot import RED, YELLOW, annotate

CAM = CameraConfig(id="c", source="x.mp4")  # no rules drawn: only boxes and labels


def draw(other: list[float], offender: list[float]) -> np.ndarray:
    """A person (#7, yellow) and the offender (#8, red) on a black frame."""
    det = Detections(np.array([other, offender], np.float32), np.full(2, 0.9, np.float32),
                     np.zeros(2, np.int64), np.array([7, 8]))
    return annotate(np.zeros((480, 640, 3), np.uint8), CAM, det, 1, "none", [], "caption")


def coloured(img: np.ndarray, bgr: tuple[int, ...]) -> int:
    return int(np.all(img == np.asarray(bgr, np.uint8), axis=2).sum())


def test_labels_of_overlapping_people_do_not_cover_each_other() -> None:
    person, close, far = [200, 150, 260, 350], [204, 152, 264, 352], [450, 150, 510, 350]
    apart = draw(person, far)  # each label drawn whole
    together = draw(person, close)  # nearly the same box: the labels would coincide
    assert coloured(together, YELLOW) >= 0.8 * coloured(apart, YELLOW)
    assert coloured(together, RED) >= 0.8 * coloured(apart, RED)
