"""The intrusion event and its id."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(now: float | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, 26 Crockford base32 characters.

    Sorts by creation time, so event ids order like events.
    """
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        value, r = divmod(value, 32)
        out.append(_CROCKFORD[r])
    return "".join(reversed(out))


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass(slots=True)
class Event:
    """One rule firing for one track, with the evidence that backs it.

    Times: ``capture_time`` is when the camera captured the frame (UTC), ``detected_at`` when the
    rule fired, ``video_time`` seconds from the start of the source (files) or of the stream.
    ``trajectory`` holds the track's anchor points up to the event as ``[t, x, y]`` with ``t`` in
    UTC epoch seconds. ``snapshot`` and ``clip`` are paths relative to the evidence root.
    ``site`` is the act's point on the site plan (metres), for a camera with a ground plane;
    ``incident`` links the events of one act seen by several cameras (or rules).
    """

    id: str
    camera: str
    rule: str
    rule_kind: str
    direction: str | None
    track_id: int
    class_id: int
    class_name: str
    score: float
    box: list[float]
    trajectory: list[list[float]]
    video_time: float
    capture_time: datetime
    detected_at: datetime
    snapshot: str | None = None
    clip: str | None = None
    clip_status: str = "pending"  # pending | ready | failed
    fence_token: int | None = None  # the camera lease's token when the event was recorded
    point: list[float] | None = None  # [x, y]: the anchor where the act happened
    site: list[float] | None = None  # [X, Y] metres on the site plan (cameras with a ground)
    incident: str | None = None  # the id of the incident's first event (this one's, if first)

    def to_json(self, evidence_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """JSON-ready dict; with ``evidence_root`` the evidence paths are absolute."""
        d = asdict(self)
        d["class"] = d.pop("class_name")
        d["capture_time"] = self.capture_time.isoformat()
        d["detected_at"] = self.detected_at.isoformat()
        if evidence_root is not None:
            for k in ("snapshot", "clip"):
                if d[k]:
                    d[k] = os.path.join(evidence_root, d[k])
        return d
