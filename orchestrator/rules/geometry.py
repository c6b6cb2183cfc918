"""Geometry precomputed once per zone or line; per-frame work is one array expression.

Coordinates are image pixels, x to the right, y downwards.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float32]

SIDE_A, SIDE_B, OFF_LINE = 1, -1, 0


class Polygon:
    """A closed polygon; tests many points at once with the crossing-number rule."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        p = np.asarray(points, np.float64)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3:
            raise ValueError(f"polygon needs >=3 (x, y) points, got {p.shape}")
        self.points = p
        self._a = p
        self._b = np.roll(p, -1, axis=0)
        dy = self._b[:, 1] - self._a[:, 1]
        self._slope = np.divide(self._b[:, 0] - self._a[:, 0], dy,
                                out=np.zeros_like(dy), where=dy != 0)

    def contains(self, pts: Points) -> npt.NDArray[np.bool_]:
        """Which of the (N, 2) points lie inside (edges count as inside on the top-left)."""
        if len(pts) == 0:
            return np.zeros(0, bool)
        x, y = pts[:, 0:1].astype(np.float64), pts[:, 1:2].astype(np.float64)
        ay, by = self._a[:, 1], self._b[:, 1]
        straddles = (ay <= y) != (by <= y)  # (N, M)
        x_cross = self._a[:, 0] + (y - ay) * self._slope
        return np.count_nonzero(straddles & (x < x_cross), axis=1) % 2 == 1

    def depth(self, pts: Points) -> npt.NDArray[np.float64]:
        """Signed distance of each of the (N, 2) points to the boundary: > 0 inside."""
        if len(pts) == 0:
            return np.zeros(0)
        dist = _segment_distance(pts, self._a, self._b - self._a)
        return np.where(self.contains(pts), dist, -dist)


class Polyline:
    """An open line of one or more segments (e.g. a wall edge) with two sides.

    Side A (+1) is on your right when you walk from the first point to the last as drawn on the
    image; side B (-1) on your left. Points beyond either end have no side (0), so walking
    around the end of a wall is not a crossing.
    """

    def __init__(self, points: list[tuple[float, float]]) -> None:
        p = np.asarray(points, np.float64)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 2:
            raise ValueError(f"line needs >=2 (x, y) points, got {p.shape}")
        self.points = p
        self._a = p[:-1]
        d = p[1:] - p[:-1]
        length2 = (d ** 2).sum(1)
        if np.any(length2 == 0):
            raise ValueError("line has a zero-length segment")
        self._d = d
        self._len2 = length2
        normal = np.stack([-d[:, 1], d[:, 0]], 1) / np.sqrt(length2)[:, None]  # points to side A
        self._normal = normal
        # At a vertex shared by segments k and k+1, the side follows the summed normals.
        self._vertex_normal = normal[:-1] + normal[1:]

    def sides(self, pts: Points) -> npt.NDArray[np.int8]:
        """Side of each of the (N, 2) points: +1 (A), -1 (B) or 0 (beyond an end)."""
        n = len(pts)
        if n == 0:
            return np.zeros(0, np.int8)
        if len(self._d) == 1:
            return self._segment_sides(pts)
        q = pts.astype(np.float64)[:, None, :] - self._a[None]  # (N, S, 2)
        t = (q * self._d[None]).sum(2) / self._len2[None]  # (N, S)
        tc = np.clip(t, 0.0, 1.0)
        dist2 = ((q - tc[..., None] * self._d[None]) ** 2).sum(2)
        k = dist2.argmin(1)
        rows = np.arange(n)
        tk = t[rows, k]
        side = np.sign((q[rows, k] * self._normal[k]).sum(1))
        last = len(self._d) - 1
        before = tk <= 0
        after = tk >= 1
        off = (before & (k == 0)) | (after & (k == last))
        at_vertex = (before | after) & ~off
        if at_vertex.any():
            vk = np.where(before, k - 1, k)[at_vertex]  # index of the vertex between vk, vk+1
            v = self.points[vk + 1]
            rel = pts[at_vertex].astype(np.float64) - v
            side[at_vertex] = np.sign((rel * self._vertex_normal[vk]).sum(1))
        side[off] = OFF_LINE
        return side.astype(np.int8)

    def distance(self, pts: Points) -> npt.NDArray[np.float64]:
        """Distance of each of the (N, 2) points to the nearest segment, in pixels."""
        if len(pts) == 0:
            return np.zeros(0)
        return _segment_distance(pts, self._a, self._d)

    def _segment_sides(self, pts: Points) -> npt.NDArray[np.int8]:
        """``sides`` for a single segment: the sign of the cross product, 0 beyond the ends."""
        q = pts - self._a[0]
        t = q @ self._d[0] / self._len2[0]
        side = np.sign(q @ self._normal[0]).astype(np.int8)
        side[(t <= 0) | (t >= 1)] = OFF_LINE
        return side

    def crossed_by(self, p: tuple[float, float], q: tuple[float, float]) -> bool:
        """Whether the straight move p→q intersects any segment of the line."""
        p_ = np.asarray(p, np.float64)
        r = np.asarray(q, np.float64) - p_
        s = self._d
        denom = r[0] * s[:, 1] - r[1] * s[:, 0]
        ap = self._a - p_
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (ap[:, 0] * s[:, 1] - ap[:, 1] * s[:, 0]) / denom
            u = (ap[:, 0] * r[1] - ap[:, 1] * r[0]) / denom
        hit = (denom != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
        return bool(hit.any())


def _segment_distance(pts: Points, a: npt.NDArray[np.float64], d: npt.NDArray[np.float64]
                      ) -> npt.NDArray[np.float64]:
    """Distance of each of N points to the nearest of S segments ``a + t d``, t in [0, 1]."""
    q = pts.astype(np.float64)[:, None, :] - a[None]  # (N, S, 2)
    len2 = np.maximum((d ** 2).sum(1), 1e-12)
    t = np.clip((q * d[None]).sum(2) / len2[None], 0.0, 1.0)
    return np.sqrt(((q - t[..., None] * d[None]) ** 2).sum(2).min(1))
