"""The contract every tracker meets."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt


class Tracker(Protocol):
    """Assigns stable ids to per-frame boxes of one camera."""

    def update(self, xyxy: npt.NDArray[np.float32], confidence: npt.NDArray[np.float32],
               class_id: npt.NDArray[np.int64], timestamp: float) -> npt.NDArray[np.int64]:
        """Track ids for each input box (-1 for boxes that are not part of a confirmed track)."""
        ...

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        ...
