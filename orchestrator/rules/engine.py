"""All rules of one camera, fed with tracked detections frame by frame."""

from __future__ import annotations

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

    def update(self, det: Detections, t: float) -> list[RuleHit]:
        """Advance every rule by one analysed frame at time ``t`` (seconds, monotonic)."""
        tracked = np.flatnonzero(det.tracker_id >= 0)
        anchors = {a: box_anchors(det.xyxy[tracked], a) for a in self._anchors}
        ids = det.tracker_id[tracked].tolist()
        self._record(ids, anchors[self._trajectory_anchor], t)
        hits: list[RuleHit] = []
        if not len(tracked):
            self._forget_stale(t)
            return hits
        present = det[tracked]
        for rule in self.rules:
            sel = np.flatnonzero(rule.s.filter.mask(present))
            if not len(sel):
                continue
            hits += rule.update([ids[i] for i in sel], anchors[rule.s.anchor][sel],
                                tracked[sel].tolist(), t)
        self._forget_stale(t)
        return hits

    def _record(self, ids: list[int], pts: np.ndarray, t: float) -> None:
        for tid, (x, y) in zip(ids, pts.tolist(), strict=True):
            tr = self.trajectories.get(tid)
            if tr is None:
                tr = self.trajectories[tid] = Trajectory()
            tr.times.append(t)
            tr.points.append((x, y))
            tr.last_seen = t
            if len(tr.times) > TRAJECTORY_MAX_POINTS:
                del tr.times[0], tr.points[0]

    def _forget_stale(self, t: float) -> None:
        stale = [tid for tid, tr in self.trajectories.items()
                 if t - tr.last_seen > self.forget_after_s]
        for tid in stale:
            del self.trajectories[tid]
            for rule in self.rules:
                rule.forget(tid)
