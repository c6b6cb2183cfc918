"""The one detection type that travels between every stage of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _empty_ids(n: int) -> IntArray:
    return np.full(n, -1, dtype=np.int64)


@dataclass(slots=True)
class Detections:
    """Parallel arrays describing N boxes of one frame.

    Attributes:
        xyxy: (N, 4) float32 boxes in pixels of the original frame.
        confidence: (N,) float32 scores in [0, 1].
        class_id: (N,) int64 COCO-style class ids.
        tracker_id: (N,) int64 track ids, -1 before tracking.

    Example:
        >>> d = Detections(np.array([[0, 0, 10, 20]], np.float32), np.array([0.9], np.float32),
        ...                np.array([0]))
        >>> len(d[d.confidence > 0.5])
        1
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray = field(default_factory=lambda: _empty_ids(0))

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        if self.tracker_id is None or (len(self.tracker_id) == 0 and n):
            self.tracker_id = _empty_ids(n)
        self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
        for name in ("confidence", "class_id", "tracker_id"):
            got = len(getattr(self, name))
            if got != n:
                raise ValueError(f"Detections.{name}: expected {n} values (one per box), got {got}")

    @classmethod
    def empty(cls) -> Detections:
        """No boxes."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            self.xyxy[index], self.confidence[index], self.class_id[index], self.tracker_id[index]
        )

    def anchors(self, anchor: str = "bottom_center") -> FloatArray:
        """(N, 2) anchor points of the boxes: ``bottom_center``, ``center`` or ``top_center``."""
        return box_anchors(self.xyxy, anchor)

    @property
    def area(self) -> FloatArray:
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.tracker_id for p in parts]),
        )

    def to_supervision(self) -> Any:
        """Convert to ``supervision.Detections`` (needs the optional ``supervision`` package)."""
        import supervision as sv  # noqa: PLC0415 - optional dependency at the edge

        return sv.Detections(
            xyxy=self.xyxy.astype(np.float32),
            confidence=self.confidence,
            class_id=self.class_id.astype(int),
            tracker_id=self.tracker_id.astype(int),
        )


ANCHORS = ("bottom_center", "center", "top_center")


def box_anchors(xyxy: FloatArray, anchor: str = "bottom_center") -> FloatArray:
    """Anchor points (N, 2) of boxes (N, 4)."""
    cx = (xyxy[:, 0] + xyxy[:, 2]) * 0.5
    if anchor == "bottom_center":
        y = xyxy[:, 3]
    elif anchor == "center":
        y = (xyxy[:, 1] + xyxy[:, 3]) * 0.5
    elif anchor == "top_center":
        y = xyxy[:, 1]
    else:
        raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
    out = np.empty((len(xyxy), 2), np.float32)
    out[:, 0], out[:, 1] = cx, y
    return out
