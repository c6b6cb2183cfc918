"""Far targets made from a shared clip: its scene shrunk ``factor`` times inside a frame of the
clip's own size, as a wide camera sees the far end of a wall, with its ground truth and rules
moved along.

The rest of the frame is the clip's empty street (the per-pixel median of its frames) blurred
and dimmed, so the detector has a plausible, empty picture around the far scene. Every frame
gets sensor noise, and the whole is encoded as H.264.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np

from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.evaluation.quiet import NoisyH264


def far_clip(video: Path, gt: Path, out: Path, factor: float, at: tuple[int, int],
             noise: float = 2.0, seed: int = 0) -> tuple[Path, Path, list[float]]:
    """Write ``out`` (.mp4) and its ground truth (``out`` with .gt.txt); returns both and
    the far scene's rectangle [x0, y0, x1, y1] in the new frame."""
    import cv2  # noqa: PLC0415

    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(stream)]
    h, w = frames[0].shape[:2]
    sw, sh = round(w / factor), round(h / factor)
    x0, y0 = at
    if x0 + sw > w or y0 + sh > h:
        raise ValueError(f"a {sw}x{sh} scene at {at} does not fit a {w}x{h} frame")
    median = np.median(np.stack(frames).astype(np.float32), axis=0)
    around = (cv2.GaussianBlur(median, (0, 0), 6) * 0.7).astype(np.uint8)
    with NoisyH264(out, (w, h), fps, noise, seed, crf=20) as enc:
        for frame in frames:
            img = around.copy()
            img[y0:y0 + sh, x0:x0 + sw] = cv2.resize(frame, (sw, sh),
                                                     interpolation=cv2.INTER_AREA)
            enc.write(img)
    sx, sy = sw / w, sh / h
    rows = []
    truth = GroundTruth.load(str(gt))
    for frame_no in sorted(truth.frames):
        ids, xyxy = truth.frames[frame_no]
        for tid, (a, b, c, d) in zip(ids.tolist(), xyxy.tolist(), strict=True):
            bx, by = x0 + a * sx, y0 + b * sy
            rows.append(f"{frame_no},{tid},{bx:.2f},{by:.2f},{(c - a) * sx:.2f},"
                        f"{(d - b) * sy:.2f},1,-1,-1,-1")
    gt_out = out.with_suffix(".gt.txt")
    gt_out.write_text("\n".join(rows) + "\n")
    return out, gt_out, [float(x0), float(y0), float(x0 + sw), float(y0 + sh)]


def moved_rules(camera: dict[str, Any], factor: float, at: tuple[int, int]) -> dict[str, Any]:
    """A camera's zones, lines and climbs moved into the far scene (points / ``factor`` +
    ``at``)."""
    out = dict(camera)
    for key in ("zones", "lines", "climbs"):
        out[key] = [{**r, "points": [[at[0] + x / factor, at[1] + y / factor]
                                     for x, y in r["points"]]} for r in camera.get(key, [])]
    return out
