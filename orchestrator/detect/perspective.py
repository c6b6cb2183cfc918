"""Perspective plausibility: how tall a person (or a car) is expected to be where it stands.

On a flat site seen by a fixed camera, an object's image height is close to a linear function
of where its foot point is in the image (nearer, lower in the picture, taller). Each camera
learns that function per class from its own confirmed tracks (boxes away from the image
border), online, by a robust fit (iteratively reweighted least squares with Tukey weights on
the height ratio, so the odd swapped or merged box does not bend it). Once it has enough
samples, a detection far off it, a "person" 15 px tall where people are 120, a shadow, a
reflection, has its score lowered before the tracker: it cannot start a track, and it is only
matched to a track that is already there. Only the foot rows it has learned from (and a tenth
of their span beyond) are judged: the line is not extrapolated to where nobody was seen.
"""

from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from orchestrator.config import PerspectiveConfig
from orchestrator.detections import Detections

CLASSES = {0: "person", 2: "car"}  # the classes a height is learned for
MAX_SAMPLES = 2000
REFIT_EVERY = 25
BORDER_PX = 3.0
EXTEND = 0.1  # of the learned rows' span, beyond which nothing is judged (no extrapolation)


class HeightModel:
    """h ≈ a + b·y + c·x for one class: the expected box height at a foot point (x, y)."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float, float]] = deque(maxlen=MAX_SAMPLES)
        self.coef: npt.NDArray[np.float64] | None = None
        self.spread = 0.0  # robust spread of log(height / expected) among the samples
        self.fits = 0
        self.rows = (0.0, 0.0)  # the foot rows it was learned over (a little beyond): judged
        self._new = 0

    def add(self, x: float, y: float, h: float, min_samples: int) -> None:
        self.samples.append((x, y, h))
        self._new += 1
        if len(self.samples) >= min_samples and (self.coef is None or self._new >= REFIT_EVERY):
            self.fit()

    def fit(self) -> None:
        s = np.asarray(self.samples, np.float64)
        a = np.c_[np.ones(len(s)), s[:, 1], s[:, 0]]
        w = np.ones(len(s))
        coef = np.zeros(3)
        for _ in range(6):  # IRLS, Tukey's biweight on the log ratio
            sw = np.sqrt(w)
            coef = np.linalg.lstsq(a * sw[:, None], s[:, 2] * sw, rcond=None)[0]
            r = np.log(np.maximum(s[:, 2], 1) / np.maximum(a @ coef, 1))
            scale = max(1.4826 * float(np.median(np.abs(r - np.median(r)))), 0.05)
            u = r / (4.685 * scale)
            w = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
        self.coef, self.spread, self._new = coef, scale, 0
        lo, hi = np.percentile(s[:, 1], [2, 98])
        self.rows = (float(lo - EXTEND * (hi - lo)), float(hi + EXTEND * (hi - lo)))
        self.fits += 1

    def expected(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
                 ) -> npt.NDArray[np.float64]:
        assert self.coef is not None
        a, b, c = self.coef
        return np.asarray(a + b * y + c * x)

    def to_json(self) -> dict[str, Any]:
        return {"coef": None if self.coef is None else [round(float(v), 5) for v in self.coef],
                "spread": round(self.spread, 4), "samples": len(self.samples),
                "rows": [round(v, 1) for v in self.rows]}


class Perspective:
    """A camera's height models, the screening of its detections, and their counts."""

    def __init__(self, config: PerspectiveConfig, size: tuple[int, int] | None = None) -> None:
        self.config = config
        self.models = {cid: HeightModel() for cid in CLASSES}
        self.size = size
        self.screened = 0  # detections whose score was lowered
        self.last: npt.NDArray[np.int64] = np.zeros(0, np.int64)  # their rows, last frame

    def screen(self, det: Detections) -> Detections:
        """``det`` with the scores of implausibly sized boxes lowered (``down_weight``)."""
        self.last = np.zeros(0, np.int64)
        if not len(det):
            return det
        odd = np.zeros(len(det), bool)
        feet = det.anchors("bottom_center").astype(np.float64)
        h = (det.xyxy[:, 3] - det.xyxy[:, 1]).astype(np.float64)
        edge = self._at_border(det.xyxy)
        for cid, model in self.models.items():
            lo, hi = model.rows
            sel = (det.class_id == cid) & ~edge & (feet[:, 1] >= lo) & (feet[:, 1] <= hi)
            if model.coef is None or not sel.any():
                continue
            exp = model.expected(feet[sel, 0], feet[sel, 1])
            ratio = h[sel] / np.maximum(exp, 1.0)
            tol = self.config.tolerance
            odd[np.flatnonzero(sel)] = (exp <= 1.0) | (ratio < 1 / tol) | (ratio > tol)
        if not odd.any():
            return det
        self.last = np.flatnonzero(odd)
        self.screened += len(self.last)
        conf = det.confidence.copy()
        conf[odd] *= self.config.down_weight
        return Detections(det.xyxy, conf, det.class_id, det.tracker_id)

    def learn(self, det: Detections) -> None:
        """Samples from the confirmed tracks of a frame (its tracked detections)."""
        keep = (det.tracker_id >= 0) & ~self._at_border(det.xyxy)
        for (x1, y1, x2, y2), cid in zip(det.xyxy[keep].tolist(),
                                         det.class_id[keep].tolist(), strict=True):
            model = self.models.get(cid)
            if model is not None and y2 - y1 >= 4:
                model.add((x1 + x2) / 2, y2, y2 - y1, self.config.min_samples)

    def _at_border(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        near = (xyxy[:, 0] <= BORDER_PX) | (xyxy[:, 1] <= BORDER_PX)
        if self.size is not None:
            near |= ((xyxy[:, 2] >= self.size[0] - BORDER_PX)
                     | (xyxy[:, 3] >= self.size[1] - BORDER_PX))
        return np.asarray(near)

    @property
    def fits(self) -> int:
        """How often the models were fitted (a new ``to_json`` after it changes)."""
        return sum(m.fits for m in self.models.values())

    def to_json(self) -> dict[str, Any]:
        return {CLASSES[cid]: m.to_json() for cid, m in self.models.items()}

    def save(self, path: Path) -> None:
        data = {CLASSES[cid]: list(m.samples) for cid, m in self.models.items()}
        tmp = path.with_suffix(".part")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        """The samples a previous run saved (then fitted); a missing or bad file: none."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        for cid, name in CLASSES.items():
            rows = [tuple(map(float, r)) for r in data.get(name, []) if len(r) == 3
                    and all(math.isfinite(float(v)) for v in r)]
            m = self.models[cid]
            m.samples.extend(rows)  # type: ignore[arg-type]
            if len(m.samples) >= self.config.min_samples:
                m.fit()
