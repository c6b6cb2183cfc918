from __future__ import annotations

import numpy as np
import pytest

from orchestrator.detections import Detections


def test_filtering_and_anchors() -> None:
    d = Detections(np.array([[0, 0, 10, 20], [5, 5, 7, 9]]), np.array([0.9, 0.2]),
                   np.array([0, 2]))
    assert d.tracker_id.tolist() == [-1, -1]
    kept = d[d.confidence > 0.5]
    assert len(kept) == 1
    assert kept.anchors().tolist() == [[5.0, 20.0]]
    assert d.anchors("center").tolist()[1] == [6.0, 7.0]


def test_mismatched_lengths_say_expected_and_got() -> None:
    with pytest.raises(ValueError, match=r"confidence: expected 2 values .* got 1"):
        Detections(np.zeros((2, 4)), np.array([0.5]), np.array([0, 0]))
