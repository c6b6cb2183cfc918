"""All rules of one camera, fed with tracked detections frame by frame."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from orchestrator.config import CameraConfig
from orchestrator.detections import Detections, box_anchors
from orchestrator.rules.rules import LineRule, Rule, RuleHit, Trajectory, ZoneRule

TRAJECTORY_MAX_POINTS = 600


class RuleEngine:
    """Judges a camera's zones and lines on tracked detections.

    Example:
        >>> engine = RuleEngine(camera_config)                # doctest: +SKIP
        >>> hits = engine.update(tracked_detections, t=12.4)  # doctest: +SKIP
    """

    def __init__(self, camera: CameraConfig, forget_after_s: float = 10.0) -> None:
        self.rules: list[Rule] = [ZoneRule(z, camera.rules) for z in camera.zones]
        self.rules += [LineRule(ln, camera.rules) for ln in camera.lines]
        self.forget_after_s = forget_after_s
        self.trajectories: dict[int, Trajectory] = {}
        self._anchors = sorted({r.s.anchor for r in self.rules} | {camera.rules.anchor})
        self._trajectory_anchor = camera.rules.anchor
        # Rules that inherit the camera's filter share one compiled filter: one mask a frame.
        self._filters = list({id(r.s.filter): r.s.filter for r in self.rules}.values())
        self._last_sweep = float("-inf")
        self._zone = ZoneInfo(camera.timezone)

    def update(self, det: Detections, t: float, wall: float | None = None) -> list[RuleHit]:
        """Advance every rule by one analysed frame at time ``t`` (seconds, monotonic).

        ``wall`` (UTC epoch seconds of the frame's capture) arms and disarms rules with a
        schedule; a disarmed rule keeps following tracks but fires nothing.
        """
        local = None if wall is None else datetime.fromtimestamp(wall, self._zone)
        tracked = np.flatnonzero(det.tracker_id >= 0)
        hits: list[RuleHit] = []
        if len(tracked):
            xyxy = det.xyxy[tracked]
            anchors = {a: box_anchors(xyxy, a) for a in self._anchors}
            ids = det.tracker_id[tracked].tolist()
            self._record(ids, anchors[self._trajectory_anchor], t)
            conf, cls = det.confidence[tracked], det.class_id[tracked]
            masks = {id(f): f.mask(xyxy, conf, cls) for f in self._filters}
            rows = tracked.tolist()
            for rule in self.rules:
                sel = masks[id(rule.s.filter)]
                if sel is None:
                    fired = rule.update(ids, anchors[rule.s.anchor], rows, t)
                elif len(sel):
                    fired = rule.update([ids[i] for i in sel], anchors[rule.s.anchor][sel],
                                        [rows[i] for i in sel], t)
                else:
                    continue
                if fired and rule.s.armed(local):
                    hits += fired
        if t - self._last_sweep >= 1.0:
            self._forget_stale(t)
            self._last_sweep = t
        return hits

    def _record(self, ids: list[int], pts: np.ndarray, t: float) -> None:
        for tid, (x, y) in zip(ids, pts.tolist(), strict=True):
            tr = self.trajectories.get(tid)
            if tr is None:
                tr = self.trajectories[tid] = Trajectory(TRAJECTORY_MAX_POINTS)
            tr.times.append(t)
            tr.points.append((x, y))
            tr.last_seen = t

    def _forget_stale(self, t: float) -> None:
        stale = [tid for tid, tr in self.trajectories.items()
                 if t - tr.last_seen > self.forget_after_s]
        for tid in stale:
            del self.trajectories[tid]
            for rule in self.rules:
                rule.forget(tid)
