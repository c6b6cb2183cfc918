"""Detection: the detector contract, the embedded ONNX Runtime backend and the batcher."""

from __future__ import annotations

from orchestrator.config import DetectorConfig
from orchestrator.detect.base import DetectionBatcher, Detector, DetectorError, Frame

__all__ = ["DetectionBatcher", "Detector", "DetectorError", "Frame", "create_detector"]


def create_detector(config: DetectorConfig) -> Detector:
    """The detector the configuration names."""
    if config.backend == "onnxruntime":
        from orchestrator.detect.onnx_detector import OnnxDetector  # noqa: PLC0415

        return OnnxDetector(config)
    raise DetectorError(f"unknown detector backend {config.backend!r}")
