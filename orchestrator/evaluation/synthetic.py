"""Synthetic trajectories with what real cameras do to them, for the rules' stress suites.

A walker is a straight path of the box's bottom centre at a constant speed; the camera adds
box jitter, missed detections, occlusions, identity switches and dropped frames. The truth
(where and when the walker really crossed or entered) is known exactly from the clean path.
"""

from __future__ import annotations

import itertools
import math
from collections import abc
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
class PathWalker:
    """A person walking through ``waypoints`` ((t, x, y) of the feet, times increasing) in a
    straight line from each to the next, ``height`` px tall; seen from the first to the last."""

    waypoints: tuple[tuple[float, float, float], ...]
    height: float = 120.0

    @property
    def t0(self) -> float:
        return self.waypoints[0][0]

    @property
    def t1(self) -> float:
        return self.waypoints[-1][0]

    @classmethod
    def through(cls, *points: tuple[float, float], speed: float = 120.0, t0: float = 0.0,
                height: float = 120.0) -> PathWalker:
        """Feet through ``points`` (x, y) at ``speed`` px/s from ``t0``."""
        way, t = [(t0, *points[0])], t0
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            t += math.hypot(x1 - x0, y1 - y0) / speed
            way.append((t, x1, y1))
        return cls(tuple(way), height)

    def at(self, t: float) -> tuple[float, float]:
        ts, xs, ys = zip(*self.waypoints, strict=True)
        return float(np.interp(t, ts, xs)), float(np.interp(t, ts, ys))


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


def frames(walkers: abc.Sequence[Walker | PathWalker], camera: Camera, duration: float
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


Sequence = list[tuple[float, Detections]]


def people(feet: list[tuple[float, float, float]], ids: list[int]) -> Detections:
    """Detections of people with their feet at (x, y), h px tall (0.4 h wide), with ids."""
    xyxy = np.array([[x - 0.2 * h, y - h, x + 0.2 * h, y] for x, y, h in feet],
                    np.float32).reshape(-1, 4)
    n = len(feet)
    return Detections(xyxy, np.full(n, 0.9, np.float32), np.zeros(n, np.int64),
                      np.array(ids, np.int64))


def standing_on_line(line_y: float, seed: int, fps: float = 10.0) -> Sequence:
    """Someone stands on the line y = ``line_y`` (the feet a pixel either side of it) for
    3 s, then steps 20 px off it, up or down by ``seed``: they never crossed."""
    rng = np.random.default_rng(seed)
    step = 1 if seed % 2 else -1
    out = []
    for k in range(int(6 * fps)):
        t = k / fps
        y = line_y + rng.normal(0, 1.0) + (0 if t < 3 else step * min(20.0, 10 * (t - 3)))
        out.append((t, people([(700, y, 120)], [1])))
    return out


def swapped_pair(line_y: float, fps: float) -> Sequence:
    """A near person 60 px below the line y = ``line_y`` and a far one 30 px above it walk
    side by side; at t = 3 the tracker swaps their ids. Neither crossed."""
    out = []
    for k in range(int(6 * fps)):
        t = k / fps
        near, far = (300 + 60 * t, line_y + 60, 200), (320 + 60 * t, line_y - 30, 120)
        out.append((t, people([near, far], [1, 2] if t < 3 else [2, 1])))
    return out


def swapped_while_crossing(line_y: float, fps: float) -> Sequence:
    """A near person crosses the line y = ``line_y`` upwards at t = 3 while a far one walks
    along above it; at that moment the tracker swaps their ids. One crossing, at t = 3."""
    out = []
    for k in range(int(6 * fps)):
        t = k / fps
        near, far = (300 + 60 * t, line_y + 60 * (3 - t), 200), (340 + 60 * t, line_y - 60, 120)
        out.append((t, people([near, far], [1, 2] if t < 3 else [2, 1])))
    return out


def left_and_found(zone_top: float, zone_bottom: float, fps: float = 10.0) -> Sequence:
    """Someone walks into a zone (top edge y = ``zone_top``) at t = 1 and stops inside;
    a nearer person walks by outside, below its bottom edge. At t = 3 the tracker moves the
    first one's id onto the passer-by (whose own id ends), and finds the first one again
    0.5 s later under a new id: one entry, at t = 1."""
    out = []
    for k in range(int(6 * fps)):
        t = k / fps
        inside = (700, min(zone_top + 100 * (t - 1), zone_top + 200), 120)
        passer = (1000 - 40 * t, zone_bottom + 100, 200)
        if t < 3:
            out.append((t, people([inside, passer], [1, 2])))
        elif t < 3.5:
            out.append((t, people([passer], [1])))
        else:
            out.append((t, people([inside, passer], [3, 1])))
    return out


def odd_box_then_hidden(line_y: float) -> Sequence:
    """A walker heads up for the line y = ``line_y`` (passing it at t = 2.4, 10 fps); one
    frame gives a merged box twice as tall reaching far below, then the walker is hidden
    for 0.9 s and comes back past the line: one crossing, at 2.4 s."""
    out = []
    for k in range(40):
        t = k / 10
        if k == 12:
            feet = [(700.0, line_y + 220, 240.0)]
        elif 13 <= k < 22:
            feet = []
        else:
            feet = [(700.0, line_y + 120 - 50 * t, 120.0)]
        out.append((t, people(feet, [1] * len(feet))))
    return out
