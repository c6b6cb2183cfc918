"""Day or night for one camera: by schedule, or by how dark and how grey its frames look.

An IR-lit night picture is colourless (its three channels nearly equal), and a picture at dusk
before the IR lamps switch on is dark; both want the night detector setting (a model trained
for IR, a lower threshold). The look is measured on a sparse sample of the frame's pixels at
most once a second, and a new look must hold ``hold_s`` before the mode follows it, so a car's
headlights or a cloud do not flip the detector back and forth.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from orchestrator.config import DetectorConfig, NightConfig

log = logging.getLogger(__name__)
LOOK_EVERY_S = 1.0
STRIDE = 8  # every 8th pixel of every 8th row: ~4,800 pixels of a 640x480 frame
DAY, NIGHT = "day", "night"


def night_detector(site: DetectorConfig, night: NightConfig) -> DetectorConfig:
    """The site's detector setting with the night's model, format, threshold and classes."""
    changes = {k: getattr(night, k) for k in ("model", "format", "score_threshold", "classes")
               if getattr(night, k) is not None}
    return DetectorConfig.model_validate({**site.model_dump(), **changes})


def look(image: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """Mean grey level and mean saturation (max - min of the channels), 0-255, of a BGR
    frame's sparse sample."""
    px = image[::STRIDE, ::STRIDE].reshape(-1, 3).astype(np.int16)
    grey = float(px.mean())
    saturation = float((px.max(axis=1) - px.min(axis=1)).mean())
    return grey, saturation


class NightSwitch:
    """The mode of one camera, updated by its analysed frames."""

    def __init__(self, config: NightConfig, timezone: str, camera: str = "") -> None:
        self.config = config
        self.zone = ZoneInfo(timezone)
        self.camera = camera
        self.mode = DAY
        self.grey = self.saturation = -1.0  # the last look
        self.switches = 0
        self._next_look = float("-inf")
        self._since: float | None = None  # when the frames began to look like the other mode

    def update(self, t: float, wall: float, image: npt.NDArray[np.uint8] | None = None,
               frame: object = None) -> str:
        """The mode for the frame at camera time ``t`` (captured at ``wall``, UTC epoch);
        its picture is ``image`` (BGR) or ``frame.image``, read only when a look is due."""
        c = self.config
        if c.schedule is not None:
            local = datetime.fromtimestamp(wall, self.zone)
            self._set(NIGHT if any(w.contains(local) for w in c.schedule) else DAY, "schedule")
            return self.mode
        if t < self._next_look:
            return self.mode
        self._next_look = t + LOOK_EVERY_S
        img = image if image is not None else frame.image  # type: ignore[attr-defined]
        self.grey, self.saturation = look(img)
        if self.mode == DAY:
            other = self.grey < c.dark or self.saturation < c.grey
        else:
            other = self.grey > 1.3 * c.dark and self.saturation > 2 * c.grey
        if not other:
            self._since = None
        elif self._since is None:
            self._since = t
        if self._since is not None and t - self._since >= c.hold_s:
            self._set(NIGHT if self.mode == DAY else DAY,
                      f"grey {self.grey:.0f}, saturation {self.saturation:.1f}")
            self._since = None
        return self.mode

    def _set(self, mode: str, why: str) -> None:
        if mode != self.mode:
            self.mode = mode
            self.switches += 1
            log.info("camera %s: %s mode (%s)", self.camera, mode, why)
