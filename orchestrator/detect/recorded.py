"""Detections recorded earlier, looked up by frame: the real model's boxes at no cost.

For load tests of a whole site (bench/site.py): cameras replay decoded frames
(``synthetic://replay?frames=PATH.npy``) and the detector answers each frame with what the
real model gave on it, so tracking, rules, events and alarms run as on real video while the
machine's CPU goes to everything but the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.detect.base import DetectorError, Image
from orchestrator.detections import Detections


def save_recording(path: Path, detections: list[Detections]) -> None:
    """Write one frame's detections per entry (frame i of the replayed frames) to ``path``."""
    frame = np.concatenate([np.full(len(d), i, np.int64) for i, d in enumerate(detections)])
    np.savez(path, frame=frame,
             xyxy=np.concatenate([d.xyxy for d in detections]).reshape(-1, 4),
             confidence=np.concatenate([d.confidence for d in detections]),
             class_id=np.concatenate([d.class_id for d in detections]),
             n_frames=len(detections))


class RecordedDetector:
    """Answers frame ``index`` (modulo the recording's length) with its recorded boxes."""

    max_batch = 64
    max_inflight = 8

    def __init__(self, path: str | None) -> None:
        if not path:
            raise DetectorError("detector.backend recorded needs detector.model: a recording "
                                "(.npz, orchestrator/detect/recorded.py)")
        try:
            z = np.load(path)
            frame, xyxy = z["frame"], z["xyxy"]
            conf, cls, n = z["confidence"], z["class_id"], int(z["n_frames"])
        except (OSError, KeyError, ValueError) as e:
            raise DetectorError(f"recording {path}: {e}") from None
        self._frames = [Detections(xyxy[frame == i], conf[frame == i], cls[frame == i])
                        for i in range(n)]

    async def detect_async(self, frames: list[Image]) -> list[Detections]:
        out = []
        for f in frames:
            d = self._frames[getattr(f, "index", 0) % len(self._frames)]
            out.append(Detections(d.xyxy, d.confidence, d.class_id))  # its own tracker ids
        return out

    async def aclose(self) -> None:
        return None
