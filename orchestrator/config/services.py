"""Configuration of the detector, tracker, outputs, control plane and alarm delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from orchestrator.classes import class_id
from orchestrator.config.base import Strict as _Strict

VEHICLES_AND_PEOPLE: tuple[str | int, ...] = ("person", "bicycle", "car", "motorcycle", "bus",
                                              "truck")


class TritonConfig(_Strict):
    """How to reach the detector served by NVIDIA Triton Inference Server (gRPC)."""

    url: str | list[str] = Field(
        "127.0.0.1:8001", description="gRPC host:port, or a list of them: requests go to the "
        "server with the fewest in flight, and one that fails is left to the others until it "
        "answers again.")
    model: str = Field("yolox_nano_cpu", min_length=1,
                       description="Served model: yolox_nano (GPU, TensorRT) or yolox_nano_cpu.")
    timeout_s: float = Field(5.0, gt=0, le=120, description="Deadline of every call.")
    max_inflight: int | None = Field(
        None, ge=1, le=256, description="Requests in flight at once, per server; None: 16 when "
        "the served model runs on GPUs (throughput × latency ÷ batch on a GPU host), 4 when it "
        "runs on CPUs (where more in flight only queue).")
    shared_memory: bool = Field(
        False, description="Send frames through system shared memory (Triton on this host).")
    retry_max_s: float = Field(10.0, gt=0, description="Longest wait between reconnect tries.")
    keepalive_s: float = Field(
        10.0, ge=0, description="gRPC keepalive ping interval (0: off): a dead server or link is "
        "found within this plus 5 s between requests. The server must accept pings this often "
        "(deploy/triton and `perishield triton serve` do).")
    admin_header: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]+=.+$",
        description="name=value of the header a server started with --grpc-restricted-protocol "
        "wants on its shared-memory, model-config and statistics calls (deploy/triton).")

    @field_validator("url")
    @classmethod
    def _servers(cls, v: str | list[str]) -> str | list[str]:
        urls = [v] if isinstance(v, str) else v
        if not urls or any(len(u.strip()) < 3 for u in urls):
            raise ValueError("give a gRPC host:port, or a non-empty list of them")
        if len(set(urls)) != len(urls):
            raise ValueError(f"a server is listed twice: {urls}")
        return v

    @property
    def servers(self) -> list[str]:
        """Every server's host:port."""
        return [self.url] if isinstance(self.url, str) else list(self.url)


TRITON_NMS_IOU = 0.45  # the served models' NMS (model_repository/*/config.pbtxt)


class DetectorConfig(_Strict):
    """The object detector."""

    backend: Literal["onnxruntime", "triton", "none", "recorded"] = Field(
        "onnxruntime", description="onnxruntime: in-process (embedded default); triton: served; "
        "none: detects nothing (ingest and load tests); recorded: the boxes recorded in "
        "`model` (.npz) for each replayed frame (site load tests, bench/site.py).")
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
        if (self.backend == "triton" and "nms_iou" in self.model_fields_set
                and self.nms_iou != TRITON_NMS_IOU):
            raise ValueError(
                f"nms_iou {self.nms_iou} cannot apply with backend triton: NMS runs inside the "
                f"served model at {TRITON_NMS_IOU} (parameter nms_iou of its config.pbtxt in "
                "model_repository/); change it there, or leave detector.nms_iou out")
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
    lost_s: float = Field(3.0, gt=0, description="Seconds a lost track is kept for re-matching "
                          "(an occlusion behind a post or another person).")
    min_hits: int = Field(2, ge=1, description="Matched frames before a track is confirmed.")
    reach: float = Field(0.3, ge=0, le=5, description="How far from its predicted centre a lost "
                         "track may be found again, in box heights times (1 + seconds lost); "
                         "also how far a new track's second box may be from its first (a "
                         "runner at a low frame rate no longer overlaps it).")
    bridge_s: float = Field(15.0, ge=0, le=300, description="Longest stretch without analysed "
                            "frames (a reconnect, a detector outage) that does not count as time "
                            "a track was lost: tracks, sides and dwell carry across it.")

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


class ProcessConfig(_Strict):
    """The process itself (``run``, ``worker``)."""

    allocator: Literal["auto", "jemalloc", "glibc"] = Field(
        "auto", description="The C heap: jemalloc (preloaded at start; auto = when installed, "
        "Debian libjemalloc2) gives freed frames back; glibc's malloc keeps growing over weeks "
        "of hand-offs and reconnects, trims or not.")
    heap_trim_s: float = Field(
        60.0, ge=0, le=3600, description="Give the C heap's free memory back to the system "
        "this often (glibc malloc_trim, jemalloc purge); 0 = never.")


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
    incident_s: float = Field(2.0, ge=0, le=600, description=(
        "Events whose acts are this close in time (and ``incident_m`` on the ground, from "
        "cameras with a ground plane) are one incident."))
    incident_m: float = Field(2.0, ge=0, le=1000, description=(
        "Metres between two acts on the site plan that make them one incident (cameras "
        "calibrated to ~0.5 m agree well within it; two people crossing one spot seconds "
        "apart stay two)."))
