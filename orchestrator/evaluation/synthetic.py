"""Synthetic trajectories with what real cameras do to them, for the rules' stress suites.

A walker is a straight path of the box's bottom centre at a constant speed; the camera adds
box jitter, missed detections, occlusions, identity switches and dropped frames. The truth
(where and when the walker really crossed or entered) is known exactly from the clean path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.detections import Detections


@dataclass(frozen=True, slots=True)
class Walker:
    """A person walking in a straight line: ``start`` (x, y) of the feet, ``velocity`` in
    px/s, from ``t0`` to ``t1`` seconds, ``height`` px tall."""

    start: tuple[float, float]
    velocity: tuple[float, float]
    t0: float = 0.0
    t1: float = 6.0
    height: float = 120.0

    def at(self, t: float) -> tuple[float, float]:
        dt = t - self.t0
        return self.start[0] + self.velocity[0] * dt, self.start[1] + self.velocity[1] * dt


@dataclass(frozen=True, slots=True)
class Camera:
    """What the camera does to the walkers: jitter σ (px, on each box edge), the chance that a
    detection is missed, occluded intervals per walker, the time of an id switch per walker,
    dropped frames (no detections at all)."""

    fps: float = 10.0
    jitter: float = 0.0
    miss: float = 0.0
    occluded: tuple[tuple[int, float, float], ...] = ()  # (walker, from, to)
    switch_at: tuple[tuple[int, float], ...] = ()  # (walker, time): new id from then on
    dropped: tuple[float, ...] = ()  # frame times with no detections
    seed: int = 0


def frames(walkers: list[Walker], camera: Camera, duration: float
           ) -> list[tuple[float, Detections]]:
    """(time, detections with ids) per analysed frame. Ids are the walker's index + 1, and
    1000 + index after its id switch; boxes are 0.4 × height wide."""
    rng = np.random.default_rng(camera.seed)
    out: list[tuple[float, Detections]] = []
    switches = dict(camera.switch_at)
    for k in range(int(duration * camera.fps)):
        t = k / camera.fps
        if any(abs(t - d) < 0.5 / camera.fps for d in camera.dropped):
            continue
        boxes, ids = [], []
        for i, w in enumerate(walkers):
            if not w.t0 <= t <= w.t1 or rng.random() < camera.miss:
                continue
            if any(j == i and a <= t < b for j, a, b in camera.occluded):
                continue
            x, y = w.at(t)
            half = 0.2 * w.height
            box = np.array([x - half, y - w.height, x + half, y]) + rng.normal(0, camera.jitter, 4)
            boxes.append(box)
            ids.append(1000 + i if i in switches and t >= switches[i] else i + 1)
        n = len(ids)
        out.append((t, Detections(np.array(boxes, np.float32).reshape(-1, 4),
                                  np.full(n, 0.9, np.float32), np.zeros(n, np.int64),
                                  np.array(ids, np.int64))))
    return out
