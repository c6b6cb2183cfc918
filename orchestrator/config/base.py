"""Building blocks shared by the configuration models."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError


def problems(e: ValidationError, whole: str = "") -> str:
    """A validation error as one line: ``field.path: message; ...`` (``whole`` names an error
    of the whole document)."""
    return "; ".join(f"{'.'.join(map(str, x['loc'])) or whole}: "
                     f"{x['msg'].removeprefix('Value error, ')}" for x in e.errors())


def check_zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {v!r} (use an IANA name like Asia/Shanghai)") from None
    return v


def self_crossing(points: list[tuple[float, float]]) -> tuple[int, int] | None:
    """The first two edges of a closed polygon that cross each other (indices of their first
    points), or None. Edges that only touch do not count.

    Example:
        >>> self_crossing([(0, 0), (10, 0), (10, 10), (0, 10)]) is None
        True
        >>> self_crossing([(0, 0), (10, 10), (10, 0), (0, 10)])  # a bow tie
        (0, 2)
    """
    p = np.asarray(points, np.float64)
    n = len(p)
    if n < 4:
        return None
    a, b = p, np.roll(p, -1, axis=0)
    i, j = np.triu_indices(n, 2)
    keep = ~((i == 0) & (j == n - 1))  # the closing edge meets the first one
    i, j = i[keep], j[keep]

    def orient(p0: np.ndarray, p1: np.ndarray, q: np.ndarray) -> np.ndarray:
        return np.sign((p1[:, 0] - p0[:, 0]) * (q[:, 1] - p0[:, 1])
                       - (p1[:, 1] - p0[:, 1]) * (q[:, 0] - p0[:, 0]))

    cross = ((orient(a[i], b[i], a[j]) * orient(a[i], b[i], b[j]) < 0)
             & (orient(a[j], b[j], a[i]) * orient(a[j], b[j], b[i]) < 0))
    hit = np.flatnonzero(cross)
    return (int(i[hit[0]]), int(j[hit[0]])) if len(hit) else None


class Strict(BaseModel):
    """Every configuration model: unknown keys are errors, numbers are finite (NaN and
    infinity are refused where they are read, never stored)."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)
