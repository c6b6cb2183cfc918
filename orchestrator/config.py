"""The one configuration model: cameras, detector, tracker and outputs.

Loaded from a YAML file plus ``PERISHIELD_*`` environment variables (nested with ``__``, e.g.
``PERISHIELD_DETECTOR__SCORE_THRESHOLD=0.4``); environment variables win over the file. The same
models validate what the control plane stores.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from orchestrator.classes import class_id

Point = tuple[float, float]
VEHICLES_AND_PEOPLE: tuple[str | int, ...] = ("person", "bicycle", "car", "motorcycle", "bus",
                                              "truck")
Anchor = Literal["bottom_center", "center", "top_center"]


def _check_zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {v!r} (use an IANA name like Asia/Shanghai)") from None
    return v


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file, the field and the fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


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
        30.0, ge=0, description="Seconds before the same track may fire the same rule again."
    )
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


class _RuleBase(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$",
                      description="Unique per camera; letters, digits, _ . -")
    points: list[Point] = Field(description="[[x, y], ...] in image pixels.")
    anchor: Anchor | None = Field(None, description="None = the camera's rules.anchor.")
    confirm_frames: int | None = Field(None, ge=1, le=100,
                                       description="None = the camera's rules.confirm_frames.")
    cooldown_s: float | None = Field(None, ge=0,
                                     description="None = the camera's rules.cooldown_s.")
    filter: ObjectFilter | None = Field(None, description="None = the camera's rules.filter.")
    schedule: list[TimeWindow] | None = Field(
        None, description="Arming windows (camera's timezone); None = always armed.")


class ZoneConfig(_RuleBase):
    """A polygon; an object is inside when its anchor point is."""

    min_dwell_s: float = Field(0.0, ge=0, description="Seconds inside before the event fires.")

    @field_validator("points")
    @classmethod
    def _polygon(cls, v: list[Point]) -> list[Point]:
        if len(v) < 3:
            raise ValueError(f"polygon needs >=3 points, got {len(v)}")
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
        if len(v) < 2:
            raise ValueError(f"line needs >=2 points, got {len(v)}")
        for a, b in itertools.pairwise(v):
            if a == b:
                raise ValueError(f"line has a zero-length segment at {a}")
        return v


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
    hwaccel: Literal["none", "cuda", "vaapi", "qsv"] = Field(
        "none", description="Hardware decoding through FFmpeg (cuda = NVDEC on GPU hosts).")
    stall_s: float = Field(10.0, gt=0, le=300,
                           description="No frame for this long: the stream is stalled, reconnect.")
    open_timeout_s: float = Field(10.0, gt=0, le=120, description="Connect / read timeout.")
    nvr: NvrConfig | None = Field(None, description="Recorder for clips the ring cannot give.")
    timezone: str = Field("UTC", description="IANA zone of the site, for rule schedules.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Polygon zones.")
    lines: list[LineConfig] = Field(default_factory=list, description="Tripwire lines.")
    rules: RuleDefaults = Field(default_factory=RuleDefaults,
                                description="Defaults for this camera's zones and lines.")

    @field_validator("timezone")
    @classmethod
    def _camera_zone(cls, v: str) -> str:
        return _check_zone(v)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> CameraConfig:
        names = [r.name for r in [*self.zones, *self.lines]]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"rule names must be unique per camera, repeated: {sorted(dup)}")
        return self

    @property
    def is_live(self) -> bool:
        if self.realtime is not None:
            return self.realtime
        return self.source.startswith(("rtsp://", "rtsps://"))


class TritonConfig(_Strict):
    """How to reach the detector served by NVIDIA Triton Inference Server (gRPC)."""

    url: str = Field("127.0.0.1:8001", min_length=3, description="gRPC host:port.")
    model: str = Field("yolox_nano_cpu", min_length=1,
                       description="Served model: yolox_nano (GPU ensemble) or yolox_nano_cpu.")
    timeout_s: float = Field(5.0, gt=0, le=120, description="Deadline of every call.")
    max_inflight: int = Field(4, ge=1, le=256, description="Requests in flight at once.")
    shared_memory: bool = Field(
        False, description="Send frames through system shared memory (Triton on this host).")
    retry_max_s: float = Field(10.0, gt=0, description="Longest wait between reconnect tries.")


class DetectorConfig(_Strict):
    """The object detector."""

    backend: Literal["onnxruntime", "triton", "none"] = Field(
        "onnxruntime", description="onnxruntime: in-process (embedded default); triton: served; "
        "none: detects nothing (ingest and load tests).")
    triton: TritonConfig = Field(default_factory=TritonConfig,
                                 description="Used when backend is triton.")
    model: str | None = Field(
        None,
        description="ONNX model: a path (relative to the config file), or a bare file name "
        "looked up in PERISHIELD_MODELS_DIR and ../shared/models; None = yolox_nano.onnx.",
    )
    format: Literal["yolox", "fastestdet"] = Field(
        "yolox", description="Output layout of the model (how to decode its tensor)."
    )
    input_size: tuple[int, int] | None = Field(
        None, description="Model input width, height; None = read from the model."
    )
    score_threshold: float = Field(0.3, gt=0, le=1, description="Minimum detection score.")
    nms_iou: float = Field(0.45, gt=0, le=1, description="IoU above which NMS drops a box.")
    classes: list[str | int] = Field(
        default_factory=lambda: list(VEHICLES_AND_PEOPLE),
        description="Classes kept; others are dropped right after decoding.",
    )
    threads: int = Field(2, ge=1, le=64, description="ONNX Runtime intra-op threads.")
    max_batch: int = Field(8, ge=1, le=64, description="Frames of several cameras per call.")

    @model_validator(mode="after")
    def _triton_serves_yolox(self) -> DetectorConfig:
        if self.backend == "triton" and self.format != "yolox":
            raise ValueError("the Triton models serve the YOLOX format; set format: yolox")
        return self

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, v: list[str | int]) -> list[str | int]:
        if not v:
            raise ValueError("keep at least one class")
        for c in v:
            class_id(c)
        return v


class TrackerConfig(_Strict):
    """ByteTrack thresholds."""

    high_threshold: float = Field(0.5, gt=0, le=1, description="First-stage detection score.")
    low_threshold: float = Field(0.1, ge=0, le=1, description="Second-stage detection score.")
    new_track_threshold: float = Field(0.6, gt=0, le=1, description="Score to start a track.")
    match_iou: float = Field(0.2, gt=0, le=1, description="Minimum IoU of a first-stage match.")
    lost_s: float = Field(1.5, gt=0, description="Seconds a lost track is kept for re-matching.")
    min_hits: int = Field(2, ge=1, description="Matched frames before a track is confirmed.")

    @model_validator(mode="after")
    def _order(self) -> TrackerConfig:
        if self.low_threshold >= self.high_threshold:
            raise ValueError(
                f"low_threshold ({self.low_threshold}) must be below "
                f"high_threshold ({self.high_threshold})"
            )
        return self


class S3Config(_Strict):
    """S3-compatible object storage for evidence (MinIO, Ceph, AWS S3, …)."""

    endpoint_url: str | None = Field(None, description="None = AWS; else e.g. http://minio:9000.")
    bucket: str = Field(min_length=3, description="Bucket of the evidence.")
    prefix: str = Field("", description="Key prefix inside the bucket.")
    region: str = Field("us-east-1", description="Region name.")
    access_key: str | None = Field(None, description="None = the default credential chain.")
    secret_key: str | None = Field(None, description="Secret of access_key (never logged).")
    link_ttl_s: float = Field(7 * 24 * 3600, gt=0, le=7 * 24 * 3600,
                              description="Lifetime of presigned links in alarms.")


class OutputConfig(_Strict):
    """Where events and their evidence go."""

    data_dir: Path = Field(Path("perishield-data"), description="Root of events.db and evidence/.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the event store; None = sqlite in data_dir."
    )
    pre_roll_s: float = Field(3.0, ge=0, le=60, description="Clip seconds before the event.")
    post_roll_s: float = Field(3.0, ge=0, le=60, description="Clip seconds after the event.")
    snapshot_quality: int = Field(90, ge=10, le=100, description="JPEG quality of snapshots.")
    retention_days: float = Field(183.0, gt=0, description="Events and their evidence kept.")
    s3: S3Config | None = Field(None, description="Also keep evidence in object storage.")

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'events.db'}"


class ControlConfig(_Strict):
    """The control plane on Redis: parameter center, camera leases, monitor."""

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL.")
    prefix: str = Field("perishield:", min_length=1, description="Key prefix of this site.")
    heartbeat_s: float = Field(10.0, gt=0, le=300, description="Lease renewal period.")
    lease_ttl_s: float | None = Field(
        None, gt=0, description="Lease lifetime; None = 1.2 x heartbeat_s.")
    claim_interval_s: float = Field(1.0, gt=0, le=60,
                                    description="How often a worker looks for free cameras.")
    status_interval_s: float = Field(2.0, gt=0, le=60,
                                     description="How often a worker publishes its status.")
    capacity: int = Field(16, ge=1, le=10000, description="Cameras this worker may run.")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Deadline of every Redis call.")

    @property
    def ttl_s(self) -> float:
        return self.lease_ttl_s or 1.2 * self.heartbeat_s

    @model_validator(mode="after")
    def _ttl_covers_heartbeat(self) -> ControlConfig:
        if self.ttl_s <= self.heartbeat_s:
            raise ValueError(f"lease_ttl_s ({self.ttl_s}) must exceed heartbeat_s "
                             f"({self.heartbeat_s}), or leases lapse between renewals")
        return self


class AlarmConfig(_Strict):
    """Delivery of alarms: outbox → RabbitMQ → the 3D platform and DingTalk."""

    amqp_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ URL.")
    exchange: str = Field("perishield.alarms", min_length=1, description="Durable topic exchange.")
    queue_prefix: str = Field("perishield", min_length=1, description="Prefix of delivery queues.")
    max_attempts: int = Field(8, ge=1, le=100, description="Deliveries tried before the DLQ.")
    retry_delays_s: list[float] = Field(
        default_factory=lambda: [1.0, 2.0, 5.0, 10.0, 30.0, 60.0],
        description="Wait before retry n (the last one repeats).")
    prefetch: int = Field(32, ge=1, le=10000, description="Unacked messages per consumer.")
    relay_batch: int = Field(200, ge=1, le=10000, description="Outbox rows per publish round.")
    platform_url: str | None = Field(None, description="3D platform alarm endpoint (POST).")
    platform_timeout_s: float = Field(5.0, gt=0, le=120, description="Deadline of a POST.")
    dingtalk_url: str | None = Field(
        None, description="DingTalk robot webhook (…/robot/send?access_token=…).")
    dingtalk_secret: str | None = Field(None, description="Robot signing secret (SEC…).")
    dingtalk_per_minute: int = Field(20, ge=1, le=60, description="Robot messages a minute.")
    evidence_base_url: str = Field("http://127.0.0.1:8080/evidence",
                                   description="Public base URL of snapshots and clips.")
    evidence_secret: str = Field(
        "", description="HMAC key of time-limited evidence links; empty = unsigned links.")
    site: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Camera id → position on the site map {x, y, z}.")


class Settings(BaseSettings):
    """Everything PeriShield needs to run, built once in the entry point and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="PERISHIELD_", env_nested_delimiter="__", extra="forbid"
    )

    cameras: list[CameraConfig] = Field(default_factory=list)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    outputs: OutputConfig = Field(default_factory=OutputConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    alarms: AlarmConfig = Field(default_factory=AlarmConfig)

    @model_validator(mode="after")
    def _unique_cameras(self) -> Settings:
        ids = [c.id for c in self.cameras]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"camera ids must be unique, repeated: {dup}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first (wins), then the YAML document passed as init kwargs.
        return (env_settings, init_settings)


def _format_error(origin: str, err: ValidationError) -> str:
    lines = [f"{origin}: invalid configuration ({err.error_count()} problem(s))"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def _resolve_paths(doc: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make file paths in the document relative to the config file's folder."""

    def rel(p: str) -> str:
        if "://" in p or Path(p).is_absolute():
            return p
        return str((base / p).resolve())

    for cam in doc.get("cameras") or []:
        if isinstance(cam, dict) and isinstance(cam.get("source"), str):
            cam["source"] = rel(cam["source"])
    det = doc.get("detector")
    if isinstance(det, dict) and isinstance(det.get("model"), str) and "/" in det["model"]:
        det["model"] = rel(det["model"])  # a bare file name is looked up in the model folders
    out = doc.get("outputs")
    if isinstance(out, dict) and isinstance(out.get("data_dir"), str):
        out["data_dir"] = rel(out["data_dir"])
    return doc


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from a YAML file (optional) and the environment.

    Relative paths inside the file are taken from the file's folder.

    Raises:
        ConfigError: the file is missing, is not YAML, or a field is wrong; the message says which.
    """
    doc: dict[str, Any] = {}
    origin = "environment"
    if path is not None:
        p = Path(path)
        origin = str(p)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{p}: expected a mapping at the top level, got {type(loaded).__name__}"
            )
        doc = _resolve_paths(loaded, p.parent.resolve())
    doc.update(overrides)
    try:
        return Settings(**doc)
    except ValidationError as e:
        env = sorted(k for k in os.environ if k.startswith("PERISHIELD_"))
        msg = _format_error(origin, e)
        if env:
            msg += f"\n  (environment overrides in effect: {', '.join(env)})"
        raise ConfigError(msg) from None
