"""How the benches print a figure measured over several rounds: the median and the range."""

from __future__ import annotations

import statistics


def median_range(xs: list[float], spec: str = ".3f") -> str:
    """``median (min–max)`` of the rounds' values, each formatted with ``spec``."""
    return f"{statistics.median(xs):{spec}} ({min(xs):{spec}}–{max(xs):{spec}})"
