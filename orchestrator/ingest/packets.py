"""A per-camera ring of compressed packets (pre-roll for clips) and the clip remuxer."""

from __future__ import annotations

import io
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av


class StreamTemplate:
    """What a muxer needs to write a source's packets again, kept apart from its container
    (a stream object must not outlive its container).

    It holds a copy of the source stream's codec parameters (extradata, codec tag, size,
    time base) in a small in-memory container of its own that is never written, so a clip's
    output stream is made from it exactly as ``ffmpeg -c copy`` would, with no encoder opened.
    An encoder-made stream (``add_stream("h264")``) replaced the H.264 parameters of MP4 and
    Matroska sources and wrote one-byte packets.
    """

    def __init__(self, stream: Any) -> None:
        self._holder = av.open(io.BytesIO(), "w", format="matroska")
        self.stream = self._holder.add_stream_from_template(stream)
        cc = stream.codec_context
        self.codec, self.width, self.height = cc.name, cc.width, cc.height
        self.time_base: Fraction = stream.time_base


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """One compressed video packet kept for clips; ``time`` is seconds on the source's clock."""

    data: bytes
    pts: int
    time: float
    keyframe: bool

    @classmethod
    def of(cls, packet: Any, time: float) -> StoredPacket:
        """Copy a demuxed PyAV packet (its pts must be set) stamped with ``time``."""
        return cls(bytes(packet), packet.pts, time, packet.is_keyframe)


class PacketStamper:
    """Puts a stream's demuxed packets into a ring, each with its time on the camera's clock.

    A packet without a pts (RTSP's first keyframe of a connection comes before the RTCP
    report that dates the stream) is held until the next dated packet and then dated one frame
    before it, so the ring holds that keyframe and clips can start at the connection's first
    frame. Live packets are timed by their arrival (the clip clock), file packets by pts.
    """

    MAX_WAITING = 16

    def __init__(self, ring: PacketRing, stream: Any, live: bool, offset: float = 0.0) -> None:
        self.ring, self.live, self.offset = ring, live, offset
        self.tb = float(stream.time_base)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        self.ticks = max(1, round(1 / (rate * self.tb)))
        self.start: int | None = None if live else stream.start_time
        self.shift = round(offset / self.tb)  # a looping file's later pass: pts go on
        self._waiting: list[tuple[bytes, bool, float]] = []

    def add(self, packet: Any) -> None:
        if not packet.size:
            return
        now = time.monotonic()
        if packet.pts is None:
            if len(self._waiting) < self.MAX_WAITING:
                self._waiting.append((bytes(packet), packet.is_keyframe, now))
            return
        first = packet.pts - len(self._waiting) * self.ticks
        if self.start is None:
            self.start = first
        for k, (data, keyframe, arrival) in enumerate(self._waiting):
            pts = first + k * self.ticks
            self.ring.append(StoredPacket(data, pts + self.shift, self._time(pts, arrival),
                                          keyframe))
        self._waiting.clear()
        self.ring.append(StoredPacket(bytes(packet), packet.pts + self.shift,
                                      self._time(packet.pts, now), packet.is_keyframe))

    def _time(self, pts: int, arrival: float) -> float:
        assert self.start is not None
        return arrival if self.live else self.offset + (pts - self.start) * self.tb


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

    def reset(self, stream: Any, keep: bool = False) -> None:
        """A new stream: its template, and an empty ring unless ``keep`` (the same stream
        going on, a looping file's next pass)."""
        template = StreamTemplate(stream)
        with self._lock:
            if not keep:
                self._packets.clear()
                self._bytes = 0
            self.template = template

    def append(self, p: StoredPacket) -> None:
        with self._lock:
            self._packets.append(p)
            self._bytes += len(p.data)
            while self._packets and (
                    p.time - self._packets[0].time > self.seconds or self._bytes > self.max_bytes):
                self._bytes -= len(self._packets.popleft().data)

    @property
    def earliest_time(self) -> float:
        with self._lock:
            return self._packets[0].time if self._packets else float("inf")

    @property
    def latest_time(self) -> float:
        with self._lock:
            return self._packets[-1].time if self._packets else float("-inf")

    def slice(self, start: float, end: float) -> list[StoredPacket]:
        """Packets from the last keyframe at or before ``start`` up to ``end`` (inclusive), in
        decode order.

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
        # Cut in decode order at the first packet past ``end``: a reordered picture shown
        # before ``end`` but decoded after it may refer to one shown after ``end``.
        out = []
        for p in pkts[first:]:
            if p.time > end:
                break
            out.append(p)
        return out


def write_clip(packets: list[StoredPacket], template: StreamTemplate, path: Path) -> float:
    """Remux packets (in decode order) to an MP4 without re-encoding; returns the clip's
    duration in seconds.

    The clip starts at the first keyframe; pictures after it in decode order but shown before
    it (an open GOP's leading pictures, HEVC's RASL) refer to frames the clip does not hold and
    are left out. Decode times are made afresh from the presentation times: the k-th smallest
    pts, moved back by the largest reordering, so they rise and never pass a pts whatever the
    source gave (Matroska leaves them out where frames are reordered).
    """
    key = next((i for i, p in enumerate(packets) if p.keyframe), None)
    if key is None:
        raise ValueError("no keyframe to start the clip on")
    packets = [p for p in packets[key:] if p.pts >= packets[key].pts]
    if not packets:
        raise ValueError("no packets to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    pts = [p.pts for p in packets]
    ordered = sorted(pts)
    reorder = max(a - b for a, b in zip(ordered, pts, strict=True))
    base = ordered[0] - reorder
    with av.open(str(tmp), "w", format="mp4") as out:
        stream: Any = out.add_stream_from_template(template.stream)
        for p, first in zip(packets, ordered, strict=True):
            q = av.Packet(p.data)
            q.pts, q.dts = p.pts - base, first - reorder - base
            q.time_base = template.time_base
            q.is_keyframe = p.keyframe
            q.stream = stream
            out.mux(q)
    tmp.replace(path)
    return packets[-1].time - packets[0].time
