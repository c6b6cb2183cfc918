"""Zone-intrusion and line-crossing rules with per-track state.

Geometry tests run once per frame over every anchor and every rule (numpy, ``Shapes``, done by
the engine); the small per-track state machines
(confirmation counters, dwell, cooldown) are plain Python over the tracks of that frame.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from orchestrator.classes import class_id
from orchestrator.config import (
    ClimbConfig,
    LineConfig,
    ObjectFilter,
    RouteConfig,
    RuleDefaults,
    TimeWindow,
    ZoneConfig,
)
from orchestrator.rules.geometry import OFF_LINE, SIDE_A, Measures, Polygon, Polyline, Shapes


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that fired for one track.

    ``timestamp`` and ``point`` are the act itself (the moment and the anchor where the line
    was crossed, the zone entered, the dwell reached or a route's last zone entered);
    ``detected`` is the frame that confirmed it, a few frames later; ``index`` the track's row
    in that frame's detections.
    """

    rule: str
    kind: str  # "zone" | "line" | "route" | "climb"
    # "a_to_b" | "b_to_a" for lines, "enter" for zones, "complete" for routes, "over" for climbs
    direction: str | None
    track_id: int
    index: int
    timestamp: float
    point: tuple[float, float] = (0.0, 0.0)
    detected: float = 0.0
    # Not an event: the outcome of the track's last event of this rule ("confirmed" or
    # "retracted": a climb that dropped inside, or went back outside).
    outcome: str | None = None


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


SMOOTH_S = 0.25  # window of the mean distance that decides sides: jitter averages out;
# not a multiple of common frame periods (0.04, 0.1, 0.2 s), so timestamp jitter never changes
# which frames it holds
NOISE_GAIN = 0.2  # weight of a new frame in a track's running jitter estimate
MIN_MARGIN_PX = 2.0
ON_LINE = 0.25  # a new track this close to a line (a fraction of the margin) holds no side yet


@dataclass(slots=True)
class _Settings:
    name: str
    anchor: str
    confirm_frames: int
    cooldown_s: float
    margin: float
    filter: CompiledFilter
    schedule: list[TimeWindow] | None

    @classmethod
    def resolve(cls, rule: ZoneConfig | LineConfig | RouteConfig | ClimbConfig,
                defaults: RuleDefaults) -> _Settings:
        return cls(
            name=rule.name,
            anchor=rule.anchor or defaults.anchor,
            confirm_frames=rule.confirm_frames or defaults.confirm_frames,
            cooldown_s=defaults.cooldown_s if rule.cooldown_s is None else rule.cooldown_s,
            margin=defaults.margin if rule.margin is None else rule.margin,
            filter=CompiledFilter(rule.filter or defaults.filter),
            schedule=rule.schedule,
        )

    def armed(self, local: datetime | None) -> bool:
        """Whether the rule may fire at this local time (None: no clock, always armed)."""
        if self.schedule is None or local is None:
            return True
        return any(w.contains(local) for w in self.schedule)

    def margin_px(self, height: float) -> float:
        return max(MIN_MARGIN_PX, self.margin * height)


Sample = tuple[float, float, float, float]  # t, x, y, signed distance


@dataclass(slots=True)
class _Side:
    """Which side of a boundary a track holds, with hysteresis in distance and in frames.

    The side changes when the mean signed distance over ``SMOOTH_S`` has been on the other
    side for ``confirm_frames`` frames and, in that run, at least the margin away from the
    boundary. ``since`` keeps the samples back to the last window held firmly on the old
    side: the act is read off them once the change is confirmed.
    """

    side: int = 0  # +1 / -1 once held; 0 before the track ever held one
    run: int = 0  # consecutive frames on the other side
    reached: bool = False  # the other side was reached past the margin in this run
    recent: deque[Sample] = field(default_factory=deque)  # the samples of the last SMOOTH_S
    total: float = 0.0  # their summed distance
    d1: float = 0.0  # the last two distances, for the jitter estimate
    d2: float = 0.0
    seen: int = 0
    since: list[Sample] = field(default_factory=list)
    noise2: float = 0.0  # running mean of squared second differences of the distance
    last_fire: dict[str | None, float] = field(default_factory=dict)
    pending: int = 0  # while no side is held: the side of the last clear frames
    restarted: bool = False  # the side was forgotten (see ``restart``)
    firm: bool = False  # the last frame's window was clearly on its side (past the margin
    # and three standard errors of the jitter, measured over at least three frames)

    def step(self, sample: Sample, margin: float, confirm: int) -> int:
        """Feed one frame; returns the new side when a change is confirmed, else 0."""
        # Runs for every track and rule of every frame: attributes read once into locals.
        t, d = sample[0], sample[3]
        seen, d1, noise2 = self.seen, self.d1, self.noise2
        if seen >= 2:
            dd = d - 2 * d1 + self.d2
            noise2 = self.noise2 = noise2 + NOISE_GAIN * (dd * dd - noise2)
        self.d2, self.d1, self.seen = d1, d, seen + 1
        w = self.recent
        w.append(sample)
        total = self.total + d
        cutoff = t - SMOOTH_S
        while w[0][0] < cutoff:
            total -= w.popleft()[3]
        self.total = total
        n = len(w)
        mean = total / n
        # Jitter of this track's distance (σ² = E[dd²] / 6 for white noise on a steady walk):
        # the mean must clear three of its standard errors as well as the margin.
        firm = abs(mean) >= margin and mean * mean * n >= 1.5 * noise2
        self.firm = firm and seen >= 2
        sign = 1 if mean > 0 else -1
        if self.side == 0:
            self.settle(sign, firm if self.restarted else abs(mean) >= ON_LINE * margin, confirm)
            return 0
        if mean == 0 or sign == self.side:
            self.run, self.reached = 0, False
            if firm:  # the raw samples of the window: the last may be past the line already
                self.since = list(w)
            else:
                self.keep(sample)
            return 0
        self.keep(sample)
        self.run += 1
        self.reached = self.reached or firm
        if self.run < confirm or not self.reached:
            return 0
        self.side, self.run, self.reached = sign, 0, False
        return sign

    def settle(self, sign: int, clear: bool, confirm: int) -> None:
        """Take a first side, firing nothing. A new track takes the side it is first seen
        clearly on (one seen on the line, standing there or out of an occlusion, has crossed
        nothing yet); after a restart the side must be held firmly for ``confirm`` frames, as
        a change must (the box that jumped may be an outlier)."""
        if not clear:
            self.run = 0
            return
        self.run = self.run + 1 if sign == self.pending else 1
        self.pending = sign
        if self.run >= (confirm if self.restarted else 1):
            self.side, self.run, self.since = sign, 0, list(self.recent)

    def restart(self) -> None:
        """Forget the side and the samples (the box now follows another object, or the
        anchor jumped): the side is taken afresh, firmly, and that fires nothing. The
        cooldowns stay with the track."""
        self.side, self.run, self.reached = 0, 0, False
        self.recent.clear()
        self.total = self.d1 = self.d2 = self.noise2 = 0.0
        self.seen = 0
        self.since = []
        self.restarted = True

    def keep(self, sample: Sample) -> None:
        self.since.append(sample)
        if len(self.since) > 256:
            del self.since[1]

    def act(self, margin: float | None = None) -> tuple[float, tuple[float, float]]:
        """Time and point where the boundary was passed in ``since``.

        The pass is the split of the samples into old side / new side that leaves the least
        distance on the wrong side (jitter before or after the pass does not move it), then
        interpolated between the two samples around the split. With ``margin``, an anchor
        that then stood on the boundary for ``LINGER_S`` or more, within ``margin`` of it
        (standing on a zone's edge, its feet a few pixels either side, before walking in),
        passed it when it left: see ``_linger``.
        """
        new = 1 if self.since[-1][3] > 0 else -1
        s = [x[3] * new for x in self.since]
        wrong_after = sum(max(0.0, -v) for v in s)
        wrong_before = 0.0
        best, best_cost = len(s) - 1, math.inf
        for k, v in enumerate(s):
            if wrong_before + wrong_after < best_cost and v > 0:
                best, best_cost = k, wrong_before + wrong_after
            wrong_before += max(0.0, v)
            wrong_after -= max(0.0, -v)
        left = None if margin is None else _linger(self.since, s, best, margin)
        if left is not None:
            return left
        t1, x1, y1, d1 = self.since[best]
        if best == 0:
            return t1, (x1, y1)
        d0 = self.since[best - 1][3]
        return _between(self.since[best - 1], self.since[best],
                        abs(d0) / max(abs(d0) + abs(d1), 1e-9))

    def cool(self, direction: str | None, t: float, cooldown_s: float) -> bool:
        return _cool(self.last_fire, direction, t, cooldown_s)


def _cool(last_fire: dict[str | None, float], direction: str | None, t: float,
          cooldown_s: float) -> bool:
    """Whether ``direction`` may fire at ``t``; records the firing if so."""
    if t - last_fire.get(direction, -np.inf) < cooldown_s:
        return False
    last_fire[direction] = t
    return True


LINGER_S = 1.0  # standing on a boundary this long before going over: the act is the leaving


def _linger(since: list[Sample], s: list[float], first: int, margin: float
            ) -> tuple[float, tuple[float, float]] | None:
    """When the anchor left the boundary, if it stood on it after passing it at ``first``.

    ``s`` are the distances of ``since`` (positive on the new side). The samples from
    ``first`` on are split where a level stretch (standing) best gives way to a straight
    move (least squares of both, with running sums); if the level was within ``margin`` of
    the boundary and lasted ``LINGER_S``, the act is where the move left that level: where
    the move's straight fit meets it (or the step to the move's one sample does). None: no
    such stretch.
    """
    n = len(s) - first
    if n < 3 or since[-1][0] - since[first][0] < LINGER_S:
        return None
    t = [x[0] - since[first][0] for x in since[first:]]
    d = s[first:]
    # Suffix sums for the straight fits of d[k:] (residual, and the means and co-moments the
    # chosen one is read off), prefix sums for the level fits of d[:k].
    st = stt = sd = sdd = std = 0.0
    line = [0.0] * n
    fit = [(0.0, 0.0, 0.0, 0.0)] * n  # mean t, mean d, Σ(t − t̄)², Σ(t − t̄)(d − d̄)
    for k in range(n - 1, -1, -1):
        st, stt, sd = st + t[k], stt + t[k] * t[k], sd + d[k]
        sdd, std = sdd + d[k] * d[k], std + t[k] * d[k]
        m = n - k
        sxx, sxy, syy = stt - st * st / m, std - st * sd / m, sdd - sd * sd / m
        line[k] = syy - sxy * sxy / sxx if sxx > 1e-12 else syy
        fit[k] = (st / m, sd / m, sxx, sxy)
    best, best_sse, level = 0, line[0], 0.0
    pd = pdd = 0.0
    for k in range(1, n):
        pd, pdd = pd + d[k - 1], pdd + d[k - 1] * d[k - 1]
        sse = pdd - pd * pd / k + line[k]
        if sse < best_sse:
            best, best_sse, level = k, sse, pd / k
    if best == 0 or abs(level) > margin or t[best - 1] < LINGER_S:
        return None
    # When the move met the level: where the straight fit of the move does (the step to its
    # one sample if it has one), between the last level sample and the last sample.
    mt, md, sxx, sxy = fit[best]
    if sxx > 1e-12 and sxy > 0:
        at = mt + (level - md) * sxx / sxy
    elif d[best] > d[best - 1]:
        at = t[best - 1] + (t[best] - t[best - 1]) * (level - d[best - 1]) / (d[best] - d[best - 1])
    else:
        at = t[best - 1]
    at = min(max(at, t[best - 1]), t[-1])
    k = min(max(bisect.bisect_right(t, at) - 1, best - 1), n - 2)
    f = (at - t[k]) / (t[k + 1] - t[k]) if t[k + 1] > t[k] else 0.0
    return _between(since[first + k], since[first + k + 1], f)


def _between(a: Sample, b: Sample, f: float) -> tuple[float, tuple[float, float]]:
    """Time and point the fraction ``f`` of the way from sample ``a`` to sample ``b``."""
    return a[0] + f * (b[0] - a[0]), (a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]))


class _TrackRule:
    """State per track, shared by zones, lines and routes: inherit (id switch), forget,
    pending."""

    s: _Settings
    _tracks: dict[int, Any]
    kind: str

    @property
    def geometry(self) -> tuple[object, ...]:
        """What a track's state depends on: the same geometry judges tracks the same way."""
        raise NotImplementedError

    def adopt(self, old: _TrackRule) -> None:
        """Take over the per-track state of ``old``, a rule of the same geometry."""
        self._tracks = old._tracks

    def forget(self, track_id: int) -> None:
        self._tracks.pop(track_id, None)

    def inherit(self, new_id: int, old_id: int) -> None:
        """Track ``new_id`` continues ``old_id`` (the same object under a new id)."""
        st = self._tracks.get(old_id)
        if st is not None and new_id not in self._tracks:
            self._tracks[new_id] = copy.deepcopy(st)

    def hand_over(self, track_id: int) -> Any:
        """A copy of what this rule knows of the object ``track_id`` follows (None: nothing),
        for ``take_over`` by the id that follows that object next."""
        st = self._tracks.get(track_id)
        return None if st is None else copy.deepcopy(st)

    def take_over(self, track_id: int, state: Any) -> None:
        """Track ``track_id`` now follows the object ``state`` (from ``hand_over``) was
        known as: it holds that object's side, inside and cooldowns. None: an object this
        rule has not judged yet, taken as a new track."""
        if state is None:
            self._tracks.pop(track_id, None)
        else:
            self._tracks[track_id] = state

    def restart(self, track_id: int) -> None:
        """Track ``track_id`` jumped (see ``RuleEngine``): its side or inside is taken afresh
        from where it is now, without an event."""
        st = self._tracks.get(track_id)
        if st is not None:
            st.restart()

    def pending_since(self) -> float | None:
        """Earliest time an act not yet confirmed may have happened (for its snapshot)."""
        starts = [st.since[0][0] for st in self._tracks.values() if st.run and st.since]
        return min(starts) if starts else None


class _ShapeRule(_TrackRule):
    """A rule on one shape drawn on the image: a zone, a line or a wall's edge."""

    config: ZoneConfig | LineConfig | ClimbConfig

    @property
    def geometry(self) -> tuple[object, ...]:
        return (self.kind, tuple(map(tuple, self.config.points)), self.s.anchor)


@dataclass(slots=True)
class _ZoneTrack(_Side):
    entered_at: float = 0.0
    entry_point: tuple[float, float] = (0.0, 0.0)
    fired: bool = False

    def restart(self) -> None:
        _Side.restart(self)
        self.fired = True  # found inside afresh: it did not enter now; leaving re-arms it


class ZoneRule(_ShapeRule):
    """Fires once per stay when a track's anchor has gone into the polygon (past the margin,
    for ``confirm_frames`` analysed frames) and stayed ``min_dwell_s`` seconds.

    The event is stamped with the entry (or, with a dwell, the moment the dwell was reached).
    A track that has never been seen outside is treated as having come from outside.
    """

    kind = "zone"

    def __init__(self, config: ZoneConfig, defaults: RuleDefaults) -> None:
        self.config = config
        self.s = _Settings.resolve(config, defaults)
        self.polygon = Polygon(config.points)
        self.min_dwell_s = config.min_dwell_s
        self._tracks: dict[int, _ZoneTrack] = {}

    def update(self, track_ids: list[int], anchors: npt.NDArray[np.float32],
               heights: list[float], rows: list[int], t: float,
               measured: Measures | None = None, column: int = 0) -> list[RuleHit]:
        """Advance the tracks of one frame; ``measured`` (column ``column``) is where their
        anchors lie, when the engine measured every zone and line at once."""
        m = measured if measured is not None else self.polygon.measure(anchors)
        return self.advance(track_ids, anchors.tolist(), heights, rows, t,
                            m.depth[:, column].tolist())

    def advance(self, track_ids: list[int], points: list[list[float]], heights: list[float],
                rows: list[int], t: float, depth: list[float]) -> list[RuleHit]:
        """``update`` on plain lists: each track's anchor (x, y) and its depth in the zone."""
        hits = []
        margin, confirm, tracks = self.s.margin, self.s.confirm_frames, self._tracks
        for tid, row, d, (x, y), h in zip(track_ids, rows, depth, points, heights,
                                          strict=True):
            st = tracks.get(tid)
            if st is None:
                st = tracks[tid] = _ZoneTrack(side=-1)
            mp = margin * h  # margin_px, inline: this loop runs for every track and zone
            mp = mp if mp > MIN_MARGIN_PX else MIN_MARGIN_PX
            changed = st.step((t, x, y, d), mp, confirm)
            if changed == 1:
                st.entered_at, st.entry_point = st.act(mp)
                st.fired = False
            if st.side == 1 and not st.fired and t - st.entered_at >= self.min_dwell_s:
                st.fired = True  # once per stay; a stay starting inside the cooldown is silent
                act, point = ((st.entered_at, st.entry_point) if self.min_dwell_s == 0
                              else (st.entered_at + self.min_dwell_s, (x, y)))
                if st.cool("enter", act, self.s.cooldown_s):
                    hits.append(RuleHit(self.s.name, self.kind, "enter", tid, row, act,
                                        point, t))
        return hits


class LineRule(_ShapeRule):
    """Fires when a track that held one side of the line holds the other: past the margin,
    for ``confirm_frames`` analysed frames, along a path that meets the line.

    Jitter on the line and walking along it never fire (the other side is not reached past
    the margin), a crossing counts once, a track lost on one side and regained on the other
    still counts (its path crosses), and walking around an end does not. The event is stamped
    with the moment and the point where the anchor passed the line.
    """

    kind = "line"

    def __init__(self, config: LineConfig, defaults: RuleDefaults) -> None:
        self.config = config
        self.s = _Settings.resolve(config, defaults)
        self.line = Polyline(config.points)
        self.direction = config.direction
        self._tracks: dict[int, _Side] = {}

    def update(self, track_ids: list[int], anchors: npt.NDArray[np.float32],
               heights: list[float], rows: list[int], t: float,
               measured: Measures | None = None, column: int = 0) -> list[RuleHit]:
        """Advance the tracks of one frame; ``measured`` (column ``column``) is where their
        anchors lie, when the engine measured every zone and line at once."""
        m = measured if measured is not None else self.line.measure(anchors)
        return self.advance(track_ids, anchors.tolist(), heights, rows, t,
                            m.distance[:, column].tolist(), m.side[:, column].tolist())

    def advance(self, track_ids: list[int], points: list[list[float]], heights: list[float],
                rows: list[int], t: float, dist: list[float], sides: list[int]
                ) -> list[RuleHit]:
        """``update`` on plain lists: each track's anchor (x, y), its distance to the line and
        its side."""
        hits = []
        margin, confirm, tracks = self.s.margin, self.s.confirm_frames, self._tracks
        for tid, row, side, d, (x, y), h in zip(track_ids, rows, sides, dist, points,
                                                heights, strict=True):
            st = tracks.get(tid)
            if st is None:
                st = tracks[tid] = _Side()
            if side == OFF_LINE:  # beyond an end: no side; the path so far is kept
                st.run, st.reached = 0, False
                st.recent.clear()
                st.total = 0.0
                if st.since:
                    st.keep((t, x, y, 0.0))
                continue
            mp = margin * h  # margin_px, inline: this loop runs for every track and line
            mp = mp if mp > MIN_MARGIN_PX else MIN_MARGIN_PX
            if not st.step((t, x, y, side * d), mp, confirm):
                continue
            path = [(p[1], p[2]) for p in st.since]
            crossed = any(self.line.crossed_by(a, b) for a, b in itertools.pairwise(path))
            direction = "b_to_a" if st.side == SIDE_A else "a_to_b"
            act, point = st.act(mp)
            st.since = [st.since[-1]]
            if (crossed and self.direction in ("any", direction)
                    and st.cool(direction, act, self.s.cooldown_s)):
                hits.append(RuleHit(self.s.name, self.kind, direction, tid, row, act, point, t))
        return hits


GONE_S = 1.0  # a climber unseen this long after going over, last seen inside, has dropped in


@dataclass(slots=True)
class _ClimbTrack:
    """One track against a wall's edge: the side its anchor and its box's top hold (positive
    distances inside), whether it approached from outside, and a climb awaiting its drop."""

    anchor: _Side = field(default_factory=_Side)
    top: _Side = field(default_factory=_Side)
    approached: bool = False
    anchor_act: tuple[float, tuple[float, float]] | None = None  # when each went inside
    top_act: float | None = None
    over_at: float | None = None  # the climb fired at this time, awaiting its drop
    fired_by: int = 0  # the track id its event carries (the track may go on under another)
    last_seen: float = 0.0
    last_fire: dict[str | None, float] = field(default_factory=dict)

    def restart(self) -> None:
        self.anchor.restart()
        self.top.restart()
        self.approached, self.anchor_act, self.top_act = False, None, None

    def cool(self, direction: str | None, t: float, cooldown_s: float) -> bool:
        return _cool(self.last_fire, direction, t, cooldown_s)


ClimbSample = tuple[float, float, float, float] | None  # anchor in, top in, top x, top y


ACROSS = 0.5  # a climb moves across the edge at least this much per pixel along it


def _across(samples: list[Sample]) -> bool:
    """Whether the anchor's move over ``samples`` (from where it last was firmly on the old
    side) went across the edge more than along it (``ACROSS``): someone walking along the
    wall whose box jitters over its edge moves along it; a climber goes over it."""
    (_, x0, y0, d0), (_, x1, y1, d1) = samples[0], samples[-1]
    across = abs(d1 - d0)
    along2 = max((x1 - x0) ** 2 + (y1 - y0) ** 2 - across * across, 0.0)
    return across * across >= ACROSS * ACROSS * along2


class ClimbRule(_ShapeRule):
    """Fires when a track comes over a wall's top edge from outside: it approached (its
    anchor firmly outside, within ``near`` box heights of the edge), then its anchor went
    inside and its box's top is inside too.

    A camera facing the wall's outer face sees the head go over first (or above a wall lower
    than the person all along), then the feet. One on the inside sees the feet come down
    first and the head after, once the climber is below the wall's top; a person walking
    outside beyond the wall, whose box's bottom sags over the edge, keeps the head above it.
    The event is stamped with the later of the two crossings.

    Then the drop: the anchor inside for ``drop_s``, or the track out of sight while inside,
    confirms it; the anchor back outside first retracts it (an ``outcome`` hit, not an
    event). Walking along the wall on either side never fires: the anchor never firmly
    crosses, or, jittering over the edge, moves along it more than across (``ACROSS``); nor
    does a person standing inside whose head shows above the edge.
    """

    kind = "climb"

    config: ClimbConfig

    def __init__(self, config: ClimbConfig, defaults: RuleDefaults) -> None:
        self.config = config
        self.s = _Settings.resolve(config, defaults)
        self.line = Polyline(config.points)
        self.inward = SIDE_A if config.outside == "b" else -SIDE_A  # side value of inside
        self.near, self.drop_s = config.near, config.drop_s
        self._tracks: dict[int, _ClimbTrack] = {}

    @property
    def geometry(self) -> tuple[object, ...]:
        """The edge, its outside and the anchor: flipping the outside starts afresh (the
        tracks' sides were taken the other way round)."""
        return (self.kind, tuple(map(tuple, self.config.points)), self.s.anchor,
                self.config.outside)

    def measure(self, anchors: npt.NDArray[np.float32], tops: npt.NDArray[np.float32]
                ) -> list[ClimbSample]:
        """Per track: the signed distance (positive inside) of its anchor and of its box's
        top centre, and that top; None beyond an end of the edge."""
        a, b = self.line.measure(anchors), self.line.measure(tops)
        out: list[ClimbSample] = []
        for sa, da, st, dt, (tx, ty) in zip(a.side[:, 0].tolist(), a.distance[:, 0].tolist(),
                                            b.side[:, 0].tolist(), b.distance[:, 0].tolist(),
                                            tops.tolist(), strict=True):
            out.append(None if sa == OFF_LINE else
                       (sa * self.inward * da, st * self.inward * dt, tx, ty))
        return out

    def advance(self, track_ids: list[int], points: list[list[float]], heights: list[float],
                rows: list[int], t: float, samples: list[ClimbSample]) -> list[RuleHit]:
        hits = []
        margin, confirm = self.s.margin, self.s.confirm_frames
        for tid, row, m, (x, y), h in zip(track_ids, rows, samples, points, heights,
                                          strict=True):
            st = self._tracks.get(tid)
            if st is None:
                st = self._tracks[tid] = _ClimbTrack(fired_by=tid)
            st.last_seen = t
            if m is None:  # beyond an end of the wall: walking round it is not a climb
                continue
            d_anchor, d_top, tx, ty = m
            mp = max(MIN_MARGIN_PX, margin * h)
            if st.anchor.step((t, x, y, d_anchor), mp, confirm) == 1:
                st.anchor_act = st.anchor.act() if _across(st.anchor.since) else None
            elif st.anchor.side == -1:
                st.anchor_act = None
                if st.anchor.firm and -self.near * h <= d_anchor < 0:  # outside, near
                    st.approached = True
            if st.top.step((t, tx, ty, d_top), mp, confirm) == 1:
                st.top_act = st.top.act()[0]
            elif st.top.side == -1:
                st.top_act = None
            if st.over_at is not None:
                if st.anchor.side == -1:  # back outside before dropping in
                    hits.append(self._outcome(st, "retracted", row, t, (x, y)))
                elif t - st.over_at >= self.drop_s:
                    hits.append(self._outcome(st, "confirmed", row, t, (x, y)))
                continue
            if (st.approached and st.anchor_act is not None and st.anchor.side == 1
                    and st.top.side == 1):  # the top may have been inside all along
                at = max(st.anchor_act[0], st.top_act or st.anchor_act[0])
                point = st.anchor_act[1]
                st.approached, st.anchor_act, st.top_act = False, None, None
                if st.cool("over", at, self.s.cooldown_s):
                    st.over_at, st.fired_by = at, tid
                    hits.append(RuleHit(self.s.name, self.kind, "over", tid, row, at, point, t))
        return hits

    def sweep(self, t: float) -> list[RuleHit]:
        """Every frame, tracks or not: a climber gone ``GONE_S`` after going over, last seen
        inside, has dropped in out of sight (behind the wall): confirmed."""
        return [self._outcome(st, "confirmed", -1, t, (0.0, 0.0))
                for st in self._tracks.values()
                if st.over_at is not None and t - st.last_seen >= GONE_S]

    def _outcome(self, st: _ClimbTrack, outcome: str, row: int, t: float,
                 point: tuple[float, float]) -> RuleHit:
        hit = RuleHit(self.s.name, self.kind, "over", st.fired_by, row, t, point, t, outcome)
        st.over_at = None
        return hit

    def inherit(self, new_id: int, old_id: int) -> None:
        """The climber goes on under a new id: its climb (awaiting the drop) goes with it."""
        st = self._tracks.get(old_id)
        _TrackRule.inherit(self, new_id, old_id)
        if st is not None and new_id in self._tracks:
            st.over_at = None

    def pending_since(self) -> float | None:
        starts = [p.since[0][0] for st in self._tracks.values() for p in (st.anchor, st.top)
                  if p.run and p.since]
        return min(starts) if starts else None


Entry = tuple[float, tuple[float, float], float]  # time, anchor point, box height


@dataclass(slots=True)
class _RouteTrack:
    """One track on a route: inside or not of each of the route's zones (with a zone's
    hysteresis), and ``chains[k]``: the entries of steps 0..k-1, of the latest start that has
    reached step k in time (None: none has)."""

    zones: list[_Side]
    chains: list[list[Entry] | None]
    last_fire: dict[str | None, float] = field(default_factory=dict)

    def restart(self) -> None:
        for z in self.zones:
            z.restart()

    def cool(self, direction: str | None, t: float, cooldown_s: float) -> bool:
        return _cool(self.last_fire, direction, t, cooldown_s)


class RouteRule(_TrackRule):
    """Fires once when a track has entered each of the route's zones in order, the last
    within ``within_s`` of the first (other zones may come in between), at the mean speed
    asked, if any.

    The zones are judged as a zone rule would (margin, confirm_frames, entry stamped at the
    act), at the route's anchor. Of several starts that could lead on, the latest is kept:
    it leaves the most time for the rest. The event is stamped with the entry into the last
    zone; the track's trajectory shows the whole route.
    """

    kind = "route"

    def __init__(self, config: RouteConfig, defaults: RuleDefaults,
                 zones: dict[str, ZoneConfig]) -> None:
        self.config = config
        self.s = _Settings.resolve(config, defaults)
        self.names = list(dict.fromkeys(config.zones))  # each zone once, in first order
        self.steps = [self.names.index(z) for z in config.zones]
        self.polygons = [Polygon(zones[z].points) for z in self.names]
        self.shapes = Shapes([p.points for p in self.polygons], [])
        self.within_s, self.min_speed = config.within_s, config.min_speed
        self._tracks: dict[int, _RouteTrack] = {}

    @property
    def geometry(self) -> tuple[object, ...]:
        """A route's zones (points, in order) and anchor: its tracks' steps depend on them."""
        return (self.kind, tuple(tuple(map(tuple, p.points)) for p in self.polygons),
                tuple(self.steps), self.s.anchor)

    def measure(self, anchors: npt.NDArray[np.float32]) -> list[list[float]]:
        """Per anchor, its depth in each of the route's zones."""
        return self.shapes.measure(anchors).depth.tolist()

    def advance(self, track_ids: list[int], points: list[list[float]], heights: list[float],
                rows: list[int], t: float, depth: list[list[float]]) -> list[RuleHit]:
        """One frame of tracks: each track's anchor (x, y) and its depths (``measure``)."""
        hits = []
        margin, confirm, n = self.s.margin, self.s.confirm_frames, len(self.steps)
        for tid, row, ds, (x, y), h in zip(track_ids, rows, depth, points, heights,
                                           strict=True):
            st = self._tracks.get(tid)
            if st is None:  # a new track counts as coming from outside, as in a zone
                st = self._tracks[tid] = _RouteTrack(
                    [_Side(side=-1) for _ in self.names], [None] * (n + 1))
            mp = max(MIN_MARGIN_PX, margin * h)
            for z, (zs, d) in enumerate(zip(st.zones, ds, strict=True)):
                if zs.step((t, x, y, d), mp, confirm) == 1:
                    at, point = zs.act(mp)
                    done = self._enter(st, z, (at, point, h))
                    if done is not None and st.cool("complete", at, self.s.cooldown_s):
                        hits.append(RuleHit(self.s.name, self.kind, "complete", tid, row, at,
                                            point, t))
        return hits

    def _enter(self, st: _RouteTrack, zone: int, entry: Entry) -> list[Entry] | None:
        """Zone ``zone`` entered: advance the chains; the entries of a completed route."""
        at, chains, n = entry[0], st.chains, len(self.steps)
        for k in range(n - 1, -1, -1):  # from the last step: one entry advances one step
            if self.steps[k] != zone:
                continue
            if k == 0:
                chains[1] = [entry]
                continue
            prev = chains[k]
            if prev is None or at - prev[0][0] > self.within_s:
                continue
            cur = chains[k + 1]
            if cur is None or prev[0][0] >= cur[0][0]:
                chains[k + 1] = [*prev, entry]
        done = chains[n]
        if done is None:
            return None
        chains[n] = None
        if self.min_speed and _speed(done) < self.min_speed:
            return None
        st.chains = [None] * (n + 1)  # one event per route: the next starts afresh
        return done

    def pending_since(self) -> float | None:
        starts = [z.since[0][0] for st in self._tracks.values() for z in st.zones
                  if z.run and z.since]
        return min(starts) if starts else None


def _speed(entries: list[Entry]) -> float:
    """Mean speed along the entry points, in box heights per second."""
    dist = sum(math.hypot(b[1][0] - a[1][0], b[1][1] - a[1][1])
               for a, b in itertools.pairwise(entries))
    dt = entries[-1][0] - entries[0][0]
    h = sum(e[2] for e in entries) / len(entries)
    return math.inf if dt <= 0 else dist / dt / max(h, 1e-6)


Rule = ZoneRule | LineRule | RouteRule | ClimbRule


class Trajectory:
    """The latest anchor points of one track with their times (for replay on a map)."""

    __slots__ = ("at_border", "class_id", "height", "last_seen", "points", "times")

    def __init__(self, max_points: int) -> None:
        self.times: deque[float] = deque(maxlen=max_points)
        self.points: deque[tuple[float, float]] = deque(maxlen=max_points)
        self.last_seen = 0.0
        self.height = 0.0  # box height when last seen
        self.class_id = -1
        self.at_border = False  # last seen touching the image edge (leaving the view)
