"""Far targets: rectangles of a frame detected at the source's own resolution besides the frame.

A perimeter camera looks along its wall: 50 m away a person is 20-40 px tall, and the detector,
which sees the whole frame shrunk to its input (416 px), sees a few pixels. A region (a
rectangle along the far part of the wall) is cut from the decoded frame at full resolution and
detected as a frame of its own, in the same batch as the whole frame, so the detector sees it
enlarged. Its boxes are moved back into the frame and merged with the frame's, class by class:
a box that overlaps a better one (IoU, or most of the smaller box inside the other) is the same
object seen twice. A region's box cut by the region's edge inside the frame (a person standing
across it) yields to a whole box of the same object; the frame sees them whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from orchestrator.detections import Detections

Region = tuple[float, float, float, float]  # x0, y0, x1, y1 image pixels
EDGE_PX = 2.0  # a region's box this close to a region edge inside the frame was cut by it
SAME_IOU = 0.5
SAME_INSIDE = 0.8  # of the smaller box inside the larger: the same object (a part of it)


def cut(image: npt.NDArray[np.uint8], regions: Sequence[Region]
        ) -> list[tuple[npt.NDArray[np.uint8], tuple[int, int]]]:
    """The regions' pixels (clipped to the frame) with their top-left corners."""
    h, w = image.shape[:2]
    out = []
    for x0, y0, x1, y1 in regions:
        a, b = max(int(x0), 0), max(int(y0), 0)
        c, d = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
        if c - a >= 8 and d - b >= 8:
            out.append((np.ascontiguousarray(image[b:d, a:c]), (a, b)))
    return out


def merge(frame: Detections, parts: Sequence[Detections],
          crops: Sequence[tuple[tuple[int, int], tuple[int, int]]],
          size: tuple[int, int]) -> Detections:
    """The frame's boxes and the regions' (``parts``, each from the crop at ``crops[i]``:
    (top-left x, y), (width, height)) in one set, each object once. ``size``: the frame's
    (width, height)."""
    boxes, scores, classes, cut_flags = [frame.xyxy], [frame.confidence], [frame.class_id], [
        np.zeros(len(frame), bool)]
    w, h = size
    for det, ((x0, y0), (cw, ch)) in zip(parts, crops, strict=True):
        xyxy = det.xyxy + np.array([x0, y0, x0, y0], np.float32)
        inner = [(x0 > 0, xyxy[:, 0] <= x0 + EDGE_PX), (y0 > 0, xyxy[:, 1] <= y0 + EDGE_PX),
                 (x0 + cw < w, xyxy[:, 2] >= x0 + cw - EDGE_PX),
                 (y0 + ch < h, xyxy[:, 3] >= y0 + ch - EDGE_PX)]
        flag = np.zeros(len(det), bool)
        for inside, touching in inner:
            if inside:
                flag |= touching
        boxes.append(xyxy)
        scores.append(det.confidence)
        classes.append(det.class_id)
        cut_flags.append(flag)
    xyxy = np.concatenate(boxes)
    score = np.concatenate(scores)
    cls = np.concatenate(classes)
    cut_by_edge = np.concatenate(cut_flags)
    keep = _same_once(xyxy, score, cls, cut_by_edge)
    return Detections(xyxy[keep], score[keep], cls[keep])


def _same_once(xyxy: npt.NDArray[np.float32], score: npt.NDArray[np.float32],
               cls: npt.NDArray[np.int64], cut_by_edge: npt.NDArray[np.bool_]
               ) -> npt.NDArray[np.int64]:
    """Greedy: whole boxes before cut ones, then by score; a box the same object as one kept
    goes."""
    order = np.lexsort((-score, cut_by_edge))
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    keep: list[int] = []
    for i in order.tolist():
        if keep:
            k = np.asarray(keep)
            k = k[cls[k] == cls[i]]
            if len(k):
                lt = np.maximum(xyxy[k, :2], xyxy[i, :2])
                rb = np.minimum(xyxy[k, 2:], xyxy[i, 2:])
                inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
                iou = inter / (area[k] + area[i] - inter + 1e-9)
                inside = inter / (np.minimum(area[k], area[i]) + 1e-9)
                if np.any((iou >= SAME_IOU) | (inside >= SAME_INSIDE)):
                    continue
        keep.append(i)
    return np.asarray(sorted(keep, key=lambda i: -score[i]), np.int64)
