"""MOTChallenge ground truth and the rule events it implies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.detections import Detections


class GroundTruthError(ValueError):
    """A ground-truth file that cannot be read."""


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Boxes per frame (1-based frame numbers, as in MOT files)."""

    frames: dict[int, tuple[np.ndarray, np.ndarray]]  # frame -> (ids (N,), xyxy (N, 4))

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        """Read ``frame,id,x,y,w,h,flag,...`` lines; rows with flag 0 are ignored."""
        p = Path(path)
        if not p.is_file():
            raise GroundTruthError(f"ground-truth file not found: {p}")
        try:
            rows = np.loadtxt(p, delimiter=",", ndmin=2, usecols=range(7))
        except ValueError as e:
            raise GroundTruthError(f"{p}: not MOT ground truth "
                                   f"(frame,id,x,y,w,h,flag,...): {e}") from None
        rows = rows[rows[:, 6] != 0]
        frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for f in np.unique(rows[:, 0]).astype(int):
            r = rows[rows[:, 0] == f]
            xyxy = np.concatenate([r[:, 2:4], r[:, 2:4] + r[:, 4:6]], axis=1).astype(np.float32)
            frames[int(f)] = (r[:, 1].astype(np.int64), xyxy)
        return cls(frames)

    def detections(self, frame: int) -> Detections:
        ids, xyxy = self.frames.get(frame, (np.zeros(0, np.int64), np.zeros((0, 4), np.float32)))
        n = len(ids)
        return Detections(xyxy, np.ones(n, np.float32), np.zeros(n, np.int64), ids)
