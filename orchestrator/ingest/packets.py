"""A per-camera ring of compressed packets (pre-roll for clips) and the clip remuxer."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av


@dataclass(frozen=True, slots=True)
class StreamTemplate:
    """What a muxer needs to write a source's packets again, kept apart from its container
    (a stream object must not outlive its container)."""

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    extradata: bytes | None
    time_base: Fraction
    rate: Fraction | None

    @classmethod
    def from_stream(cls, stream: Any) -> StreamTemplate:
        cc = stream.codec_context
        return cls(cc.name, cc.width, cc.height, cc.pix_fmt,
                   bytes(cc.extradata) if cc.extradata else None, stream.time_base,
                   stream.average_rate)


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """One compressed video packet kept for clips; ``time`` is seconds on the source's clock."""

    data: bytes
    pts: int
    dts: int
    time: float
    keyframe: bool

    @classmethod
    def of(cls, packet: Any, time: float) -> StoredPacket:
        """Copy a demuxed PyAV packet (its pts must be set) stamped with ``time``."""
        dts = packet.dts if packet.dts is not None else packet.pts
        return cls(bytes(packet), packet.pts, dts, time, packet.is_keyframe)


class PacketRing:
    """The last ``seconds`` of compressed video of one camera, bounded in bytes too.

    The decode thread appends; the event side copies a time range out. Thread-safe.
    """

    def __init__(self, seconds: float, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._packets: deque[StoredPacket] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self.template: StreamTemplate | None = None

    def reset(self, stream: Any) -> None:
        with self._lock:
            self._packets.clear()
            self._bytes = 0
            self.template = StreamTemplate.from_stream(stream)

    def append(self, p: StoredPacket) -> None:
        with self._lock:
            self._packets.append(p)
            self._bytes += len(p.data)
            while self._packets and (
                    p.time - self._packets[0].time > self.seconds or self._bytes > self.max_bytes):
                self._bytes -= len(self._packets.popleft().data)

    @property
    def latest_time(self) -> float:
        with self._lock:
            return self._packets[-1].time if self._packets else float("-inf")

    def slice(self, start: float, end: float) -> list[StoredPacket]:
        """Packets from the last keyframe at or before ``start`` up to ``end`` (inclusive).

        If no keyframe precedes ``start`` in the ring, the clip starts at the first keyframe held.
        """
        with self._lock:
            pkts = list(self._packets)
        first = None
        for i, p in enumerate(pkts):
            if p.keyframe and (p.time <= start or first is None):
                first = i
            if p.time > start and first is not None:
                break
        if first is None:
            return []
        return [p for p in pkts[first:] if p.time <= end]


def write_clip(packets: list[StoredPacket], template: StreamTemplate, path: Path) -> float:
    """Remux packets to an MP4 without re-encoding; returns the clip's duration in seconds."""
    if not packets:
        raise ValueError("no packets to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    base = min(p.dts for p in packets)
    with av.open(str(tmp), "w", format="mp4") as out:
        stream: Any = out.add_stream(template.codec, rate=template.rate)
        stream.width, stream.height = template.width, template.height
        if template.pix_fmt:
            stream.pix_fmt = template.pix_fmt
        if template.extradata:
            stream.codec_context.extradata = template.extradata
        stream.time_base = template.time_base
        for p in packets:
            q = av.Packet(p.data)
            q.pts, q.dts = p.pts - base, p.dts - base
            q.time_base = template.time_base
            q.is_keyframe = p.keyframe
            q.stream = stream
            out.mux(q)
    tmp.replace(path)
    return packets[-1].time - packets[0].time
