"""The events a camera's rules should raise, read off ground-truth tracks by plain geometry.

The truth does not run the rule engine: a rule judged against events computed by its own code
would be scored against itself. Every ground-truth frame is used (not only the analysed ones).

* A line crossing is a move of the anchor from side A to side B (or back) whose straight path
  meets the line; moves around an end do not count. A track whose crossings of one line follow
  each other within ``jitter_s`` (a labeller's wobble on the line, a foot dragged over it) makes
  one act: the net crossing, if any, is a true event that may be matched anywhere from its first
  to its last crossing in that direction; the other crossings of the burst are don't-care.
* A zone entry is a move of the anchor from outside to inside. A track first seen inside the
  zone (it appeared there: out of an occlusion, or where labelling began) is don't-care.
  A zone with ``min_dwell_s`` fires when the stay reaches it; exits shorter than ``jitter_s``
  do not end a stay.
* A route is complete when a track's zone entries (as above, with no dwell) hold the route's
  zones in order, the last within ``within_s`` of the first, at ``min_speed`` or faster; the
  event is the last entry. Of the starts that could lead on, the latest is kept. A route
  made through a don't-care entry is don't-care.
* Repeats: after a true event, the same track's events of the same rule and direction within
  the rule's cooldown are don't-care (the cooldown exists to silence them).
* Grazes: a crossing or an entry that never gets farther than ``GRAZE`` of the box height
  (at least 2 px) past the line or into the zone before it turns back is don't-care: no
  labeller can tell it from the line itself.
* The end of a recording: acts in its last ``END_GUARD_S`` are don't-care; confirming an act
  takes frames that come after it, which a clip that ends there does not have.

Don't-care events are neither missed when absent nor false when predicted.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from orchestrator.config import CameraConfig, LineConfig, RouteConfig, ZoneConfig
from orchestrator.detections import box_anchors
from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.rules.geometry import OFF_LINE, SIDE_A, Polygon, Polyline

JITTER_S = 1.0
GRAZE = 0.02
END_GUARD_S = 0.5


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """One event the rules should raise; a prediction may carry any time in [time, time_hi]."""

    rule: str
    direction: str
    time: float  # video seconds of the act
    point: tuple[float, float]  # anchor at the act
    track_id: int
    time_hi: float | None = None  # end of the window the act may be stamped in
    dont_care: bool = False

    @property
    def latest(self) -> float:
        return self.time if self.time_hi is None else self.time_hi


@dataclass(slots=True)
class _Track:
    times: np.ndarray  # (T,) video seconds
    anchors: np.ndarray  # (T, 2)
    heights: np.ndarray  # (T,) box heights
    first_at_border: bool

    def graze(self, i: int, depth: float) -> bool:
        return depth < max(2.0, GRAZE * float(self.heights[i]))


def _tracks(gt: GroundTruth, anchor: str, fps: float, size: tuple[int, int] | None
            ) -> dict[int, _Track]:
    rows: dict[int, list[tuple[float, float, float, float, bool]]] = {}
    width, height = size or (0, 0)
    for frame in sorted(gt.frames):
        ids, xyxy = gt.frames[frame]
        pts = box_anchors(xyxy, anchor)
        border = ((xyxy[:, 0] <= 2) | (xyxy[:, 1] <= 2)
                  | (size is not None) & ((xyxy[:, 2] >= width - 3) | (xyxy[:, 3] >= height - 3)))
        heights = (xyxy[:, 3] - xyxy[:, 1]).tolist()
        for tid, (x, y), h, b in zip(ids.tolist(), pts.tolist(), heights, border.tolist(),
                                     strict=True):
            rows.setdefault(tid, []).append(((frame - 1) / fps, x, y, h, b))
    return {tid: _Track(np.array([r[0] for r in rs]), np.array([r[1:3] for r in rs]),
                        np.array([r[3] for r in rs]), rs[0][4])
            for tid, rs in rows.items()}


def _line_events(rule: LineConfig, cooldown_s: float, tracks: dict[int, _Track],
                 jitter_s: float) -> list[TruthEvent]:
    line = Polyline(rule.points)
    out: list[TruthEvent] = []
    for tid, tr in tracks.items():
        pts = tr.anchors.astype(np.float32)
        m = line.measure(pts)  # sides and distances in one pass
        sides, dist = m.side[:, 0].tolist(), m.distance[:, 0]
        crossings: list[Crossing] = []
        last: tuple[int, int] | None = None  # (side, index) last held
        for i, s in enumerate(sides):
            if s == OFF_LINE:
                continue
            if last is not None and s != last[0]:
                p, q = tr.anchors[last[1]], tr.anchors[i]
                if line.crossed_by((p[0], p[1]), (q[0], q[1])):
                    d = "a_to_b" if last[0] == SIDE_A else "b_to_a"
                    j = i
                    while j + 1 < len(sides) and sides[j + 1] == s:
                        j += 1
                    grazed = tr.graze(i, float(dist[i:j + 1].max()))
                    crossings.append((float(tr.times[i]), d, (float(q[0]), float(q[1])),
                                      grazed))
            last = (s, i)
        out += _bursts(rule.name, tid, crossings, jitter_s)
    return _mark_repeats(out, cooldown_s, rule.direction)


Crossing = tuple[float, str, tuple[float, float], bool]  # time, direction, point, a graze


def _bursts(rule: str, tid: int, crossings: list[Crossing], jitter_s: float
            ) -> list[TruthEvent]:
    """Crossings of one track closer than ``jitter_s`` make one act: its net crossing."""
    out: list[TruthEvent] = []
    i = 0
    while i < len(crossings):
        j = i
        while j + 1 < len(crossings) and crossings[j + 1][0] - crossings[j][0] < jitter_s:
            j += 1
        burst = crossings[i:j + 1]
        net = burst[0][1] if len(burst) % 2 else None
        real = [c for c in burst if c[1] == net]
        first = real[0] if real and not real[0][3] else None
        for c in burst:
            out.append(TruthEvent(rule, c[1], c[0], c[2], tid, dont_care=c is not first,
                                  time_hi=real[-1][0] if c is first else None))
        i = j + 1
    return out


def _zone_events(rule: ZoneConfig, cooldown_s: float, tracks: dict[int, _Track],
                 jitter_s: float) -> list[TruthEvent]:
    poly = Polygon(rule.points)
    out: list[TruthEvent] = []
    for tid, tr in tracks.items():
        pts = tr.anchors.astype(np.float32)
        m = poly.measure(pts)  # containment and depth in one pass
        inside, depth = m.inside[:, 0], m.depth[:, 0]
        start: int | None = None  # index where the current stay began
        left_at: float | None = None
        fired = False
        for i, now_in in enumerate(inside.tolist()):
            t = float(tr.times[i])
            if now_in:
                if start is None or (left_at is not None and t - left_at >= jitter_s):
                    start, fired = i, False
                    appeared = i == 0 and not tr.first_at_border
                    if rule.min_dwell_s == 0:
                        fired = True
                        j = i
                        while j + 1 < len(inside) and inside[j + 1]:
                            j += 1
                        grazed = tr.graze(i, float(depth[i:j + 1].max()))
                        out.append(TruthEvent(rule.name, "enter", t, _pt(tr, i), tid,
                                              dont_care=appeared or grazed))
                left_at = None
                if not fired and t - float(tr.times[start]) >= rule.min_dwell_s:
                    fired = True
                    out.append(TruthEvent(rule.name, "enter", t, _pt(tr, i), tid))
            elif start is not None and left_at is None:
                left_at = t
    return _mark_repeats(out, cooldown_s, "any")


def _route_events(route: RouteConfig, zones: dict[str, ZoneConfig], cooldown_s: float,
                  tracks: dict[int, _Track], jitter_s: float) -> list[TruthEvent]:
    entries: dict[int, list[tuple[TruthEvent, str]]] = {}
    for name in dict.fromkeys(route.zones):
        zone = zones[name].model_copy(update={"min_dwell_s": 0.0})
        for e in _zone_events(zone, 0.0, tracks, jitter_s):
            entries.setdefault(e.track_id, []).append((e, name))
    n, out = len(route.zones), []
    for tid, got in entries.items():
        tr = tracks[tid]
        chains: list[list[TruthEvent] | None] = [None] * (n + 1)
        for e, name in sorted(got, key=lambda x: x[0].time):
            for k in range(n - 1, -1, -1):
                if route.zones[k] != name:
                    continue
                prev = [] if k == 0 else chains[k]
                if prev is None or (prev and e.time - prev[0].time > route.within_s):
                    continue
                cur = chains[k + 1]
                if cur is None or not prev or prev[0].time >= cur[0].time:
                    chains[k + 1] = [*prev, e]
            done, chains[n] = chains[n], None
            if done is None or _slower(done, tr, route.min_speed):
                continue
            chains = [None] * (n + 1)
            out.append(TruthEvent(route.name, "complete", e.time, e.point, tid,
                                  dont_care=any(x.dont_care for x in done)))
    return _mark_repeats(out, cooldown_s, "any")


def _slower(done: list[TruthEvent], tr: _Track, min_speed: float) -> bool:
    """Whether the route's mean speed (straight between its entry points, in box heights per
    second) is below ``min_speed``."""
    if not min_speed or done[-1].time <= done[0].time:
        return False
    dist = sum(float(np.hypot(b.point[0] - a.point[0], b.point[1] - a.point[1]))
               for a, b in itertools.pairwise(done))
    last = len(tr.times) - 1
    h = np.mean([tr.heights[min(int(np.searchsorted(tr.times, e.time)), last)] for e in done])
    return dist / (done[-1].time - done[0].time) / max(float(h), 1e-6) < min_speed


def _pt(tr: _Track, i: int) -> tuple[float, float]:
    return float(tr.anchors[i, 0]), float(tr.anchors[i, 1])


def _mark_repeats(events: list[TruthEvent], cooldown_s: float, direction: str
                  ) -> list[TruthEvent]:
    """Events in a direction the rule ignores go; repeats within the cooldown are don't-care."""
    out: list[TruthEvent] = []
    last: dict[tuple[int, str], float] = {}
    for e in sorted(events, key=lambda e: (e.track_id, e.time)):
        if direction not in ("any", e.direction):
            continue
        key = (e.track_id, e.direction)
        if not e.dont_care:
            if key in last and e.time - last[key] < cooldown_s:
                e = TruthEvent(e.rule, e.direction, e.time, e.point, e.track_id, e.time_hi,
                               dont_care=True)
            else:
                last[key] = e.time
        out.append(e)
    return out


def truth_events(gt: GroundTruth, camera: CameraConfig, fps: float,
                 size: tuple[int, int] | None = None, jitter_s: float = JITTER_S
                 ) -> list[TruthEvent]:
    """Every rule's true and don't-care events on the ground-truth tracks, by video time.

    ``fps`` is the video's frame rate (ground-truth frame k is at (k - 1) / fps seconds);
    ``size`` (width, height) tells tracks that walk in from the image border.
    """
    out: list[TruthEvent] = []
    d = camera.rules
    for z in camera.zones:
        cooldown = d.cooldown_s if z.cooldown_s is None else z.cooldown_s
        out += _zone_events(z, cooldown, _tracks(gt, z.anchor or d.anchor, fps, size), jitter_s)
    for ln in camera.lines:
        cooldown = d.cooldown_s if ln.cooldown_s is None else ln.cooldown_s
        out += _line_events(ln, cooldown, _tracks(gt, ln.anchor or d.anchor, fps, size),
                            jitter_s)
    zones = {z.name: z for z in camera.zones}
    for r in camera.routes:
        cooldown = d.cooldown_s if r.cooldown_s is None else r.cooldown_s
        out += _route_events(r, zones, cooldown, _tracks(gt, r.anchor or d.anchor, fps, size),
                             jitter_s)
    end = (max(gt.frames) - 1) / fps if gt.frames else 0.0
    out = [e if e.time <= end - END_GUARD_S or e.dont_care else
           TruthEvent(e.rule, e.direction, e.time, e.point, e.track_id, e.time_hi, True)
           for e in out]
    return sorted(out, key=lambda e: e.time)
