"""Detection: the detector contract, the embedded ONNX Runtime backend, the Triton backend and
the batcher."""

from __future__ import annotations

import asyncio

from orchestrator.config import DetectorConfig
from orchestrator.detect.base import (
    AsyncDetector,
    DetectionBatcher,
    Detector,
    DetectorError,
    DetectorUnavailable,
    Frame,
    FrameRejected,
    Image,
    Picture,
)
from orchestrator.detections import Detections

__all__ = ["AsyncDetector", "DetectionBatcher", "Detector", "DetectorError",
           "DetectorUnavailable", "Frame", "FrameRejected", "Image", "Picture",
           "close_detector", "create_detector", "open_detector"]


def create_detector(config: DetectorConfig) -> Detector:
    """The embedded (blocking) detector the configuration names."""
    if config.backend == "onnxruntime":
        from orchestrator.detect.onnx_detector import OnnxDetector  # noqa: PLC0415

        return OnnxDetector(config)
    raise DetectorError(f"detector backend {config.backend!r} is served; use open_detector()")


class NullDetector:
    """Detects nothing, at no cost: for ingest and control-plane load tests."""

    max_batch = 64
    max_inflight = 8

    async def detect_async(self, frames: list[Image]) -> list[Detections]:
        return [Detections.empty() for _ in frames]

    async def aclose(self) -> None:
        return None


async def open_detector(config: DetectorConfig) -> Detector | AsyncDetector:
    """The detector the configuration names, connected and checked."""
    if config.backend == "none":
        return NullDetector()
    if config.backend == "recorded":
        from orchestrator.detect.recorded import RecordedDetector  # noqa: PLC0415

        return RecordedDetector(config.model)
    if config.backend == "triton":
        from orchestrator.triton.client import TritonDetector  # noqa: PLC0415
        from orchestrator.triton.pool import TritonPool  # noqa: PLC0415

        det: TritonDetector | TritonPool = (TritonPool(config) if len(config.triton.servers) > 1
                                            else TritonDetector(config))
        await det.start()
        return det
    return await asyncio.to_thread(create_detector, config)


async def close_detector(det: Detector | AsyncDetector) -> None:
    if hasattr(det, "aclose"):
        await det.aclose()
    else:
        det.close()
