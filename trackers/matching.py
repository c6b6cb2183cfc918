"""Box overlap and linear assignment, shared by the trackers."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

Boxes = npt.NDArray[np.float32]


def iou_matrix(a: Boxes, b: Boxes) -> npt.NDArray[np.float32]:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), as (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return (inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)).astype(np.float32)


def linear_assignment(cost: npt.NDArray[np.float32], max_cost: float
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                 npt.NDArray[np.int64]]:
    """Minimum-cost matching, keeping only pairs whose cost is at most ``max_cost``.

    Returns:
        matches (K, 2) of (row, col), unmatched rows, unmatched cols.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return (np.zeros((0, 2), np.int64), np.arange(n, dtype=np.int64),
                np.arange(m, dtype=np.int64))
    # Pairs above the gate get a prohibitive cost so they never displace a valid pair.
    gated = np.where(cost <= max_cost, cost, max_cost + 1e4)
    rows, cols = linear_sum_assignment(gated)
    ok = gated[rows, cols] <= max_cost
    matches = np.stack([rows[ok], cols[ok]], axis=1).astype(np.int64)
    un_r = np.setdiff1d(np.arange(n), matches[:, 0]).astype(np.int64)
    un_c = np.setdiff1d(np.arange(m), matches[:, 1]).astype(np.int64)
    return matches, un_r, un_c
