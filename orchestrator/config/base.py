"""Building blocks shared by the configuration models."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict


def check_zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {v!r} (use an IANA name like Asia/Shanghai)") from None
    return v


class Strict(BaseModel):
    """Every configuration model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False)
