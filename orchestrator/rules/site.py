"""A camera's ground plane: image pixels to site metres, by a homography fitted to point pairs.

Four or more points on the ground, each seen at (x, y) in the image and measured at (X, Y) on
the site plan (metres), fix the plane's homography when no three of them are in a line. It is
fitted by the direct linear transform on normalised points (least squares when there are more
than four), so that a camera's anchors (the feet of a person, the wheels of a car) map to the
site, and events from cameras that overlap on the ground can be told to be the same act.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

Pair = tuple[float, float, float, float]  # x px, y px, X m, Y m
THIN_SEARCH = 10  # pairs up to which a degenerate set's message names its thin triple
RANK_TOL = 1e-7  # relative singular value under which the pairs leave the plane undetermined
F64 = npt.NDArray[np.float64]


class CalibrationError(ValueError):
    """Point pairs that fix no ground plane (too few, three in a line, the plane folded)."""


def _normaliser(p: F64) -> F64:
    """The similarity that moves ``p`` to its centroid at mean distance sqrt(2) (Hartley)."""
    c = p.mean(axis=0)
    d = float(np.mean(np.hypot(*(p - c).T)))
    s = math.sqrt(2) / d if d > 0 else 1.0
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])


def _collinear(a: F64, b: F64, c: F64, tol: float) -> bool:
    """Whether ``c`` lies within ``tol`` of the triangle's longest side from the line of the
    other two (a thin triangle)."""
    area2 = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    span = max(np.hypot(*(b - a)), np.hypot(*(c - a)), np.hypot(*(c - b)))
    return bool(span == 0 or area2 / span < tol * span)


def _thin_triple(p: F64, tol: float = 0.02) -> tuple[int, ...] | None:
    """For a message: a triple of ``p`` (N, 2, at most ``THIN_SEARCH`` points) that is nearly
    in a line, if every four points hold one; None when some four are in general position."""
    if len(p) > THIN_SEARCH:
        return None
    first = None
    for four in itertools.combinations(range(len(p)), 4):
        thin = next((t for t in itertools.combinations(four, 3)
                     if _collinear(p[t[0]], p[t[1]], p[t[2]], tol)), None)
        if thin is None:
            return None
        first = first or thin
    return first


class Homography:
    """Image pixels → site metres on the ground plane.

    Example:
        >>> h = Homography.fit([(0, 0, 0, 0), (100, 0, 10, 0), (100, 100, 10, 10),
        ...                     (0, 100, 0, 10)])
        >>> [round(v, 3) for v in h.to_site([(50, 50)])[0]]
        [5.0, 5.0]
    """

    def __init__(self, matrix: F64, error_m: float) -> None:
        self.matrix = matrix
        self.error_m = error_m  # the largest distance between a pair's site point and its fit

    @classmethod
    def fit(cls, pairs: Sequence[Sequence[float]]) -> Homography:
        if len(pairs) < 4:
            raise CalibrationError(f"a ground plane needs >=4 point pairs, got {len(pairs)}")
        arr = np.asarray(pairs, np.float64)
        img, site = arr[:, :2], arr[:, 2:]
        ti, ts = _normaliser(img), _normaliser(site)
        a = np.c_[img, np.ones(len(img))] @ ti.T
        b = np.c_[site, np.ones(len(site))] @ ts.T
        rows = []
        for (x, y, _), (u, v, _) in zip(a, b, strict=True):
            rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
            rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
        _, sv, vt = np.linalg.svd(np.asarray(rows))
        hn = vt[-1].reshape(3, 3)
        # Linear in the number of pairs (a set of 64 is checked as fast as one of 4): the
        # plane is fixed when one homography fits, i.e. the system leaves one dimension free,
        # and that homography is not singular (site points in a line).
        s0 = max(float(sv[0]), 1e-12)
        if sv[7] < RANK_TOL * s0 or abs(np.linalg.det(hn)) < RANK_TOL:
            for name, pts in (("image", img), ("site", site)):
                bad = _thin_triple(pts)
                if bad is not None:
                    raise CalibrationError(
                        f"pairs {bad[0]}, {bad[1]} and {bad[2]} are in a line in the {name} "
                        f"({pts[list(bad)].tolist()}): spread the points over the ground")
            raise CalibrationError("the pairs do not fix a ground plane (too few distinct "
                                   "points, or all near one line): spread four or more over "
                                   "the ground, no three in a line")
        matrix = np.linalg.inv(ts) @ hn @ ti
        w = np.c_[img, np.ones(len(img))] @ matrix[2]
        if not (np.all(w > 0) or np.all(w < 0)):
            raise CalibrationError("the pairs put the horizon between them: a point is "
                                   "mismatched, or not on the ground")
        matrix = matrix / matrix[2, 2] if abs(matrix[2, 2]) > 1e-12 else matrix
        h = cls(matrix, 0.0)
        err = np.hypot(*(h.to_site(img) - site).T)
        h.error_m = float(err.max())
        return h

    def to_site(self, points: Sequence[Sequence[float]] | F64) -> F64:
        """(N, 2) image points → (N, 2) site points (metres)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        q = np.c_[p, np.ones(len(p))] @ self.matrix.T
        return q[:, :2] / q[:, 2:3]


@lru_cache(maxsize=1024)
def homography(pairs: tuple[Pair, ...]) -> Homography:
    """The fitted homography of a camera's pairs (fitted once per set of pairs)."""
    return Homography.fit(pairs)


def site_point(pairs: Sequence[Sequence[float]] | None, point: Sequence[float] | None
               ) -> list[float] | None:
    """``point`` (image px) on the site (metres, rounded to cm), or None without a ground
    plane or a point."""
    if not pairs or point is None:
        return None
    h = homography(tuple(tuple(float(v) for v in p) for p in pairs))  # type: ignore[misc]
    x, y = h.to_site([point])[0]
    return [round(float(x), 2), round(float(y), 2)]
