"""Clips from network video recorders through their RTSP playback URLs (Hikvision, Dahua).

Used when an event's evidence is older than the camera's packet ring, or the live clip failed.
Each vendor is a URL template and a time format (from configuration, with the vendors'
documented formats as defaults); times are converted to the recorder's own time zone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from orchestrator.config import NvrConfig
from orchestrator.ingest.packets import PacketRing, PacketStamper, write_clip
from orchestrator.ingest.source import SourceError, open_container, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VendorFormat:
    template: str
    time_format: str
    stream_codes: dict[str, str]  # main/sub → what the URL's {stream} becomes


VENDORS = {
    "hikvision": VendorFormat(
        "rtsp://{user}:{password}@{host}:{port}/Streaming/tracks/{channel}0{stream}"
        "?starttime={start}&endtime={end}", "%Y%m%dT%H%M%SZ", {"main": "1", "sub": "2"}),
    "dahua": VendorFormat(
        "rtsp://{user}:{password}@{host}:{port}/cam/playback?channel={channel}"
        "&subtype={stream}&starttime={start}&endtime={end}", "%Y_%m_%d_%H_%M_%S",
        {"main": "0", "sub": "1"}),
}


def playback_url(nvr: NvrConfig, start: datetime, end: datetime) -> str:
    """The recorder's playback URL for [start, end) (aware datetimes, any zone)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("playback times must carry a time zone")
    if end <= start:
        raise ValueError(f"playback range is empty: {start.isoformat()} .. {end.isoformat()}")
    vendor = VENDORS[nvr.vendor]
    zone = ZoneInfo(nvr.timezone)
    fmt = nvr.time_format or vendor.time_format
    return (nvr.url_template or vendor.template).format(
        user=quote(nvr.user, safe=""), password=quote(nvr.password, safe=""), host=nvr.host,
        port=nvr.port, channel=nvr.channel, stream=vendor.stream_codes[nvr.stream],
        start=start.astimezone(zone).strftime(fmt), end=end.astimezone(zone).strftime(fmt))


def fetch_clip(nvr: NvrConfig, start: datetime, end: datetime, out: Path,
               timeout_s: float = 15.0) -> float:
    """Record [start, end) from the recorder into an MP4 without re-encoding.

    Reads the playback stream until it has covered the range's duration (or the recorder ends
    it) and remuxes from its first keyframe. Blocking; returns the clip's duration in seconds.

    Raises:
        SourceError: the recorder cannot be reached or sends no video for the range.
    """
    url = playback_url(nvr, start, end)
    wanted = (end - start).total_seconds()
    container = open_container(url, nvr.transport, timeout_s)
    # Stamped like a camera's packets (the first keyframe of an RTSP session has no pts yet),
    # timed by pts from the first one.
    ring = PacketRing(wanted + 30.0, max_bytes=512 * 1024 * 1024)
    try:
        stream = container.streams.video[0]
        ring.reset(stream)
        stamper = PacketStamper(ring, stream, live=False)
        for p in container.demux(stream):
            stamper.add(p)
            if ring.latest_time - ring.earliest_time >= wanted:
                break
    finally:
        container.close()
    t0 = ring.earliest_time
    packets = [p for p in ring.slice(-math.inf, math.inf) if p.time < t0 + wanted]
    assert ring.template is not None
    if not packets:
        span = f"{start.astimezone(UTC).isoformat()} .. {end.astimezone(UTC).isoformat()}"
        raise SourceError(f"recorder {redact(url)} sent no video for {span}")
    duration = write_clip(packets, ring.template, out)
    log.info("fetched %.1f s from %s into %s", duration, redact(url), out)
    return duration
