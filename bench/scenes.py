"""Recorded detections shared by both sides of the tracking benchmark (plain numpy, no imports
from PeriShield, so the Roboflow side can read it in its own venv).

A scene file (.npz) holds ``frame`` (M,), ``xyxy`` (M, 4), ``confidence`` (M,), ``class_id`` (M,)
and ``n_frames``, ``fps``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LINE = ((320.0, 200.0), (320.0, 460.0))
ZONE = ((0.0, 300.0), (300.0, 300.0), (300.0, 479.0), (0.0, 479.0))

# The rule set a perimeter camera carries (like with like on both sides): two straight
# tripwires, two 3-point polylines along a wall, two zones and one dwell zone. supervision has
# no polyline and no dwell: it gets one LineZone per polyline segment and a plain PolygonZone.
PERIMETER_LINES: tuple[tuple[tuple[float, float], ...], ...] = (
    ((160.0, 120.0), (160.0, 460.0)),
    ((480.0, 120.0), (480.0, 460.0)),
    ((20.0, 240.0), (320.0, 200.0), (620.0, 260.0)),
    ((20.0, 400.0), (320.0, 360.0), (620.0, 420.0)),
)
PERIMETER_ZONES: tuple[tuple[tuple[tuple[float, float], ...], float], ...] = (  # points, dwell s
    (((0.0, 300.0), (300.0, 300.0), (300.0, 479.0), (0.0, 479.0)), 0.0),
    (((340.0, 100.0), (639.0, 100.0), (639.0, 280.0), (340.0, 280.0)), 0.0),
    (((200.0, 150.0), (440.0, 150.0), (440.0, 330.0), (200.0, 330.0)), 5.0),
)


def per_frame(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], float]:
    z = np.load(path)
    frames = []
    for i in range(int(z["n_frames"])):
        m = z["frame"] == i
        frames.append((z["xyxy"][m].astype(np.float32), z["confidence"][m].astype(np.float32),
                       z["class_id"][m].astype(np.int64)))
    return frames, float(z["fps"])


def synthetic(n_objects: int, n_frames: int = 500, fps: float = 10.0, seed: int = 0,
              box: tuple[float, float] | None = None) -> dict:
    """People walking across a 640x480 view at constant speed with box noise and 5 % misses;
    boxes of ``box`` (w, h) pixels, or of random sizes (30-60 × 80-180)."""
    rng = np.random.default_rng(seed)
    rows = []
    start = rng.uniform([0, 150], [640, 400], size=(n_objects, 2))
    vel = rng.uniform(-12, 12, size=(n_objects, 2)) * [1, 0.3]
    size = rng.uniform([30, 80], [60, 180], size=(n_objects, 2))
    if box is not None:
        size[:] = box
    for f in range(n_frames):
        pos = (start + vel * f) % [640, 480]
        for k in range(n_objects):
            if rng.random() < 0.05:
                continue
            cx, by = pos[k] + rng.normal(0, 1.5, 2)
            w, h = size[k]
            rows.append((f, cx - w / 2, by - h, cx + w / 2, by, rng.uniform(0.3, 0.95)))
    a = np.array(rows, np.float64).reshape(-1, 6)
    return {"frame": a[:, 0].astype(np.int64), "xyxy": a[:, 1:5].astype(np.float32),
            "confidence": a[:, 5].astype(np.float32),
            "class_id": np.zeros(len(a), np.int64), "n_frames": n_frames, "fps": fps}
