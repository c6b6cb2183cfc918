"""All rules of one camera, fed with tracked detections frame by frame."""

from __future__ import annotations

import bisect
import itertools
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from orchestrator.config import CameraConfig
from orchestrator.detections import Detections, box_anchors
from orchestrator.rules.geometry import Measures, Shapes, ShapesBatch
from orchestrator.rules.rules import (
    ClimbRule,
    LineRule,
    RouteRule,
    Rule,
    RuleHit,
    Trajectory,
    ZoneRule,
)
from trackers.blind import BlindTime

TRAJECTORY_MAX_POINTS = 600
TOP = "top_center"  # a climb judges the box's top as well as its anchor
CONTINUE_S = 4.0  # a track lost at most this long ago may come back under a new id
BORDER_PX = 3.0  # a box this close to the image edge is entering or leaving the view
REACH, REACH_PER_S = 0.3, 0.5  # a continued track is found within (0.3 + 0.5 s⁻¹ × gap) × height
# A box that grows or shrinks by more than JUMP_RATIO (times e^(JUMP_RATIO_PER_S × seconds
# unseen)) while its anchor moves more than JUMP_MOVE of its height is not the same view of the
# same object any more (a person walking to the camera grows ~30 % a second at the closest).
JUMP_RATIO, JUMP_RATIO_PER_S, JUMP_MOVE = 1.3, 0.4, 0.15
JUMP_STAYS = 2  # boxes where it jumped to that make it another object, not one odd box

Birth = tuple[float, npt.NDArray[np.float32]]  # time, xyxy of a frame before a track's id


class RuleEngine:
    """Judges a camera's zones, lines and routes on tracked detections.

    Besides the rules, it keeps the identity of what it judges: a track that appears away
    from the image border close to where another vanished moments before (behind a post, in a
    crowd) is the same object, and takes over its state: inside a zone, the side of each line,
    cooldowns and trajectory. A track whose box jumps to another object and stays there
    takes up that object's state, and leaves its own object's for the id that finds it next.
    A new track's first positions, seen before the tracker gave it an id (``births``), are
    judged too, at their own times.

    Example:
        >>> from orchestrator.config import CameraConfig
        >>> cam = CameraConfig(id="c", source="x.mp4", rules={"cooldown_s": 0},
        ...                    lines=[{"name": "gate", "points": [[100, 0], [100, 400]]}])
        >>> engine = RuleEngine(cam)
        >>> hits = []
        >>> for i, x in enumerate(range(40, 180, 10)):
        ...     det = Detections(np.array([[x - 10, 100, x + 10, 200]], np.float32),
        ...                      np.array([0.9], np.float32), np.array([0]), np.array([1]))
        ...     hits += engine.update(det, t=i / 10)
        >>> [(h.direction, round(h.timestamp, 2), h.point) for h in hits]
        [('a_to_b', 0.6, (100.0, 200.0))]
    """

    def __init__(self, camera: CameraConfig, forget_after_s: float = 10.0,
                 bridge_s: float = 15.0) -> None:
        self.rules: list[Rule] = []
        self.forget_after_s = max(forget_after_s, CONTINUE_S)
        self.trajectories: dict[int, Trajectory] = {}
        self._last_sweep = float("-inf")
        self._continued: set[int] = set()  # vanished tracks already taken over by a new id
        self._suspect: dict[int, _Suspect] = {}  # tracks whose box jumped (see _screen)
        self._orphans: dict[int, _Orphan] = {}  # objects an id left for another (see _screen)
        self._taken: set[int] = set()  # suspects whose object another id has taken up
        self._blind = BlindTime(bridge_s)
        self.reconfigure(camera)

    def reconfigure(self, camera: CameraConfig) -> None:
        """New zones, lines and settings, keeping what is known of the tracks: a rule whose
        geometry (kind, points, anchor) is unchanged keeps each track's side, dwell and
        cooldowns, whatever else changed (its name, direction, cooldown, schedule, filter);
        a rule with new geometry starts afresh."""
        old: dict[tuple[object, ...], list[Rule]] = {}
        for r in self.rules:
            old.setdefault(r.geometry, []).append(r)
        rules: list[Rule] = [ZoneRule(z, camera.rules) for z in camera.zones]
        rules += [LineRule(ln, camera.rules) for ln in camera.lines]
        by_name = {z.name: z for z in camera.zones}
        rules += [RouteRule(r, camera.rules, by_name) for r in camera.routes]
        rules += [ClimbRule(c, camera.rules) for c in camera.climbs]
        self._climbs = [r for r in rules if isinstance(r, ClimbRule)]
        for r in rules:
            same = old.get(r.geometry)
            if same:
                r.adopt(same.pop(0))
        self.rules = rules
        self._orphans.clear()  # their states are the old rules'
        self._anchors = sorted({r.s.anchor for r in self.rules} | {camera.rules.anchor}
                               | ({TOP} if self._climbs else set()))
        # Per anchor, every zone and line measured at once; each rule reads its column.
        self._shapes: dict[str, Shapes] = {}
        self._column: dict[int, int] = {}
        for anchor in self._anchors:
            zones = [r for r in rules if isinstance(r, ZoneRule) and r.s.anchor == anchor]
            lines = [r for r in rules if isinstance(r, LineRule) and r.s.anchor == anchor]
            self._shapes[anchor] = Shapes([z.polygon.points for z in zones],
                                          [ln.line.points for ln in lines])
            for group in (zones, lines):
                self._column.update({id(r): i for i, r in enumerate(group)})
        # Per rule, what ``end`` reads: its filter, its anchor, its column (a route measures
        # its own zones: -1).
        self._plan = [(r, id(r.s.filter), r.s.anchor, self._column.get(id(r), -1))
                      for r in rules]
        self._trajectory_anchor = camera.rules.anchor
        # Rules that inherit the camera's filter share one compiled filter: one mask a frame.
        self._filters = list({id(r.s.filter): r.s.filter for r in self.rules}.values())
        self._zone = ZoneInfo(camera.timezone)

    def bridge(self, t0: float, t1: float) -> None:
        """No frame was seen between ``t0`` and ``t1``: that time does not count against a
        vanished track (its continuation and its forgetting)."""
        self._blind.add(t0, t1)

    def update(self, det: Detections, t: float, wall: float | None = None,
               size: tuple[int, int] | None = None,
               births: dict[int, list[Birth]] | None = None) -> list[RuleHit]:
        """Advance every rule by one analysed frame at time ``t`` (seconds, monotonic).

        ``wall`` (UTC epoch seconds of the frame's capture) arms and disarms rules with a
        schedule; a disarmed rule keeps following tracks but fires nothing. ``size`` (width,
        height) of the frame tells objects at the image border; ``births`` holds, per track
        confirmed in this frame, its earlier boxes. (``RuleBatch.judge`` does the same for the
        frames of many cameras at once.)
        """
        frame = self.begin(det, t, wall, size, births)
        return self.end(frame, {a: self._shapes[a].measure(pts)
                                for a, pts in frame.anchors.items()})

    def begin(self, det: Detections, t: float, wall: float | None = None,
              size: tuple[int, int] | None = None,
              births: dict[int, list[Birth]] | None = None) -> _Frame:
        """The first half of ``update``: identities, filters, births, jumps and trajectories;
        returns the frame, whose ``anchors`` are to be measured against ``shapes(anchor)``
        before ``end``."""
        local = None if wall is None else datetime.fromtimestamp(wall, self._zone)
        tracked = np.flatnonzero(det.tracker_id >= 0)
        frame = _Frame(t, local)
        if not len(tracked):
            return frame
        xyxy = det.xyxy[tracked]
        anchors = {a: box_anchors(xyxy, a) for a in self._anchors}
        ids = det.tracker_id[tracked].tolist()
        heights = (xyxy[:, 3] - xyxy[:, 1]).tolist()
        cls = det.class_id[tracked].tolist()
        border = _at_border(xyxy, size).tolist()
        self._continue_tracks(ids, anchors[self._trajectory_anchor], heights, cls, border, t)
        conf = det.confidence[tracked]
        masks = {id(f): f.mask(xyxy, conf, det.class_id[tracked]) for f in self._filters}
        rows = tracked.tolist()
        if births:
            frame.hits += self._replay(births, ids, rows, masks)
        held = self._screen(ids, anchors[self._trajectory_anchor], heights, t)
        if held is not None:
            masks = {k: _without(v, held) for k, v in masks.items()}
        self._record(ids, anchors[self._trajectory_anchor], heights, cls, border, t)
        frame.anchors, frame.ids, frame.heights, frame.rows, frame.masks = (
            anchors, ids, heights, rows, masks)
        return frame

    def shapes(self, anchor: str) -> Shapes:
        """Every zone and line of the rules measured at ``anchor``."""
        return self._shapes[anchor]

    def end(self, frame: _Frame, measured: dict[str, Measures]) -> list[RuleHit]:
        """The second half of ``update``: every rule advanced with the frame's ``measured``
        anchors; returns the hits of armed rules."""
        t, hits = frame.t, frame.hits
        if frame.anchors:
            # Plain lists once per anchor, and each filter's tracks once; each rule reads its
            # column (and the rows its filter keeps).
            cols = {a: (frame.anchors[a].tolist(), m.depth.T.tolist(), m.distance.T.tolist(),
                        m.side.T.tolist()) for a, m in measured.items()}
            picks = {k: None if sel is None else sel.tolist() for k, sel in frame.masks.items()}
            tracks = {k: (frame.ids, frame.heights, frame.rows) if sel is None else
                      tuple([xs[i] for i in sel] for xs in (frame.ids, frame.heights, frame.rows))
                      for k, sel in picks.items()}
            for rule, fid, anchor, col in self._plan:
                sel = picks[fid]
                if sel is not None and not sel:
                    continue
                pts, depth, dist, side = cols[anchor]
                values: tuple[list[Any], ...] = (
                    (depth[col],) if isinstance(rule, ZoneRule)
                    else (dist[col], side[col]) if isinstance(rule, LineRule)
                    else (rule.measure(frame.anchors[anchor], frame.anchors[TOP]),)
                    if isinstance(rule, ClimbRule)
                    else (rule.measure(frame.anchors[anchor]),))
                if sel is not None:
                    pts = [pts[i] for i in sel]
                    values = tuple([v[i] for i in sel] for v in values)
                ids, heights, rows = tracks[fid]
                hits += rule.advance(ids, pts, heights, rows, t, *values)
        for climb in self._climbs:
            hits += climb.sweep(t)
        if hits:
            hits = [h for h in hits if self._rule(h.rule).s.armed(frame.local)]
        if t - self._last_sweep >= 1.0:
            self._forget_stale(t)
            self._last_sweep = t
        return hits

    def pending_since(self) -> float | None:
        """Earliest time of an act some rule is still confirming (its frame is still needed
        for the snapshot), or None."""
        starts = [p for r in self.rules if (p := r.pending_since()) is not None]
        return min(starts) if starts else None

    def _rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.s.name == name)

    def _replay(self, births: dict[int, list[Birth]], ids: list[int], rows: list[int],
                masks: dict[int, npt.NDArray[np.int64] | None]) -> list[RuleHit]:
        """Judge the boxes a new track had before it was confirmed, at their own times."""
        hits: list[RuleHit] = []
        pos = {tid: i for i, tid in enumerate(ids)}
        for tid, earlier in births.items():
            i = pos.get(tid)
            if i is None or tid in self.trajectories or not earlier:
                continue
            # Every earlier box measured at once, per anchor; then judged box by box.
            boxes = np.asarray([box for _, box in earlier], np.float32).reshape(-1, 4)
            hs = (boxes[:, 3] - boxes[:, 1]).tolist()
            cols, anchors = {}, {}
            for a in self._anchors:
                pts = anchors[a] = box_anchors(boxes, a)
                m = self._shapes[a].measure(pts)
                cols[a] = (pts.tolist(), m.depth.tolist(), m.distance.tolist(), m.side.tolist())
            plan = [p for p in self._plan
                    if (sel := masks[p[1]]) is None or i in sel]
            own = {id(r): r.measure(anchors[a], anchors[TOP]) if isinstance(r, ClimbRule)
                   else r.measure(anchors[a]) for r, _f, a, _c in plan
                   if isinstance(r, RouteRule | ClimbRule)}
            tr = self.trajectories.setdefault(tid, Trajectory(TRAJECTORY_MAX_POINTS))
            for k, (t0, _) in enumerate(earlier):
                for rule, _fid, anchor, col in plan:
                    pts, depth, dist, side = cols[anchor]
                    values: tuple[list[Any], ...] = (
                        ([depth[k][col]],) if isinstance(rule, ZoneRule)
                        else ([dist[k][col]], [side[k][col]]) if isinstance(rule, LineRule)
                        else ([own[id(rule)][k]],))
                    hits += rule.advance([tid], [pts[k]], [hs[k]], [rows[i]], t0, *values)
                x, y = cols[self._trajectory_anchor][0][k]
                tr.times.append(t0)
                tr.points.append((x, y))
        return hits

    def _continue_tracks(self, ids: list[int], pts: npt.NDArray[np.float32],
                         heights: list[float], cls: list[int], border: list[bool],
                         t: float) -> None:
        """A new id close to where a track of the same class vanished (or an object an id
        left, see ``_screen``) is that object."""
        present = set(ids)
        for tid, (x, y), h, c, edge in zip(ids, pts.tolist(), heights, cls, border,
                                           strict=True):
            if tid in self.trajectories or edge:
                continue
            found = self._donor((t, (x, y), h), c, present, suspects=False)
            if found is None:
                continue
            kind, old = found
            tr = self.trajectories[tid] = Trajectory(TRAJECTORY_MAX_POINTS)
            if kind == "orphan":
                orphan = self._orphans.pop(old)
                for rule, state in zip(self.rules, orphan.states, strict=True):
                    rule.take_over(tid, state)
                src: Trajectory | _Orphan = orphan
            else:
                self._continued.add(old)
                for rule in self.rules:
                    rule.inherit(tid, old)
                src = self.trajectories[old]
            tr.times.extend(src.times)
            tr.points.extend(src.points)

    def _donor(self, now: Seen, class_id: int, present: set[int], suspects: bool,
               exclude: int | None = None) -> tuple[str, int] | None:
        """The object of class ``class_id`` last seen where the box ``now`` is (within
        reach for the time it was not seen, at its place or at its pace): a vanished track
        ("lost"), an object an id left ("orphan") or, with ``suspects``, the object a
        track followed before its box jumped ("suspect"); None if there is none."""
        t, (x, y), h = now
        best, best_cost = None, 1.0

        def consider(kind: str, key: int, seen: Seen, v: tuple[float, float]) -> None:
            nonlocal best, best_cost
            t0, (ox, oy), oh = seen
            gap = t - t0  # where it may have walked to: the whole time
            if gap <= 0 or not 0.6 <= h / max(oh, 1e-6) <= 1.6:
                return
            # Where it was, or where it would be had it walked on at its pace: it may have
            # stopped behind the post or gone on behind it.
            reach = max(oh, h) * (REACH + REACH_PER_S * gap)
            cost = min(math.hypot(x - ox, y - oy),
                       math.hypot(x - ox - v[0] * gap, y - oy - v[1] * gap)) / reach
            if cost <= best_cost:
                best, best_cost = (kind, key), cost

        for old, tr in self.trajectories.items():
            if (old in present or old in self._continued or tr.at_border
                    or tr.class_id != class_id or self._lost(tr, t) > CONTINUE_S):
                continue
            consider("lost", old, (tr.last_seen, tr.points[-1], tr.height), _velocity(tr))
        for old, orphan in self._orphans.items():
            if old != exclude and orphan.class_id == class_id and t - orphan.seen[0] <= CONTINUE_S:
                consider("orphan", old, orphan.seen, orphan.velocity)
        if suspects:
            for old, s in self._suspect.items():
                if (old != exclude and old not in self._taken
                        and self.trajectories[old].class_id == class_id):
                    consider("suspect", old, s.before, (0.0, 0.0))
        return best

    def _screen(self, ids: list[int], pts: npt.NDArray[np.float32], heights: list[float],
                t: float) -> npt.NDArray[np.bool_] | None:
        """Tracks whose box jumped (see ``_jump``) this frame: a mask of the boxes the rules
        do not see now, or None.

        One odd box (two people merged, a reflection) is left out and the track goes on as
        before once its box is back where it was; a box that stays where it jumped to is
        another object under the old id (the tracker swapped two people at different
        depths): see ``_reassign``.
        """
        held = None
        jumped: list[tuple[int, Seen, Seen]] = []
        for i, (tid, (x, y), h) in enumerate(zip(ids, pts.tolist(), heights, strict=True)):
            tr = self.trajectories.get(tid)
            if tr is None or tr.height <= 0 or h <= 0:
                continue
            now = (t, (x, y), h)
            s = self._suspect.get(tid)
            if s is None:
                if not _jump((tr.last_seen, tr.points[-1], tr.height), now):
                    continue
                self._suspect[tid] = s = _Suspect((tr.last_seen, tr.points[-1], tr.height))
            elif not _jump(s.before, now):  # back where it was: the jump was one odd box
                del self._suspect[tid]
                self._taken.discard(tid)  # it follows its object still: a later jump leaves it
                continue
            elif s.after is not None and not _jump(s.after, now):
                s.stayed += 1
            else:
                s.stayed = 1
            s.after = now
            if s.stayed >= JUMP_STAYS:
                del self._suspect[tid]
                jumped.append((tid, s.before, now))
                continue
            if held is None:
                held = np.zeros(len(ids), bool)
            held[i] = True
        if jumped:
            self._reassign(jumped, set(ids))
        return held

    def _reassign(self, jumped: list[tuple[int, Seen, Seen]], present: set[int]) -> None:
        """Tracks whose box stayed where it jumped to follow other objects now. The object
        each followed before is left as an orphan, with what every rule knew of it, for the
        id that takes it up next; each takes up the object it jumped to: an orphan there (two
        tracks swapped: each takes the other's), the object a suspect followed, or a track
        lost there. An object none of them was is judged afresh, firing nothing."""
        for tid, before, _ in jumped:
            if tid in self._taken:  # another id has taken its object up already
                self._taken.discard(tid)
                continue
            tr = self.trajectories[tid]
            cut = bisect.bisect_right(tr.times, before[0])
            self._orphans[tid] = _Orphan(
                before, tr.class_id, _velocity(tr, until=before[0]),
                [rule.hand_over(tid) for rule in self.rules],
                list(itertools.islice(tr.times, cut)), list(itertools.islice(tr.points, cut)))
        for tid, _, now in jumped:
            found = self._donor(now, self.trajectories[tid].class_id, present, suspects=True,
                                exclude=tid)
            if found is None:
                for rule in self.rules:
                    rule.restart(tid)
                continue
            kind, old = found
            if kind == "orphan":
                states = self._orphans.pop(old).states
            else:
                states = [rule.hand_over(old) for rule in self.rules]
                (self._taken if kind == "suspect" else self._continued).add(old)
            for rule, state in zip(self.rules, states, strict=True):
                rule.take_over(tid, state)

    def _record(self, ids: list[int], pts: npt.NDArray[np.float32], heights: list[float],
                cls: list[int], border: list[bool], t: float) -> None:
        for tid, (x, y), h, c, edge in zip(ids, pts.tolist(), heights, cls, border,
                                           strict=True):
            tr = self.trajectories.get(tid)
            if tr is None:
                tr = self.trajectories[tid] = Trajectory(TRAJECTORY_MAX_POINTS)
            tr.times.append(t)
            tr.points.append((x, y))
            tr.last_seen, tr.height, tr.class_id, tr.at_border = t, h, c, edge

    def _lost(self, tr: Trajectory, t: float) -> float:
        """Seconds the camera could see while ``tr`` was not seen."""
        if not self._blind.has_gaps:  # the common case, without numpy
            return t - tr.last_seen
        return float(self._blind.lost(np.array([tr.last_seen]), t)[0])

    def _forget_stale(self, t: float) -> None:
        ids = list(self.trajectories)
        seen = np.array([tr.last_seen for tr in self.trajectories.values()])
        lost = self._blind.lost(seen, t) if self._blind.has_gaps else t - seen
        stale = [ids[i] for i in np.flatnonzero(lost > self.forget_after_s).tolist()]
        for old in [k for k, o in self._orphans.items() if t - o.seen[0] > CONTINUE_S]:
            del self._orphans[old]
        for tid in stale:
            del self.trajectories[tid]
            self._continued.discard(tid)
            self._suspect.pop(tid, None)
            self._taken.discard(tid)
            for rule in self.rules:
                rule.forget(tid)
        self._blind.forget_before(min((tr.last_seen for tr in self.trajectories.values()),
                                      default=t))


Seen = tuple[float, tuple[float, float], float]  # time, anchor, box height


@dataclass(slots=True)
class _Frame:
    """One camera-frame between ``RuleEngine.begin`` and ``RuleEngine.end``."""

    t: float
    local: datetime | None
    hits: list[RuleHit] = field(default_factory=list)
    anchors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    masks: dict[int, npt.NDArray[np.int64] | None] = field(default_factory=dict)


Judgement = tuple[RuleEngine, Detections, float, float | None, tuple[int, int] | None,
                  dict[int, list[Birth]] | None]  # engine, det, t, wall, size, births


class RuleBatch:
    """Judges the frames of many cameras at once: each camera's rules as ``RuleEngine.update``
    would, with the geometry (every anchor against every zone and line of its own camera)
    measured for all of them in one ``ShapesBatch`` pass per anchor. Same hits, in the same
    order, as judging each camera alone.

    Example:
        >>> from orchestrator.config import CameraConfig
        >>> cam = CameraConfig(id="c", source="x.mp4", rules={"cooldown_s": 0},
        ...                    lines=[{"name": "gate", "points": [[100, 0], [100, 400]]}])
        >>> engines, batch, hits = [RuleEngine(cam), RuleEngine(cam)], RuleBatch(), []
        >>> for i, x in enumerate(range(40, 180, 10)):
        ...     det = Detections(np.array([[x - 10, 100, x + 10, 200]], np.float32),
        ...                      np.array([0.9], np.float32), np.array([0]), np.array([1]))
        ...     hits += batch.judge([(e, det, i / 10, None, None, None) for e in engines])
        >>> [[(h.direction, round(h.timestamp, 2)) for h in hs] for hs in hits if hs]
        [[('a_to_b', 0.6)], [('a_to_b', 0.6)]]
    """

    def __init__(self, cache: int = 64) -> None:
        self._batches: OrderedDict[tuple[Shapes, ...], ShapesBatch] = OrderedDict()
        self._cache = cache

    def _batch(self, shapes: tuple[Shapes, ...]) -> ShapesBatch:
        # Keyed by the Shapes themselves (held, so an id is never reused for another).
        b = self._batches.get(shapes)
        if b is None:
            b = self._batches[shapes] = ShapesBatch(list(shapes))
            if len(self._batches) > self._cache:
                self._batches.popitem(last=False)
        else:
            self._batches.move_to_end(shapes)
        return b

    def judge(self, items: Sequence[Judgement]) -> list[list[RuleHit]]:
        """Each item's hits, as its engine's ``update`` would return them; the first error
        of an item is raised (``judge_each`` keeps the others' results)."""
        out = []
        for r in self.judge_each(items):
            if isinstance(r, Exception):
                raise r
            out.append(r)
        return out

    def judge_each(self, items: Sequence[Judgement]) -> list[list[RuleHit] | Exception]:
        """Each item's hits, or the exception its own engine raised: one camera's failure is
        its own."""
        out: list[list[RuleHit] | Exception] = []
        frames: list[_Frame | None] = []
        for eng, det, t, wall, size, births in items:
            try:
                frames.append(eng.begin(det, t, wall, size, births))
                out.append([])
            except Exception as e:  # noqa: BLE001 - handed to that camera alone
                frames.append(None)
                out.append(e)
        wanted: dict[str, list[int]] = {}
        for i, f in enumerate(frames):
            for a in f.anchors if f is not None else ():
                wanted.setdefault(a, []).append(i)
        measured: list[dict[str, Measures]] = [{} for _ in items]
        for a, who in wanted.items():
            pts = [frames[i].anchors[a] for i in who]  # type: ignore[union-attr]
            if len(who) == 1:  # one camera: its own Shapes is cheaper than a batch of one
                measured[who[0]][a] = items[who[0]][0].shapes(a).measure(pts[0])
                continue
            batch = self._batch(tuple(items[i][0].shapes(a) for i in who))
            for i, m in zip(who, batch.measure(pts), strict=True):
                measured[i][a] = m
        for i, (item, f) in enumerate(zip(items, frames, strict=True)):
            if f is not None:
                try:
                    out[i] = item[0].end(f, measured[i])
                except Exception as e:  # noqa: BLE001 - handed to that camera alone
                    out[i] = e
        return out


@dataclass(slots=True)
class _Suspect:
    """A track whose box jumped: where it was before, and where it has been since."""

    before: Seen
    after: Seen | None = None
    stayed: int = 0


@dataclass(slots=True)
class _Orphan:
    """An object an id left for another (its box jumped to another object and stayed):
    where it was last seen, its pace, what each rule knew of it and its trajectory."""

    seen: Seen
    class_id: int
    velocity: tuple[float, float]
    states: list[Any]
    times: list[float]
    points: list[tuple[float, float]]


def _jump(a: Seen, b: Seen) -> bool:
    """Whether the box changed size and place at once between ``a`` and ``b``, faster than a
    person or a car can (see JUMP_RATIO)."""
    (t0, (x0, y0), h0), (t1, (x1, y1), h1) = a, b
    ratio = max(h1 / h0, h0 / h1)
    return (ratio > JUMP_RATIO * math.exp(JUMP_RATIO_PER_S * max(t1 - t0, 0.0))
            and math.hypot(x1 - x0, y1 - y0) > JUMP_MOVE * max(h0, h1))


def _without(sel: npt.NDArray[np.int64] | None, held: npt.NDArray[np.bool_]
             ) -> npt.NDArray[np.int64]:
    """The rows of a filter's selection (None: all) that are not held back."""
    keep = np.flatnonzero(~held)
    return keep if sel is None else sel[~held[sel]]


def _velocity(tr: Trajectory, span_s: float = 0.5, until: float | None = None
              ) -> tuple[float, float]:
    """The track's mean velocity (px/s) over its last ``span_s`` seconds (up to ``until``),
    (0, 0) if unknown."""
    n = len(tr.times) if until is None else bisect.bisect_right(tr.times, until)
    if not n:
        return 0.0, 0.0
    t1, (x1, y1) = tr.times[n - 1], tr.points[n - 1]
    for i in range(n - 2, -1, -1):
        t0, (x0, y0) = tr.times[i], tr.points[i]
        if t1 - t0 >= span_s:
            return (x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0)
    t0, (x0, y0) = tr.times[0], tr.points[0]
    return ((x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0)) if t1 > t0 else (0.0, 0.0)


def _at_border(xyxy: npt.NDArray[np.float32], size: tuple[int, int] | None
               ) -> npt.NDArray[np.bool_]:
    near = (xyxy[:, 0] <= BORDER_PX) | (xyxy[:, 1] <= BORDER_PX)
    if size is not None:
        near |= (xyxy[:, 2] >= size[0] - BORDER_PX) | (xyxy[:, 3] >= size[1] - BORDER_PX)
    return near
