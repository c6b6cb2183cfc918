"""The Triton client's error handling (no server needed)."""

from __future__ import annotations

from orchestrator.detect import DetectorError, DetectorUnavailable


def test_unavailable_is_a_detector_error() -> None:
    assert issubclass(DetectorUnavailable, DetectorError)
