"""A wall climb composited into a shared clip, for the climb rule's test on real detections.

Nothing in the shared data climbs a wall. This draws one: TUD-Stadtmitte's empty street (the
per-pixel median of its frames), a wall across it as a camera facing its outer face sees it
(its top edge at ``EDGE_Y``, its foot at ``FOOT_Y``), one of the clip's real walkers walking
along the wall's foot in front of it, and two people pasted from TUD-Campus (a real walker's
boxes, frame by frame, scaled): one walks up to the wall, climbs it, sits on its top and drops
down the far side out of sight; the other climbs up and back down, and walks off. Every frame
gets sensor noise, and the whole is encoded as H.264.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.evaluation.quiet import PAD_PX, NoisyH264

EDGE_Y, FOOT_Y = 190, 290  # the wall's top edge and its foot, image rows
FPS = 25.0
SECONDS = 7.0  # within the walker's clip (7.2 s): it never jumps back to its start
CLIMBER_H = 150  # px: a person at the wall, as tall as the real walker beside it
SHIFT = 20  # px the real walker is moved down by

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Climber:
    """Feet (x, y) through ``waypoints`` ((t, x, y), straight between them); not drawn after
    ``gone`` (dropped behind the wall)."""

    waypoints: tuple[tuple[float, float, float], ...]
    gone: float = 1e9

    def feet(self, t: float) -> tuple[float, float] | None:
        ts, xs, ys = zip(*self.waypoints, strict=True)
        if t < ts[0] or t > ts[-1] or t >= self.gone:
            return None
        return float(np.interp(t, ts, xs)), float(np.interp(t, ts, ys))

    def crosses(self, y: float) -> float:
        """When the feet first rise past row ``y``."""
        for (t0, _, y0), (t1, _, y1) in zip(self.waypoints, self.waypoints[1:], strict=False):
            if y0 > y >= y1:
                return t0 + (y0 - y) / (y0 - y1) * (t1 - t0)
        raise ValueError(f"never rises past y = {y}")


# Over and out of sight; up and back down (away from where the walker is meanwhile).
OVER = Climber(((0.0, 110, 470), (2.0, 110, 310), (4.0, 110, 170), (5.0, 110, 170)), gone=5.0)
BACK = Climber(((0.5, 250, 470), (2.0, 250, 310), (4.0, 250, 170), (4.6, 250, 170),
                (6.0, 250, 330), (7.0, 200, 470)))


@dataclass(frozen=True, slots=True)
class ClimbTruth:
    edge: list[list[float]]  # the wall's top edge (a climb rule's points), outside below: "a"
    over_at: float  # the climber's feet cross the edge (the act)
    back_over_at: float  # the one who climbs back down: its feet cross the edge going up


def _crops(video: Path, gt: Path, track: int) -> list[Image]:
    """The track's boxes (with a few pixels around), frame by frame, scaled to CLIMBER_H."""
    import cv2  # noqa: PLC0415

    truth = GroundTruth.load(str(gt))
    with av.open(str(video)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    out = []
    for k in sorted(truth.frames):
        ids, xyxy = truth.frames[k]
        hit = np.flatnonzero(ids == track)
        if not len(hit):
            continue
        x0, y0, x1, y1 = (int(v) for v in xyxy[hit[0]])
        img = frames[k - 1]
        crop = img[max(y0 - PAD_PX, 0):y1 + PAD_PX, max(x0 - PAD_PX, 0):x1 + PAD_PX]
        scale = CLIMBER_H / (y1 - y0)
        out.append(np.asarray(cv2.resize(crop, None, fx=scale, fy=scale,
                                         interpolation=cv2.INTER_AREA), np.uint8))
    if not out:
        raise ValueError(f"{gt}: no track {track}")
    return out


def _paste(img: Image, crop: Image, feet: tuple[float, float]) -> None:
    """``crop`` with its box's bottom centre at ``feet`` (the padding around it)."""
    h, w = img.shape[:2]
    ch, cw = crop.shape[:2]
    pad = round(PAD_PX * CLIMBER_H / (ch - 2 * PAD_PX)) if ch > 2 * PAD_PX else 0
    x0, y0 = round(feet[0] - cw / 2), round(feet[1] - ch + pad)
    sx0, sy0 = max(-x0, 0), max(-y0, 0)
    x1, y1 = min(x0 + cw, w), min(y0 + ch, h)
    if x1 > x0 + sx0 and y1 > y0 + sy0:
        img[y0 + sy0:y1, x0 + sx0:x1] = crop[sy0:y1 - y0, sx0:x1 - x0]


def _wall(background: Image) -> Image:
    """A rendered wall band across the image: bricks, a lighter coping on its top edge."""
    img = background.copy()
    band = img[EDGE_Y:FOOT_Y]
    band[:] = (118, 122, 128)
    for row in range(EDGE_Y, FOOT_Y, 14):  # brick courses, staggered joints
        img[row:row + 1, :] = (90, 92, 96)
        offset = 0 if (row - EDGE_Y) // 14 % 2 == 0 else 20
        img[row:row + 14, offset::40] = (90, 92, 96)
    img[EDGE_Y - 6:EDGE_Y] = (175, 178, 182)  # the coping
    return img


def climb_clip(stadtmitte: Path, stadtmitte_gt: Path, campus: Path, campus_gt: Path,
               out: Path, noise: float = 2.0, seed: int = 0) -> ClimbTruth:
    """Write the clip to ``out`` (.mp4); returns where the edge is and when the climbs are."""
    with av.open(str(stadtmitte)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    h, w = frames[0].shape[:2]
    background = np.median(np.stack(frames).astype(np.float32), axis=0).astype(np.uint8)
    wall = _wall(background)
    # A real walker along the wall's foot, in front of it: Stadtmitte's track 2 (feet at
    # y 280-320, walking right), shifted down 20 px, clear of the wall's foot.
    walker = {k: xyxy[ids == 2][0] for k, (ids, xyxy) in
              GroundTruth.load(str(stadtmitte_gt)).frames.items() if (ids == 2).any()}
    people = _crops(campus, campus_gt, 1)
    with NoisyH264(out, (w, h), FPS, noise, seed) as enc:
        for k in range(round(SECONDS * FPS)):
            t = k / FPS
            img = wall.copy()
            src = k % len(frames) + 1
            box = walker.get(src)
            if box is not None:
                x0, y0 = max(int(box[0]) - PAD_PX, 0), max(int(box[1]) - PAD_PX, 0)
                x1, y1 = min(int(box[2]) + PAD_PX, w), min(int(box[3]) + PAD_PX, h)
                y1 = min(y1, h - SHIFT)
                img[y0 + SHIFT:y1 + SHIFT, x0:x1] = frames[src - 1][y0:y1, x0:x1]
            for i, person in enumerate((OVER, BACK)):
                feet = person.feet(t)
                if feet is not None:
                    _paste(img, people[(k + 20 * i) % len(people)], feet)
            enc.write(img)
    return ClimbTruth([[0.0, float(EDGE_Y)], [float(w), float(EDGE_Y)]],
                      OVER.crosses(EDGE_Y), BACK.crosses(EDGE_Y))
