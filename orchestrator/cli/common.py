"""Helpers shared by the ``perishield`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.config import ConfigError, LineConfig, Settings, ZoneConfig, load_settings
from orchestrator.config.base import problems
from orchestrator.events.model import Event

EXIT_CONFIG, EXIT_ASSET, EXIT_SOURCE = 2, 3, 4


class UsageError(Exception):
    """Bad command-line input."""


def _points(text: str) -> list[tuple[float, float]]:
    try:
        pts = [tuple(float(v) for v in p.split(",")) for p in text.split(";") if p.strip()]
    except ValueError:
        raise UsageError(f"points must look like 'x,y;x,y;...', got {text!r}") from None
    if any(len(p) != 2 for p in pts):
        raise UsageError(f"every point needs x and y, got {text!r}")
    return pts  # type: ignore[return-value]


def _parse_rule(text: str, model: Any, flag: str, syntax: str, third: str) -> Any:
    """``NAME:x,y;x,y...[:THIRD]`` → a validated rule model; ``third`` names the optional
    last field."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"{flag} expects {syntax}, got {text!r}")
    doc: dict[str, Any] = {"name": parts[0], "points": _points(parts[1])}
    if len(parts) == 3:
        doc[third] = parts[2]
    return validated(model, doc, flag, text)


def parse_zone(text: str) -> ZoneConfig:
    """``NAME:x,y;x,y;x,y[:DWELL_S]``"""
    return _parse_rule(text, ZoneConfig, "--zone", "NAME:x,y;x,y;x,y[:DWELL_S]", "min_dwell_s")


def parse_line(text: str) -> LineConfig:
    """``NAME:x,y;x,y[;...][:a_to_b|b_to_a|any]``"""
    return _parse_rule(text, LineConfig, "--line", "NAME:x,y;x,y[:a_to_b|b_to_a|any]",
                       "direction")


def validated(model: Any, doc: dict[str, Any], flag: str, text: str) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        raise UsageError(f"{flag} {text!r}: {problems(e)}") from None


def choose_allocator(settings: Settings) -> None:
    """A long-running command's first step: run on the configured C allocator (may re-execute
    the process; see orchestrator/memory.py)."""
    from orchestrator.memory import use_allocator  # noqa: PLC0415

    try:
        use_allocator(settings.process.allocator)
    except RuntimeError as e:
        raise ConfigError(str(e)) from None


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if getattr(args, "data_dir", None):
        settings.outputs.data_dir = Path(args.data_dir)
    return settings


def print_table(rows: list[list[str]], header: list[str], out: Any = sys.stdout) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*header), file=out)
    print(fmt.format(*("-" * w for w in widths)), file=out)
    for r in rows:
        print(fmt.format(*r), file=out)


def event_rows(events: list[Event]) -> list[list[str]]:
    return [[e.id, e.camera, e.rule, e.direction or "", str(e.track_id), e.class_name,
             f"{e.score:.2f}", f"{e.video_time:.2f}", e.capture_time.strftime("%Y-%m-%d %H:%M:%S"),
             e.clip_status] for e in events]


EVENT_HEADER = ["id", "camera", "rule", "direction", "track", "class", "score", "video_s",
                "time_utc", "clip"]
