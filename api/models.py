"""The API's request and response bodies and query strings, as pydantic models: handlers
validate with them, and the OpenAPI document is generated from them (one source for both)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestrator.config import CameraConfig
from orchestrator.config.cameras import (
    ClimbConfig,
    GroundConfig,
    LineConfig,
    RouteConfig,
    RuleDefaults,
    ZoneConfig,
)

# Printable text of bounded length: what reaches the database or Redis from a query string.
Text = Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]
CameraId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                            pattern=r"^[A-Za-z0-9_.\-]+$")]
Verdict = Literal["confirmed", "false_alarm"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# -- generic ---------------------------------------------------------------------------------

class Error(_Out):
    error: str = Field(description="What was wrong, for a person to read.")


class Health(_Out):
    status: str


# -- sessions --------------------------------------------------------------------------------

class LoginIn(_In):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(_Out):
    name: str
    role: Literal["viewer", "operator", "admin"]
    csrf_token: str | None = Field(description="Send it back as X-CSRF-Token on every write "
                                               "(None for API tokens, which need none).")


# -- events ----------------------------------------------------------------------------------

class Acknowledgement(_Out):
    id: int
    event_id: str
    operator: str
    verdict: Verdict
    note: str | None
    at: datetime


class EventOut(_Out):
    """An alarm as recorded; evidence paths are relative to ``/api/v1/evidence/``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str
    camera: str
    rule: str
    rule_kind: str
    direction: str | None
    track_id: int
    class_id: int
    class_name: str = Field(alias="class")
    score: float
    box: list[float]
    trajectory: list[list[float]] = Field(description="[UTC epoch seconds, x, y] per point.")
    video_time: float
    capture_time: datetime = Field(description="When the act happened.")
    detected_at: datetime = Field(description="When the rule confirmed it.")
    snapshot: str | None
    clip: str | None
    clip_status: Literal["pending", "ready", "failed"]
    fence_token: int | None
    point: list[float] | None
    site: list[float] | None = Field(
        None, description="[X, Y] metres of the act on the site plan (a camera with a ground).")
    incident: str | None = Field(
        None, description="The incident's first event id: events of one act share it.")
    acknowledgement: Acknowledgement | None = Field(
        None, description="The latest verdict on it, if any.")


class EventPage(_Out):
    events: list[EventOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class EventDetail(EventOut):
    acknowledgements: list[Acknowledgement]


class EventQuery(_Query):
    camera: Text | None = None
    rule: Text | None = None
    class_name: Text | None = Field(None, alias="class")
    incident: Text | None = Field(None, description="The events of this incident.")
    since: datetime | None = Field(None, description="ISO time; without a zone, UTC.")
    until: datetime | None = None
    status: Literal["unacknowledged", "confirmed", "false_alarm"] | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


class AckIn(_In):
    verdict: Verdict = "confirmed"
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


# -- cameras ---------------------------------------------------------------------------------

class CameraSummary(_Out):
    id: str
    name: str | None
    enabled: bool
    version: int
    state: str = Field(description="live, connecting, degraded, stalled, failed, paused, "
                                   "invalid, starting, ended; `unassigned` when no worker "
                                   "holds it.")
    reason: str
    worker: str | None
    fps: float
    lag_p50_ms: float
    lag_p99_ms: float
    last_frame: float = Field(description="UTC epoch seconds of the last analysed frame.")
    events: int
    mode: Literal["day", "night"] = Field(
        "day", description="The detector setting in use (cameras[].night).")
    heights: dict[str, Any] | None = Field(
        None, description="The learned perspective model per class: coef [a, b, c] of "
                          "height ≈ a + b·y + c·x px at foot point (x, y), spread, samples "
                          "(cameras[].perspective).")


class CameraList(_Out):
    cameras: list[CameraSummary]


class CameraDoc(_Out):
    camera: CameraConfig = Field(description="Secrets are masked for all but admins.")
    version: int
    status: CameraSummary


class VersionQuery(_Query):
    version: int | None = Field(None, ge=0, description="The version this write is based on; "
                                                        "a stale one answers 409.")


class Written(_Out):
    id: str
    version: int


class Rules(_Out):
    zones: list[ZoneConfig]
    lines: list[LineConfig]
    climbs: list[ClimbConfig]
    routes: list[RouteConfig]
    ground: GroundConfig | None
    rules: RuleDefaults
    version: int


class RulesIn(_In):
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    climbs: list[ClimbConfig] | None = Field(None, description="None keeps the camera's.")
    ground: GroundConfig | None = Field(
        None, description="The ground plane's point pairs; left out keeps the camera's, null "
                          "removes it.")
    routes: list[RouteConfig] | None = Field(
        None, description="None keeps the camera's (each must name zones of this edit).")
    rules: RuleDefaults | None = Field(None, description="None keeps the camera's.")
    version: int | None = Field(None, ge=0, description="The version this edit is based on.")


class FrameQuery(_Query):
    overlay: bool = Field(True, description="Draw the rules and tracked boxes.")


# -- site ------------------------------------------------------------------------------------

class Placement(_In):
    x: float = Field(ge=0, le=1, description="Across the map image, 0 (left) to 1 (right).")
    y: float = Field(ge=0, le=1, description="Down the map image, 0 (top) to 1 (bottom).")
    heading: float = Field(0, ge=0, lt=360, description="Where it looks, degrees clockwise "
                                                        "from up.")
    fov: float = Field(60, gt=0, le=360, description="Field of view, degrees.")
    range: float = Field(0.1, gt=0, le=1, description="How far it sees, in map widths.")


class Layout(_In):
    cameras: dict[CameraId, Placement] = Field(default_factory=dict, max_length=5000)


class Check(_Out):
    ok: bool
    detail: str


class SiteHealth(_Out):
    database: Check
    redis: Check
    broker: Check
    workers: dict[str, dict[str, str]]
    cameras: dict[str, int] = Field(description="Cameras per state.")
    unassigned: list[str] = Field(description="Enabled cameras no worker holds.")


class StatusOut(_Out):
    workers: dict[str, dict[str, str]]
    cameras: dict[str, dict[str, str]]
    leases: dict[str, str]


class StatsQuery(_Query):
    days: int = Field(30, ge=1, le=183)


class StatRow(_Out):
    camera: str
    rule: str
    day: str
    events: int
    confirmed: int
    false_alarms: int


class FalseAlarmStats(_Out):
    since: datetime
    rows: list[StatRow]
