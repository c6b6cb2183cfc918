"""Motion-gated inference: frames where nothing moved do not go to the detector.

A perimeter camera is empty most of the day. Each analysed frame is first looked at as a small
grey picture (``GREY_HEIGHT`` rows, from the decoder's luma plane) against a background that
the gate learns: a pixel has moved when it is further from the background than both the
configured ``threshold`` and four times its own learned noise (so leaves and water, whose
pixels are always noisy, need a larger change than a wall). Enough moved pixels (``min_area``
of the frame, outside the ``masks``, each with a moved neighbour: lone pixels are noise) send
the frame to the detector; so does a change of most of the picture at once (lamps, the IR
switch, the exposure: the background is learned afresh) and, every ``refresh_s``, a frame in
any case.

A frame where nothing moved is not detected. While the camera has no track it is not tracked
either (``SKIP``). While it has tracks (a parked car, a person standing still long enough to
become background) the last detections are held (``HOLD``): the tracks stay alive where they
are, and nobody who stood still is taken, when detected again later, for someone who has just
entered. Where anything moves, everything is detected: a walker is never judged on held boxes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from orchestrator.config import MotionConfig

GREY_HEIGHT = 120  # rows of the picture the gate looks at (a 20 px tall person is 5 rows at 480)
BACKGROUND_S = 2.0  # time constant of the background where nothing moved
MOVED_S = 10.0  # ... and where something moved: an object that stops becomes background
NOISE_K = 4.0  # a pixel moved when further than this many of its own noise's σ
NOISE_INIT = 2.0  # σ (grey levels) of a pixel before its noise is learned


def grey_size(size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the gate's picture of a frame of ``size``."""
    w, h = size
    gh = min(GREY_HEIGHT, h)
    return max(1, round(w * gh / h)), gh


class MotionGate:
    """The background of one camera and what moved against it.

    Example:
        >>> gate = MotionGate(MotionConfig(), (160, 120))
        >>> still = np.full((120, 160), 100, np.uint8)
        >>> gate.moved(still, 0.0), gate.moved(still, 0.2)  # the first frame always counts
        (True, False)
        >>> walker = still.copy(); walker[40:60, 70:76] = 30
        >>> gate.moved(walker, 0.4)
        True
    """

    def __init__(self, config: MotionConfig, size: tuple[int, int]) -> None:
        self.config = config
        self.size = size
        w, h = grey_size(size)
        self.grey_size = (w, h)
        self._ignore = np.zeros((h, w), bool)
        sx, sy = w / size[0], h / size[1]
        for poly in config.masks:
            pts = np.round(np.asarray(poly, np.float64) * [sx, sy]).astype(np.int32)
            keep = np.zeros((h, w), np.uint8)
            cv2.fillPoly(keep, [pts], 1)
            self._ignore |= keep.astype(bool)
        self._min_pixels = max(1, math.ceil(config.min_area * w * h))
        self._watch = ~self._ignore
        self._watched = max(1, int(self._watch.sum()))
        self._bg: npt.NDArray[np.float32] | None = None
        self._var = np.full((h, w), NOISE_INIT ** 2, np.float32)
        # Working arrays, made once: fresh temporaries of this size each frame cost more in
        # page faults (glibc hands them back to the system) than the arithmetic does.
        self._g, self._d, self._d2, self._tmp = (np.empty((h, w), np.float32) for _ in range(4))
        self._changed, self._near = np.empty((h, w), bool), np.empty((h, w), bool)
        self._t = 0.0
        self.moved_pixels = 0  # of the last frame
        self.lighting_changes = 0

    def moved(self, grey: npt.NDArray[np.uint8], t: float) -> bool:
        """Whether ``grey`` (the frame at time ``t``, ``grey_size``) shows motion; learns it."""
        if self._bg is None or grey.shape != self._bg.shape:
            self._bg, self._t = grey.astype(np.float32), t
            self.moved_pixels = self._watched
            return True
        g, d, d2, tmp = self._g, self._d, self._d2, self._tmp
        np.copyto(g, grey, casting="unsafe")
        dt = max(t - self._t, 0.0)
        self._t = t
        np.subtract(g, self._bg, out=d)
        np.multiply(d, d, out=d2)
        np.multiply(self._var, np.float32(NOISE_K ** 2), out=tmp)
        np.maximum(tmp, np.float32(self.config.threshold ** 2), out=tmp)
        changed = np.greater(d2, tmp, out=self._changed)
        changed &= self._watch
        # An object is a blob: a moved pixel counts when a neighbour (4-connected) moved too;
        # lone pixels are the tails of noise.
        near = self._near
        near.fill(False)
        near[1:] |= changed[:-1]
        near[:-1] |= changed[1:]
        near[:, 1:] |= changed[:, :-1]
        near[:, :-1] |= changed[:, 1:]
        near &= changed
        n = int(np.count_nonzero(near))
        self.moved_pixels = n
        if n > self.config.lighting * self._watched:
            # Most of the picture at once: the light changed, not an object. Start afresh.
            np.copyto(self._bg, g)
            self.lighting_changes += 1
            return True
        a_bg = np.float32(1.0 - math.exp(-dt / BACKGROUND_S))
        a_moved = np.float32(1.0 - math.exp(-dt / MOVED_S))
        # The background follows at a_bg where nothing moved, at a_moved where something did.
        tmp.fill(a_bg)
        np.copyto(tmp, a_moved, where=changed)
        tmp *= d
        self._bg += tmp
        # The noise is learned where nothing moved (a walker does not make a pixel noisy).
        np.subtract(d2, self._var, out=d2)
        d2 *= a_bg
        d2[changed] = 0.0
        self._var += d2
        return n >= self._min_pixels


DETECT, HOLD, SKIP = "detect", "hold", "skip"


class Gate:
    """A camera's decision per analysed frame: ``DETECT`` it, ``HOLD`` the last detections,
    or ``SKIP`` it (see the module)."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self.motion: MotionGate | None = None
        self._last_run: float | None = None

    def look(self, frame: object) -> bool:
        """Whether ``frame`` (an ``AnalysisFrame``) shows motion; learns it. A decoded
        source runs this on its decode thread (``frame.moved``); ``decide`` runs it for a
        frame that comes without."""
        size = frame.size  # type: ignore[attr-defined]
        motion = self.motion
        if motion is None or motion.size != size:
            motion = self.motion = MotionGate(self.config, size)
        grey = frame.grey(motion.grey_size)  # type: ignore[attr-defined]
        return motion.moved(grey, frame.timestamp)  # type: ignore[attr-defined]

    def decide(self, frame: object, t: float, alive: bool) -> str:
        """What to do with ``frame`` (an ``AnalysisFrame``) at time ``t``; ``alive``: the
        camera has a track now."""
        moved = getattr(frame, "moved", None)
        if moved is None:
            moved = self.look(frame)
        refresh = self.config.refresh_s
        due = (self._last_run is None or t < self._last_run
               or (refresh > 0 and t - self._last_run >= refresh))
        if moved or due:
            self._last_run = t
            return DETECT
        return HOLD if alive else SKIP
