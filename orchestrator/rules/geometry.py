"""Geometry precomputed once per set of zones and lines; per-frame work is one array expression
for all of them.

Coordinates are image pixels, x to the right, y downwards.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

SIDE_A, SIDE_B, OFF_LINE = 1, -1, 0


class Measures(NamedTuple):
    """Where N points lie relative to Z zones and L lines.

    Attributes:
        depth: (N, Z) signed distance to each zone's boundary, > 0 inside.
        inside: (N, Z) whether each point lies inside each zone.
        side: (N, L) side of each line: +1 (A), -1 (B) or 0 (beyond an end).
        distance: (N, L) distance to each line's nearest segment.
    """

    depth: F64
    inside: npt.NDArray[np.bool_]
    side: npt.NDArray[np.int8]
    distance: F64

    def select(self, rows: npt.NDArray[np.int64]) -> Measures:
        """The measures of points ``rows`` only."""
        return Measures(self.depth[rows], self.inside[rows], self.side[rows],
                        self.distance[rows])


class Shapes:
    """Polygons (closed) and polylines (open) measured together.

    Every segment of every shape sits in one table; a frame's points are measured against all
    of them in one array expression, and each shape's result is reduced from its own block of
    segments (nearest segment, crossings for containment). The cost per frame hardly grows
    with the number of zones and lines, and the results are those of measuring each alone.
    """

    def __init__(self, polygons: list[F64], lines: list[F64]) -> None:
        a, d, end = [], [], []
        for p in polygons:
            a.append(p)
            end.append(np.roll(p, -1, axis=0))
            d.append(end[-1] - p)
        for p in lines:
            a.append(p[:-1])
            end.append(p[1:])
            d.append(p[1:] - p[:-1])
        counts = np.array([len(s) for s in a], np.int64)
        self.n_zones, self.n_lines = len(polygons), len(lines)
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros((0, 2)))  # noqa: E731
        self._a, self._d, self._end = cat(a), cat(d), cat(end)
        self._len2 = np.maximum((self._d ** 2).sum(1), 1e-12)
        self._edges = int(counts[:self.n_zones].sum())  # the polygons' segments come first
        ea, eb = self._a[:self._edges], self._end[:self._edges]
        dy = eb[:, 1] - ea[:, 1]
        self._slope = np.divide(eb[:, 0] - ea[:, 0], dy, out=np.zeros_like(dy), where=dy != 0)
        ld = self._d[self._edges:]
        self._normal = (np.stack([-ld[:, 1], ld[:, 0]], 1)
                        / np.sqrt((ld ** 2).sum(1))[:, None])  # points to side A
        # At a vertex shared by segments k and k+1 of a line, the side follows the summed
        # normals (the last segment of each line has no next one; its entry is never read).
        self._vertex_normal = self._normal + np.roll(self._normal, -1, axis=0)
        line_counts = counts[self.n_zones:]
        self._line_first = self._starts[self.n_zones:] - self._edges
        self._line_last = self._line_first + line_counts - 1
        self._line_of = np.repeat(np.arange(self.n_lines), line_counts)  # per line segment
        self._line_segments = np.arange(len(ld))

    def measure(self, pts: Points) -> Measures:
        """Depth in every zone, side of and distance to every line, of the (N, 2) points."""
        n = len(pts)
        if n == 0 or len(self._a) == 0:
            return Measures(np.zeros((n, self.n_zones)), np.zeros((n, self.n_zones), bool),
                            np.zeros((n, self.n_lines), np.int8), np.zeros((n, self.n_lines)))
        p = pts.astype(np.float64)
        q = p[:, None, :] - self._a[None]  # (N, S, 2)
        t = (q * self._d[None]).sum(2) / self._len2[None]  # (N, S)
        tc = np.minimum(np.maximum(t, 0.0), 1.0)  # np.clip, without its wrapper's cost
        dist2 = ((q - tc[..., None] * self._d[None]) ** 2).sum(2)
        nearest2 = np.minimum.reduceat(dist2, self._starts, axis=1)  # (N, shapes)
        dist = np.sqrt(nearest2)
        depth, inside = self._zones(p, dist[:, :self.n_zones])
        side = self._sides(p, q[:, self._edges:], t[:, self._edges:], dist2[:, self._edges:],
                           nearest2[:, self.n_zones:])
        return Measures(depth, inside, side, dist[:, self.n_zones:])

    def _zones(self, p: F64, dist: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
        """Crossing-number containment (edges count as inside on the top-left) and depth."""
        if not self.n_zones:
            return np.zeros((len(p), 0)), np.zeros((len(p), 0), bool)
        x, y = p[:, 0:1], p[:, 1:2]
        ea, eb = self._a[:self._edges], self._end[:self._edges]
        straddles = (ea[:, 1] <= y) != (eb[:, 1] <= y)  # (N, E)
        x_cross = ea[:, 0] + (y - ea[:, 1]) * self._slope
        crossings = np.add.reduceat((straddles & (x < x_cross)).astype(np.int64),
                                    self._starts[:self.n_zones], axis=1)
        inside = crossings % 2 == 1
        return np.where(inside, dist, -dist), inside

    def _sides(self, p: F64, q: F64, t: F64, dist2: F64, nearest2: F64
               ) -> npt.NDArray[np.int8]:
        """Side of each line, from its nearest segment (the first one at a tie)."""
        n, lines = len(p), self.n_lines
        if not lines:
            return np.zeros((n, 0), np.int8)
        segments = self._line_segments
        idx = np.where(dist2 == nearest2[:, self._line_of], segments, len(segments))
        k = np.minimum.reduceat(idx, self._line_first, axis=1)  # (N, L) nearest segment
        rows = np.arange(n)[:, None]
        tk = t[rows, k]
        side = np.sign((q[rows, k] * self._normal[k]).sum(2))
        before, after = tk <= 0, tk >= 1
        off = (before & (k == self._line_first)) | (after & (k == self._line_last))
        at_vertex = (before | after) & ~off
        if at_vertex.any():
            vk = np.where(before, k - 1, k)[at_vertex]  # the vertex between vk and vk + 1
            rel = p[np.nonzero(at_vertex)[0]] - self._end[self._edges:][vk]
            side[at_vertex] = np.sign((rel * self._vertex_normal[vk]).sum(1))
        side[off] = OFF_LINE
        return side.astype(np.int8)


class Polygon:
    """A closed polygon; tests many points at once with the crossing-number rule."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        p = np.asarray(points, np.float64)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3:
            raise ValueError(f"polygon needs >=3 (x, y) points, got {p.shape}")
        self.points = p
        self._shapes = Shapes([p], [])

    def measure(self, pts: Points) -> Measures:
        return self._shapes.measure(pts)

    def contains(self, pts: Points) -> npt.NDArray[np.bool_]:
        """Which of the (N, 2) points lie inside (edges count as inside on the top-left)."""
        return self._shapes.measure(pts).inside[:, 0]

    def depth(self, pts: Points) -> F64:
        """Signed distance of each of the (N, 2) points to the boundary: > 0 inside."""
        return self._shapes.measure(pts).depth[:, 0]


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
        self._d = p[1:] - p[:-1]
        if np.any((self._d ** 2).sum(1) == 0):
            raise ValueError("line has a zero-length segment")
        self._shapes = Shapes([], [p])

    def measure(self, pts: Points) -> Measures:
        return self._shapes.measure(pts)

    def sides(self, pts: Points) -> npt.NDArray[np.int8]:
        """Side of each of the (N, 2) points: +1 (A), -1 (B) or 0 (beyond an end)."""
        return self._shapes.measure(pts).side[:, 0]

    def distance(self, pts: Points) -> F64:
        """Distance of each of the (N, 2) points to the nearest segment, in pixels."""
        return self._shapes.measure(pts).distance[:, 0]

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
