"""Time a camera saw nothing, which must not count as time an object was lost."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


class BlindTime:
    """Intervals without analysed frames (a reconnect, a detector outage).

    A track lost for three seconds of video is gone; a track not seen because the camera was
    not seen for three seconds is not: it was most likely where it was, or walked on. A gap
    counts as blind up to ``max_s``; what lies beyond is ordinary time (a long outage ends
    the tracks it would have ended).

    Example:
        >>> b = BlindTime(max_s=10)
        >>> b.add(5.0, 9.0)
        >>> b.lost(np.array([4.0, 6.0]), 10.0).tolist()  # seen at 4 s and 6 s, now 10 s
        [2.0, 1.0]
    """

    def __init__(self, max_s: float) -> None:
        self.max_s = max_s
        self._gaps: list[tuple[float, float]] = []

    @property
    def has_gaps(self) -> bool:
        return bool(self._gaps)

    def add(self, t0: float, t1: float) -> None:
        """Nothing was seen between ``t0`` and ``t1`` (the last frame before, the first after)."""
        if t1 > t0:
            self._gaps.append((t1 - min(t1 - t0, self.max_s), t1))

    def lost(self, since: F64, t: float) -> F64:
        """Seconds from each ``since`` to ``t`` that the camera could see."""
        out = t - since
        for g0, g1 in self._gaps:
            out -= np.clip(np.minimum(t, g1) - np.maximum(since, g0), 0.0, None)
        return out

    def forget_before(self, t: float) -> None:
        """Gaps that ended before ``t`` no longer matter (nothing lost then is kept)."""
        self._gaps = [g for g in self._gaps if g[1] > t]
