"""Camera configuration: sources, zones, lines, rule settings, schedules, recorders."""

from __future__ import annotations

import itertools
from datetime import datetime
from datetime import time as dt_time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from orchestrator.classes import class_id
from orchestrator.config.base import Strict as _Strict
from orchestrator.config.base import check_zone as _check_zone
from orchestrator.config.base import self_crossing

Point = tuple[float, float]
MAX_POINTS = 500  # per zone or line: a hand-drawn wall edge needs tens
MAX_RULES = 64  # zones, and lines, per camera
MAX_ROUTE_STEPS = 16
Anchor = Literal["bottom_center", "center", "top_center"]


class ObjectFilter(_Strict):
    """Which tracked objects a rule looks at."""

    classes: list[str | int] | None = Field(
        None, description="Class names or ids a rule fires for; None = the detector's classes."
    )
    min_score: float = Field(0.0, ge=0, le=1, description="Minimum detection score.")
    min_size: tuple[float, float] = Field(
        (0, 0), description="Minimum box width and height in pixels."
    )
    max_size: tuple[float, float] | None = Field(
        None, description="Maximum box width and height in pixels; None = no limit."
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, v: list[str | int] | None) -> list[str | int] | None:
        for c in v or []:
            class_id(c)
        return v

    @model_validator(mode="after")
    def _sizes(self) -> ObjectFilter:
        if self.max_size is not None and any(
            mx < mn for mn, mx in zip(self.min_size, self.max_size, strict=True)
        ):
            raise ValueError(f"max_size {self.max_size} is smaller than min_size {self.min_size}")
        return self


class RuleDefaults(_Strict):
    """Settings every zone and line of a camera inherits unless it sets its own."""

    anchor: Anchor = Field("bottom_center", description="Box point judged against the geometry.")
    confirm_frames: int = Field(
        3, ge=1, le=100, description="Analysed frames an object must hold a side / the inside."
    )
    cooldown_s: float = Field(
        30.0, ge=0, description="Seconds before the same track may fire the same rule again "
        "in the same direction: a line crossed back the other way fires at once; a zone "
        "entered again within it does not."
    )
    margin: float = Field(
        0.08, ge=0, le=1, description="How far past a line or a zone's edge the anchor must "
        "go before the other side or the inside counts, as a fraction of the box height "
        "(at least 2 px): jitter and walking along the edge never fire.")
    filter: ObjectFilter = Field(default_factory=ObjectFilter,
                                 description="Which objects the rules look at.")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TimeWindow(_Strict):
    """When a rule is armed: from ``start`` to ``end`` (local time of the camera) on ``days``.

    A window whose end is not after its start runs past midnight into the next day.
    """

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS),
                                description="Days the window starts on.")
    start: dt_time = Field(description="Local start time, HH:MM.")
    end: dt_time = Field(description="Local end time, HH:MM (<= start: the next day).")

    def contains(self, local: datetime) -> bool:
        t, day = local.time(), WEEKDAYS[local.weekday()]
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        prev = WEEKDAYS[(local.weekday() - 1) % 7]
        return (day in self.days and t >= self.start) or (prev in self.days and t < self.end)


class _RuleSettings(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$",
                      description="Unique per camera; letters, digits, _ . -")
    anchor: Anchor | None = Field(None, description="None = the camera's rules.anchor.")
    confirm_frames: int | None = Field(None, ge=1, le=100,
                                       description="None = the camera's rules.confirm_frames.")
    cooldown_s: float | None = Field(None, ge=0,
                                     description="None = the camera's rules.cooldown_s.")
    margin: float | None = Field(None, ge=0, le=1,
                                 description="None = the camera's rules.margin.")
    filter: ObjectFilter | None = Field(None, description="None = the camera's rules.filter.")
    schedule: list[TimeWindow] | None = Field(
        None, description="Arming windows (camera's timezone); None = always armed.")


class _RuleBase(_RuleSettings):
    points: list[Point] = Field(max_length=MAX_POINTS,
                                description=f"[[x, y], ...] in image pixels (at most "
                                            f"{MAX_POINTS}).")


class ZoneConfig(_RuleBase):
    """A polygon; an object is inside when its anchor point is."""

    min_dwell_s: float = Field(0.0, ge=0, description="Seconds inside before the event fires.")

    @field_validator("points")
    @classmethod
    def _polygon(cls, v: list[Point]) -> list[Point]:
        if len(v) < 3:
            raise ValueError(f"polygon needs >=3 points, got {len(v)}")
        crossing = self_crossing(v)
        if crossing is not None:
            i, j = crossing
            raise ValueError(f"polygon crosses itself: edge {i} ({v[i]} to "
                             f"{v[(i + 1) % len(v)]}) crosses edge {j} ({v[j]} to "
                             f"{v[(j + 1) % len(v)]}); draw its outline in order")
        return v


class LineConfig(_RuleBase):
    """A tripwire: a line or polyline (e.g. a wall edge) crossed in a direction.

    Side A is on your right when you walk along the line from its first point to its last,
    as drawn on the image (image y grows downwards).
    """

    direction: Literal["a_to_b", "b_to_a", "any"] = Field(
        "any", description="Which crossings alarm: from side A to B, B to A, or both.")

    @field_validator("points")
    @classmethod
    def _polyline(cls, v: list[Point]) -> list[Point]:
        return _polyline(v)


def _polyline(v: list[Point]) -> list[Point]:
    if len(v) < 2:
        raise ValueError(f"line needs >=2 points, got {len(v)}")
    for a, b in itertools.pairwise(v):
        if a == b:
            raise ValueError(f"line has a zero-length segment at {a}")
    return v


class ClimbConfig(_RuleBase):
    """A wall's top edge as the camera sees it (a polyline) and which side of it is outside:
    fires when someone comes over it from outside (``kind: climb``).

    Phases, per track: approach (the anchor on the outside, within ``near`` box heights of
    the edge), over (the box's top and its anchor both on the inside: the event, stamped with
    the later of the two crossings), drop (the anchor stays inside ``drop_s`` seconds, or the
    track goes out of sight there: the alarm is confirmed; back outside first: it is
    retracted). Sides as for lines: side A is on your right walking from the first point to
    the last.
    """

    outside: Literal["a", "b"] = Field(description=(
        "The side of the edge a climber comes from (a = A, on your right walking along the "
        "points)."))
    near: float = Field(1.0, gt=0, le=10, description=(
        "Approach: how close to the edge (in box heights) the anchor must have been on the "
        "outside."))
    drop_s: float = Field(2.0, gt=0, le=60, description=(
        "Seconds the anchor stays inside after going over that confirm the climb."))

    @field_validator("points")
    @classmethod
    def _edge(cls, v: list[Point]) -> list[Point]:
        return _polyline(v)


class RouteConfig(_RuleSettings):
    """Ordered zones: a track that enters each of ``zones`` in turn, entering the last within
    ``within_s`` of entering the first, fires once for the whole route.

    Each entry is judged as a zone's is (margin, confirm_frames, the route's anchor and
    filter); other zones may be entered in between. ``min_speed`` asks the mean speed over
    the route, in the track's own box heights per second, so that it means the same near the
    camera and far from it.
    """

    zones: list[str] = Field(min_length=2, max_length=MAX_ROUTE_STEPS, description=(
        "Names of this camera's zones, in the order they must be entered (a zone may come "
        "back, not twice in a row)."))
    within_s: float = Field(60.0, gt=0, le=600, description=(
        "Seconds from entering the first zone to entering the last."))
    min_speed: float = Field(0.0, ge=0, le=50, description=(
        "Mean speed from entering the first zone to entering the last (straight between "
        "the entry points), in box heights per second: a person walking is ~0.8, running "
        "~2 (1.7 m tall); 0 = any speed."))

    @field_validator("zones")
    @classmethod
    def _steps(cls, v: list[str]) -> list[str]:
        for a, b in itertools.pairwise(v):
            if a == b:
                raise ValueError(f"zone {a!r} twice in a row: a route's steps are entries "
                                 f"into a different zone each time")
        return v


class GroundConfig(_Strict):
    """The camera's ground plane on the site plan: image pixels to site metres.

    Four or more points on the ground, each seen at (x, y) in the image and measured at
    (X, Y) on the site plan in metres, no three of them in a line (more than four: a least
    squares fit). Every event then carries the site point of its act (``site``), and alarms of
    cameras that see the same place at the same time are linked as one incident.
    """

    pairs: list[tuple[float, float, float, float]] = Field(
        min_length=4, max_length=64, description=(
            "[[x, y, X, Y], ...]: image pixels and the same point's site metres."))
    max_error_m: float = Field(0.5, gt=0, le=100, description=(
        "The farthest a pair's site point may lie from where the fitted plane puts it (a "
        "pair mistyped or not on the ground is refused)."))

    @model_validator(mode="after")
    def _fits(self) -> GroundConfig:
        from orchestrator.rules.site import CalibrationError, homography  # noqa: PLC0415

        try:
            h = homography(tuple(self.pairs))
        except CalibrationError as e:
            raise ValueError(str(e)) from None
        if h.error_m > self.max_error_m:
            raise ValueError(f"the pairs do not fit one ground plane: one lies {h.error_m:.2f} m "
                             f"from the fitted plane (max_error_m {self.max_error_m}); check "
                             f"that each pair is one point on the ground")
        return self


class NvrConfig(_Strict):
    """The recorder that keeps this camera's footage, for clips older than the ring buffer.

    Playback URL templates per vendor (``{user}``, ``{password}``, ``{host}``, ``{port}``,
    ``{channel}``, ``{stream}``, ``{start}``, ``{end}``); the defaults are the vendors' documented
    formats (see PROTOCOLS.md), override them for other firmware.
    """

    vendor: Literal["hikvision", "dahua"] = Field(description="Recorder make.")
    host: str = Field(min_length=1, description="Recorder host name or address.")
    port: int = Field(554, ge=1, le=65535, description="RTSP port.")
    user: str = Field("admin", description="RTSP user.")
    password: str = Field("", description="RTSP password (never logged).")
    channel: int = Field(1, ge=1, le=512, description="Recorder channel of this camera.")
    stream: Literal["main", "sub"] = Field("main", description="Recorded stream to fetch.")
    timezone: str = Field("UTC", description="IANA zone the recorder stores its times in.")
    url_template: str | None = Field(None, description="Playback URL template; None = vendor's.")
    time_format: str | None = Field(
        None, description="strftime format of start/end; None = vendor's default.")
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _check_zone(v)


class MotionConfig(_Strict):
    """The motion gate: which frames go to the detector (docs/cameras.md, Motion gate)."""

    threshold: int = Field(15, ge=1, le=255, description=(
        "Grey levels (0-255) a pixel must change by to count as moved, at least; a pixel "
        "whose own noise is larger (leaves, water) needs four times that noise."))
    min_area: float = Field(0.0001, gt=0, le=0.5, description=(
        "Fraction of the frame that must move (0.0001: 31 px of a 640x480 frame, 2 pixels "
        "of the gate's 160x120 picture)."))
    lighting: float = Field(0.4, gt=0, le=1, description=(
        "Fraction of the frame changing at once taken for a change of light (lamps, IR "
        "switch, exposure): the frame is detected and the background learned afresh."))
    refresh_s: float = Field(5.0, ge=0, description=(
        "Detect a frame at least this often when nothing moves (0: only on motion)."))
    masks: list[list[Point]] = Field(default_factory=list, max_length=MAX_RULES, description=(
        "Polygons (image pixels) whose motion is ignored: trees, a clock, a road beyond the "
        "fence. Objects there are still detected whenever the gate opens."))

    @field_validator("masks")
    @classmethod
    def _polygons(cls, v: list[list[Point]]) -> list[list[Point]]:
        for i, poly in enumerate(v):
            if len(poly) < 3:
                raise ValueError(f"mask {i} needs >=3 points, got {len(poly)}")
        return v


class NightConfig(_Strict):
    """Night: a second detector setting for this camera (a model for IR pictures, a lower
    threshold, fewer classes), switched by schedule or by the picture, with hysteresis.

    Without a schedule the picture decides: night once the frames have been dark (mean grey
    below ``dark``) or colourless (mean saturation below ``grey``: an IR-lit picture) for
    ``hold_s``; day again once they have been brighter than 1.3 x ``dark`` and more colourful
    than 2 x ``grey`` for as long. Every switch is logged and shown in the camera's status.
    """

    model: str | None = Field(None, description="Night model (.onnx); None = the site's.")
    format: Literal["yolox", "fastestdet"] | None = Field(
        None, description="The night model's output format; None = the site's.")
    score_threshold: float | None = Field(None, gt=0, le=1,
                                          description="Night threshold; None = the site's.")
    classes: list[str | int] | None = Field(None, description="Night classes; None = the "
                                                              "site's.")
    schedule: list[TimeWindow] | None = Field(
        None, description="Night in these windows (the camera's timezone); None = by the "
                          "picture.")
    dark: float = Field(50.0, gt=0, lt=255, description="Mean grey level (0-255) below which "
                                                        "a frame is dark.")
    grey: float = Field(6.0, ge=0, lt=255, description="Mean saturation (0-255) below which a "
                                                       "frame is colourless (IR).")
    hold_s: float = Field(10.0, ge=0, le=600, description="Seconds a look must hold before "
                                                          "the mode switches.")

    @field_validator("classes")
    @classmethod
    def _known(cls, v: list[str | int] | None) -> list[str | int] | None:
        for c in v or []:
            class_id(c)
        return v


class PerspectiveConfig(_Strict):
    """Perspective plausibility: each camera learns how tall a person and a car are where they
    stand (from its confirmed tracks) and lowers the score of detections far off it (a
    "person" 15 px tall where people are 120, a shadow, a reflection) before the tracker."""

    enabled: bool = Field(False, description="Learn the heights and screen detections.")
    tolerance: float = Field(2.0, gt=1, le=10, description=(
        "A box taller or shorter than expected by more than this factor is implausible."))
    down_weight: float = Field(0.25, ge=0, le=1, description=(
        "An implausible box's score is multiplied by this: it starts no track, and only a "
        "track already there may take it."))
    min_samples: int = Field(60, ge=10, le=2000, description=(
        "Confirmed boxes seen before the model screens anything."))


class CameraDetectorConfig(_Strict):
    """What this camera asks of the site's detector."""

    gate: Literal["motion", "always"] = Field("motion", description=(
        "motion: frames where nothing moved skip the detector (while the camera has tracks, "
        "their last detections are held); always: every analysed frame is detected."))
    motion: MotionConfig = Field(default_factory=MotionConfig,
                                 description="Settings of the motion gate.")


class CameraConfig(_Strict):
    """One video source and the rules judged on it."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$",
                    description="Unique camera id; letters, digits, _ . -")
    name: str | None = Field(None, description="Human-readable name.")
    source: str = Field(min_length=1, description="Video file path or rtsp:// URL.")
    enabled: bool = Field(True, description="Disabled cameras are not run.")
    analysis_fps: float = Field(5.0, gt=0, le=60, description="Frames analysed per second.")
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport.")
    realtime: bool | None = Field(
        None,
        description="Live mode: drop frames the analysis cannot keep up with. "
        "None = live for rtsp://, as fast as possible (no drops) for files.",
    )
    loop: bool = Field(False, description="Restart a file source at its end (simulated camera).")
    record_source: str | None = Field(
        None, description="Stream recorded for clips (e.g. the main stream) when `source` is "
        "the low-resolution substream analysed; None = clips from `source`.")
    decode_threads: int = Field(
        1, ge=0, le=16, description="Decoder threads: 1 is the least CPU per frame (cameras "
        "already decode in parallel); 0 lets FFmpeg choose frame and slice threads (lower "
        "latency for one large stream, ~15-20 % more CPU per frame); n: that many.")
    hwaccel: Literal["none", "cuda", "vaapi", "qsv"] = Field(
        "none", description="Hardware decoding through FFmpeg (cuda = NVDEC on GPU hosts).")
    stall_s: float = Field(10.0, gt=0, le=300,
                           description="No frame for this long: the stream is stalled, reconnect.")
    open_timeout_s: float = Field(10.0, gt=0, le=120, description="Connect / read timeout.")
    nvr: NvrConfig | None = Field(None, description="Recorder for clips the ring cannot give.")
    timezone: str = Field("UTC", description="IANA zone of the site, for rule schedules.")
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=MAX_RULES,
                                    description=f"Polygon zones (at most {MAX_RULES}).")
    lines: list[LineConfig] = Field(default_factory=list, max_length=MAX_RULES,
                                    description=f"Tripwire lines (at most {MAX_RULES}).")
    ground: GroundConfig | None = Field(
        None, description="Ground plane on the site plan: events carry site metres.")
    climbs: list[ClimbConfig] = Field(default_factory=list, max_length=MAX_RULES,
                                      description="Wall-climb rules (at most "
                                                  f"{MAX_RULES}).")
    routes: list[RouteConfig] = Field(default_factory=list, max_length=MAX_RULES,
                                      description="Ordered zones (at most "
                                                  f"{MAX_RULES}).")
    rules: RuleDefaults = Field(default_factory=RuleDefaults,
                                description="Defaults for this camera's zones, lines and "
                                            "routes.")
    detector: CameraDetectorConfig = Field(default_factory=CameraDetectorConfig,
                                           description="Motion gate of this camera's frames.")
    perspective: PerspectiveConfig = Field(
        default_factory=PerspectiveConfig,
        description="Expected heights by image position (docs/rules.md, Perspective).")
    night: NightConfig | None = Field(None, description="A second detector setting at "
                                                        "night (docs/rules.md, Night mode).")
    detect_regions: list[tuple[float, float, float, float]] = Field(
        default_factory=list, max_length=16, description=(
            "Far targets: rectangles [x0, y0, x1, y1] (image pixels) also detected at the "
            "source's own resolution, in the same batch as the frame, their boxes merged with "
            "the frame's (docs/rules.md, Far targets). Each costs one more detector input "
            "per detected frame."))

    @field_validator("timezone")
    @classmethod
    def _camera_zone(cls, v: str) -> str:
        return _check_zone(v)

    @field_validator("detect_regions")
    @classmethod
    def _regions(cls, v: list[tuple[float, float, float, float]]
                 ) -> list[tuple[float, float, float, float]]:
        for i, (x0, y0, x1, y1) in enumerate(v):
            if x1 - x0 < 16 or y1 - y0 < 16:
                raise ValueError(f"detect_regions[{i}] {[x0, y0, x1, y1]}: a region is "
                                 f"[x0, y0, x1, y1] with x1 > x0 and y1 > y0, at least 16 px "
                                 f"each way")
        return v

    @model_validator(mode="after")
    def _unique_rule_names(self) -> CameraConfig:
        names = [r.name for r in [*self.zones, *self.lines, *self.climbs, *self.routes]]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"rule names must be unique per camera, repeated: {sorted(dup)}")
        zones = {z.name for z in self.zones}
        for r in self.routes:
            missing = [z for z in r.zones if z not in zones]
            if missing:
                raise ValueError(f"route {r.name!r} names zones this camera does not have: "
                                 f"{missing} (zones: {sorted(zones)})")
        return self

    @property
    def is_live(self) -> bool:
        if self.realtime is not None:
            return self.realtime
        return self.source.startswith(("rtsp://", "rtsps://"))
