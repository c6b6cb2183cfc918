"""The one configuration model: cameras, detector, tracker and outputs.

Loaded from a YAML file plus ``PERISHIELD_*`` environment variables (nested with ``__``, e.g.
``PERISHIELD_DETECTOR__SCORE_THRESHOLD=0.4``); environment variables win over the file. The same
models validate what the control plane stores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from orchestrator.config.cameras import (
    Anchor,
    CameraConfig,
    CameraDetectorConfig,
    ClimbConfig,
    GroundConfig,
    LineConfig,
    MotionConfig,
    NightConfig,
    NvrConfig,
    ObjectFilter,
    PerspectiveConfig,
    Point,
    RouteConfig,
    RuleDefaults,
    TimeWindow,
    ZoneConfig,
)
from orchestrator.config.services import (
    VEHICLES_AND_PEOPLE,
    AlarmConfig,
    ControlConfig,
    DetectorConfig,
    OutputConfig,
    ProcessConfig,
    S3Config,
    TrackerConfig,
    TritonConfig,
)

__all__ = ["VEHICLES_AND_PEOPLE", "AlarmConfig", "Anchor", "CameraConfig",
           "CameraDetectorConfig", "ClimbConfig", "ConfigError",
           "ControlConfig", "DetectorConfig", "GroundConfig", "LineConfig", "MotionConfig",
           "NightConfig", "NvrConfig",
           "ObjectFilter",
           "OutputConfig", "PerspectiveConfig", "Point", "ProcessConfig", "RouteConfig",
           "RuleDefaults", "S3Config",
           "Settings",
           "TimeWindow",
           "TrackerConfig", "TritonConfig", "ZoneConfig", "load_settings", "read_yaml"]


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file, the field and the fault."""


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
    process: ProcessConfig = Field(default_factory=ProcessConfig)

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


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when built with it


def read_yaml(path: str | Path, what: str = "file", max_bytes: int | None = None) -> Any:
    """The YAML document of a file (JSON is YAML too); a file over ``max_bytes`` is refused
    before it is parsed.

    Raises:
        ConfigError: naming the file, and the line and column of a syntax error.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a {what}")
    if not p.is_file():
        raise ConfigError(f"{p}: {what} not found")
    if max_bytes is not None and p.stat().st_size > max_bytes:
        raise ConfigError(f"{p}: {p.stat().st_size} bytes; a {what} has at most {max_bytes}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a text (YAML) file: byte {e.start} is not UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a safe loader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{p}: not valid YAML{where}: {problem}") from None


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
        loaded = read_yaml(p, "config file")
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
