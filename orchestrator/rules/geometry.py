"""Geometry precomputed once per set of zones and lines; per-frame work is one array expression
for all of them.

Coordinates are image pixels, x to the right, y downwards.
"""

from __future__ import annotations

from typing import Any, NamedTuple

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
        self._table: dict[str, npt.NDArray[Any]] | None = None

    def segment_table(self) -> dict[str, npt.NDArray[Any]]:
        """Per segment (zones' edges first, then lines'), what ``ShapesBatch`` needs to measure
        it among other cameras' segments: its shape, whether it is an edge, the edge's slope,
        the line's normal and vertex normal, the line's first and last segment (indices in
        this table); and where each shape's segments start. Computed once."""
        if self._table is None:
            n, e = len(self._a), self._edges
            counts = np.diff(np.append(self._starts[:self.n_zones + self.n_lines], n))
            edge = np.arange(n) < e
            slope = np.zeros(n)
            slope[:e] = self._slope
            normal, vnormal = np.zeros((n, 2)), np.zeros((n, 2))
            normal[e:], vnormal[e:] = self._normal, self._vertex_normal
            first, last = np.zeros(n, np.int64), np.zeros(n, np.int64)
            if self.n_lines:
                first[e:] = e + self._line_first[self._line_of]
                last[e:] = e + self._line_last[self._line_of]
            self._table = {
                "a": self._a.reshape(-1, 2), "d": self._d.reshape(-1, 2),
                "end": self._end.reshape(-1, 2), "len2": self._len2,
                "shape_of": np.repeat(np.arange(len(counts)), counts).astype(np.int64),
                "edge": edge, "slope": slope, "normal": normal, "vnormal": vnormal,
                "first": first, "last": last,
                "starts": self._starts[:self.n_zones + self.n_lines].astype(np.int64)}
        return self._table

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


class ShapesBatch:
    """The ``Shapes`` of many cameras measured in one pass: each camera's points against its
    own segments only (a ragged table of point × segment pairs, no padding), so a batch of
    cameras pays numpy's per-call cost once. Each camera's result is exactly what its own
    ``Shapes.measure`` gives.

    Example:
        >>> a = Shapes([], [np.array([[0.0, 0.0], [0.0, 10.0]])])
        >>> b = Shapes([np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]])], [])
        >>> ma, mb = ShapesBatch([a, b]).measure([np.array([[1.0, 5.0]], np.float32),
        ...                                       np.array([[3.0, 1.0]], np.float32)])
        >>> int(ma.side[0, 0]), bool(mb.inside[0, 0])
        (-1, True)
    """

    def __init__(self, shapes: list[Shapes]) -> None:
        self.shapes = shapes
        tables = [s.segment_table() for s in shapes]
        segs = [len(s._a) for s in shapes]
        self._segs = np.array(segs, np.int64)  # segments per camera
        self._seg0 = np.concatenate([[0], np.cumsum(segs)[:-1]]).astype(np.int64)
        self._kinds = np.array([s.n_zones + s.n_lines for s in shapes], np.int64)
        self._kind0 = np.concatenate([[0], np.cumsum(self._kinds)[:-1]]).astype(np.int64)

        def cat(key: str) -> npt.NDArray[Any]:
            return np.concatenate([tb[key] for tb in tables])

        self._a, self._d, self._end, self._len2 = cat("a"), cat("d"), cat("end"), cat("len2")
        self._shape_of, self._edge, self._slope = cat("shape_of"), cat("edge"), cat("slope")
        self._normal, self._vnormal = cat("normal"), cat("vnormal")
        offset = np.repeat(self._seg0, self._segs)  # a camera's segments start at its seg0
        self._first, self._last = cat("first") + offset, cat("last") + offset
        # Where each camera's shapes start among its segments (reduceat offsets), all cameras
        # in one table; a camera's entries begin at _kind0.
        self._starts = cat("starts")

    def measure(self, points: list[Points]) -> list[Measures]:
        """Each camera's ``Measures`` of its (N_i, 2) points."""
        n = np.array([len(p) for p in points], np.int64)
        segs, kinds = self._segs, self._kinds
        live = (n > 0) & (segs > 0)
        out: list[Measures | None] = [None] * len(points)
        for i in np.flatnonzero(~live).tolist():
            out[i] = self.shapes[i].measure(points[i])
        if not live.any():
            return out  # type: ignore[return-value]
        cams = np.flatnonzero(live)
        p = np.concatenate([points[i] for i in cams.tolist()]).astype(np.float64)
        cam_of = np.repeat(cams, n[cams])  # per point
        per_pt = segs[cam_of]  # pairs per point
        pair0 = np.concatenate([[0], np.cumsum(per_pt)[:-1]])  # first pair of each point
        pt = np.repeat(np.arange(len(p)), per_pt)  # per pair: its point
        seg = (np.arange(int(per_pt.sum())) - pair0[pt]) + self._seg0[cam_of][pt]  # its segment
        qx = p[pt, 0] - self._a[seg, 0]
        qy = p[pt, 1] - self._a[seg, 1]
        dx, dy = self._d[seg, 0], self._d[seg, 1]
        t = (qx * dx + qy * dy) / self._len2[seg]
        tc = np.minimum(np.maximum(t, 0.0), 1.0)
        dist2 = (qx - tc * dx) ** 2 + (qy - tc * dy) ** 2
        # Per (point, shape) of its camera, in point-major order.
        k_pt = kinds[cam_of]
        row0 = np.concatenate([[0], np.cumsum(k_pt)[:-1]])  # first (point, shape) of a point
        kp = np.repeat(np.arange(len(p)), k_pt)  # per (point, shape): its point
        shape = np.arange(len(kp)) - row0[kp]
        blocks = pair0[kp] + self._starts[self._kind0[cam_of][kp] + shape]
        nearest2 = np.minimum.reduceat(dist2, blocks)
        dist = np.sqrt(nearest2)
        # Zones: crossing number along each zone's edges.
        y, x = p[pt, 1], p[pt, 0]
        ea_y, eb_y = self._a[seg, 1], self._end[seg, 1]
        x_cross = self._a[seg, 0] + (y - ea_y) * self._slope[seg]
        crossing = (((ea_y <= y) != (eb_y <= y)) & (x < x_cross) & self._edge[seg])
        inside = np.add.reduceat(crossing.astype(np.int64), blocks) % 2 == 1
        # Lines: the nearest segment (the first at a tie), then its side.
        row = row0[pt] + self._shape_of[seg]  # per pair: its (point, shape)
        idx = np.where(dist2 == nearest2[row], seg, len(self._a))
        k = np.minimum.reduceat(idx, blocks)  # per (point, shape): nearest segment
        is_line = ~self._edge[k]
        first_seg = self._seg0[cam_of][kp]
        kk = np.where(is_line, k, first_seg)  # zones' rows read any pair; they are dropped
        at = pair0[kp] + (kk - first_seg)  # the pair (point, nearest segment)
        tk = t[at]
        side = np.sign(qx[at] * self._normal[kk, 0] + qy[at] * self._normal[kk, 1])
        before, after = tk <= 0, tk >= 1
        off = (before & (kk == self._first[kk])) | (after & (kk == self._last[kk]))
        at_vertex = (before | after) & ~off & is_line
        if at_vertex.any():
            vk = np.where(before, kk - 1, kk)[at_vertex]
            rel = p[kp[at_vertex]] - self._end[vk]
            side[at_vertex] = np.sign((rel * self._vnormal[vk]).sum(1))
        side[off] = OFF_LINE
        side8 = side.astype(np.int8)
        # Each camera's block of (point, shape) rows is contiguous: reshape it.
        start = 0
        for i in cams.tolist():
            s, m = self.shapes[i], int(n[i]) * int(kinds[i])
            sl = slice(start, start + m)
            start += m
            d = dist[sl].reshape(n[i], kinds[i])
            ins = inside[sl].reshape(n[i], kinds[i])[:, :s.n_zones]
            zd = d[:, :s.n_zones]
            out[i] = Measures(np.where(ins, zd, -zd), ins,
                              side8[sl].reshape(n[i], kinds[i])[:, s.n_zones:],
                              d[:, s.n_zones:])
        return out  # type: ignore[return-value]
