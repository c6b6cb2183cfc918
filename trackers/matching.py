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
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    np.maximum(wh, 0, out=wh)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter + 1e-9
    return (inter / union).astype(np.float32, copy=False)


def iou_pairs(a: Boxes, b: Boxes) -> npt.NDArray[np.float32]:
    """IoU of each box in ``a`` (K, 4) with the box in the same row of ``b`` (K, 4), as (K,);
    the same values as the matching entries of ``iou_matrix``."""
    wh = np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2])
    np.maximum(wh, 0, out=wh)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-9
    return (inter / union).astype(np.float32, copy=False)


def linear_assignment(cost: npt.NDArray[np.float32], max_cost: float
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                 npt.NDArray[np.int64]]:
    """Minimum-cost matching that never pairs above ``max_cost`` and matches as many rows as
    the gate allows.

    When every row's cheapest admissible column is different (the usual case between frames),
    taking those minima is optimal: their sum is a lower bound of any assignment. Otherwise
    the Hungarian solver (scipy) decides.

    Returns:
        matches (K, 2) of (row, col), unmatched rows, unmatched cols.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return (np.zeros((0, 2), np.int64), np.arange(n, dtype=np.int64),
                np.arange(m, dtype=np.int64))
    best = cost.argmin(axis=1)
    ok = cost[np.arange(n), best] <= max_cost
    rows = np.flatnonzero(ok)
    cols = best[ok]
    if len(cols) > 1 and np.bincount(cols).max() > 1:
        # Pairs above the gate get a prohibitive cost so they never displace a valid pair.
        gated = np.where(cost <= max_cost, cost, max_cost + 1e4)
        rows, cols = linear_sum_assignment(gated)
        keep = gated[rows, cols] <= max_cost
        rows, cols = rows[keep], cols[keep]
    free_r = np.ones(n, bool)
    free_r[rows] = False
    free_c = np.ones(m, bool)
    free_c[cols] = False
    return (np.stack([rows, cols], axis=1).astype(np.int64), np.flatnonzero(free_r),
            np.flatnonzero(free_c))
