"""Zone-intrusion and line-crossing rules with per-track state.

Geometry tests run once per frame over every anchor (numpy); the small per-track state machines
(confirmation counters, dwell, cooldown) are plain Python over the tracks of that frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from orchestrator.classes import class_id
from orchestrator.config import LineConfig, ObjectFilter, RuleDefaults, TimeWindow, ZoneConfig
from orchestrator.rules.geometry import OFF_LINE, SIDE_A, Polygon, Polyline


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that fired for one track in one frame."""

    rule: str
    kind: str  # "zone" | "line"
    direction: str | None  # "a_to_b" | "b_to_a" for lines, "enter" for zones
    track_id: int
    index: int  # row in the frame's detections
    timestamp: float


class CompiledFilter:
    """An ``ObjectFilter`` turned into one mask expression over detections."""

    def __init__(self, f: ObjectFilter) -> None:
        self.classes = (None if f.classes is None
                        else np.array([class_id(c) for c in f.classes], np.int64))
        self.min_score = f.min_score
        self.min_wh = np.asarray(f.min_size, np.float32)
        self.max_wh = None if f.max_size is None else np.asarray(f.max_size, np.float32)

        self.passes_all = (self.classes is None and self.min_score <= 0
                           and not self.min_wh.any() and self.max_wh is None)

    def mask(self, xyxy: npt.NDArray[np.float32], confidence: npt.NDArray[np.float32],
             class_id: npt.NDArray[np.int64]) -> npt.NDArray[np.int64] | None:
        """Indices of the boxes that pass, or None when the filter lets everything through."""
        if self.passes_all:
            return None
        wh = xyxy[:, 2:] - xyxy[:, :2]
        ok = (confidence >= self.min_score) & np.all(wh >= self.min_wh, axis=1)
        if self.max_wh is not None:
            ok &= np.all(wh <= self.max_wh, axis=1)
        if self.classes is not None:
            ok &= np.isin(class_id, self.classes)
        return np.flatnonzero(ok)


@dataclass(slots=True)
class _Settings:
    name: str
    anchor: str
    confirm_frames: int
    cooldown_s: float
    filter: CompiledFilter
    schedule: list[TimeWindow] | None

    @classmethod
    def resolve(cls, rule: ZoneConfig | LineConfig, defaults: RuleDefaults) -> _Settings:
        return cls(
            name=rule.name,
            anchor=rule.anchor or defaults.anchor,
            confirm_frames=rule.confirm_frames or defaults.confirm_frames,
            cooldown_s=defaults.cooldown_s if rule.cooldown_s is None else rule.cooldown_s,
            filter=CompiledFilter(rule.filter or defaults.filter),
            schedule=rule.schedule,
        )

    def armed(self, local: datetime | None) -> bool:
        """Whether the rule may fire at this local time (None: no clock, always armed)."""
        if self.schedule is None or local is None:
            return True
        return any(w.contains(local) for w in self.schedule)


@dataclass(slots=True)
class _ZoneTrack:
    inside: bool = False
    run: int = 0  # consecutive frames disagreeing with ``inside``
    entered_at: float = 0.0
    fired: bool = False
    last_fire: float = -np.inf


class ZoneRule:
    """Fires once per stay when a track's anchor has been inside the polygon for
    ``confirm_frames`` analysed frames and at least ``min_dwell_s`` seconds."""

    kind = "zone"

    def __init__(self, config: ZoneConfig, defaults: RuleDefaults) -> None:
        self.config = config
        self.s = _Settings.resolve(config, defaults)
        self.polygon = Polygon(config.points)
        self.min_dwell_s = config.min_dwell_s
        self._tracks: dict[int, _ZoneTrack] = {}

    def update(self, track_ids: list[int], anchors: npt.NDArray[np.float32],
               rows: list[int], t: float) -> list[RuleHit]:
        inside = self.polygon.contains(anchors).tolist()
        hits = []
        for tid, row, now_in in zip(track_ids, rows, inside, strict=True):
            st = self._tracks.get(tid)
            if st is None:
                st = self._tracks[tid] = _ZoneTrack()
            if now_in != st.inside:
                st.run += 1
                if st.run == 1 and now_in:
                    st.entered_at = t
                if st.run >= self.s.confirm_frames:
                    st.inside, st.run = now_in, 0
                    if not now_in:
                        st.fired = False
            else:
                st.run = 0
            if st.inside and not st.fired and t - st.entered_at >= self.min_dwell_s:
                st.fired = True  # once per stay; a stay starting inside the cooldown is silent
                if t - st.last_fire >= self.s.cooldown_s:
                    st.last_fire = t
                    hits.append(RuleHit(self.s.name, self.kind, "enter", tid, row, t))
        return hits

    def forget(self, track_id: int) -> None:
        self._tracks.pop(track_id, None)


@dataclass(slots=True)
class _LineTrack:
    side: int = OFF_LINE  # side held last
    prev_pt: tuple[float, float] | None = None  # anchor in the track's previous frame
    run: int = 0  # consecutive frames on the other side
    step: tuple[tuple[float, float], tuple[float, float]] | None = None  # move onto it
    last_fire: float = -np.inf


class LineRule:
    """Fires when a track that was seen on one side holds the other side for
    ``confirm_frames`` analysed frames and its path between the two sides meets the line.

    Jitter on the line never fires (the other side is not held), a crossing counts once, and a
    track lost on one side and regained on the other still counts (its path crosses).
    """

    kind = "line"

    def __init__(self, config: LineConfig, defaults: RuleDefaults) -> None:
        self.config = config
        self.s = _Settings.resolve(config, defaults)
        self.line = Polyline(config.points)
        self.direction = config.direction
        self._tracks: dict[int, _LineTrack] = {}

    def update(self, track_ids: list[int], anchors: npt.NDArray[np.float32],
               rows: list[int], t: float) -> list[RuleHit]:
        sides = self.line.sides(anchors).tolist()
        pts = anchors.tolist()
        hits = []
        for tid, row, side, pt in zip(track_ids, rows, sides, pts, strict=True):
            st = self._tracks.get(tid)
            if st is None:
                st = self._tracks[tid] = _LineTrack()
            here = (pt[0], pt[1])
            prev, st.prev_pt = st.prev_pt, here
            if side == OFF_LINE:
                st.run = 0
                continue
            if st.side in (OFF_LINE, side):
                st.side, st.run = side, 0
                continue
            st.run += 1
            if st.run == 1:
                st.step = (prev or here, here)
            if st.run < self.s.confirm_frames:
                continue
            # The move onto the new side must pass through the line, not around its end.
            crossed = st.step is not None and self.line.crossed_by(*st.step)
            direction = "a_to_b" if st.side == SIDE_A else "b_to_a"
            st.side, st.run = side, 0
            if (crossed and self.direction in ("any", direction)
                    and t - st.last_fire >= self.s.cooldown_s):
                st.last_fire = t
                hits.append(RuleHit(self.s.name, self.kind, direction, tid, row, t))
        return hits

    def forget(self, track_id: int) -> None:
        self._tracks.pop(track_id, None)


Rule = ZoneRule | LineRule


class Trajectory:
    """The latest anchor points of one track with their times (for replay on a map)."""

    __slots__ = ("last_seen", "points", "times")

    def __init__(self, max_points: int) -> None:
        self.times: deque[float] = deque(maxlen=max_points)
        self.points: deque[tuple[float, float]] = deque(maxlen=max_points)
        self.last_seen = 0.0
