from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment

from trackers.matching import iou_matrix, linear_assignment


@settings(max_examples=300, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(0, 7), st.integers(0, 7)),
              elements=st.floats(0, 1, width=32)), st.floats(0.05, 0.95))
def test_assignment_is_optimal_and_gated(cost: np.ndarray, max_cost: float) -> None:
    matches, un_r, un_c = linear_assignment(cost, max_cost)
    assert all(cost[r, c] <= max_cost for r, c in matches)
    assert sorted([*matches[:, 0], *un_r]) == list(range(cost.shape[0]))
    assert sorted([*matches[:, 1], *un_c]) == list(range(cost.shape[1]))
    # same number of matches and same total cost as the gated Hungarian solution
    gated = np.where(cost <= max_cost, cost, max_cost + 1e4)
    r, c = linear_sum_assignment(gated)
    ok = gated[r, c] <= max_cost
    assert len(matches) == ok.sum()
    assert np.isclose(cost[matches[:, 0], matches[:, 1]].sum(), gated[r[ok], c[ok]].sum(),
                      atol=1e-5)


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1, 1 / 3, 0], [0, 0, 0]], atol=1e-6)
    assert iou_matrix(a[:0], b).shape == (0, 3)
