"""Model-independent pre- and post-processing: letterbox, output decoding, score/class filter, NMS.

Shared by every detector backend so the embedded and served detectors give the same boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from orchestrator.detections import Detections

LETTERBOX_PAD = 114


@dataclass(frozen=True, slots=True)
class FrameTransform:
    """How model-input pixels map back to the original frame: ``orig = model / scale``."""

    scale_x: float
    scale_y: float
    width: int
    height: int


def letterbox(frame: npt.NDArray[np.uint8], size: tuple[int, int],
              keep_ratio: bool = True) -> tuple[npt.NDArray[np.uint8], FrameTransform]:
    """Resize a BGR uint8 frame to the model's ``size`` (w, h) as uint8.

    With ``keep_ratio`` the image keeps its aspect ratio and sits at the top-left of a canvas
    padded with 114 (YOLOX's convention); otherwise it is stretched.
    """
    h, w = frame.shape[:2]
    mw, mh = size
    if not keep_ratio:
        out = np.asarray(cv2.resize(frame, (mw, mh), interpolation=cv2.INTER_LINEAR), np.uint8)
        return out, FrameTransform(mw / w, mh / h, w, h)
    r = min(mw / w, mh / h)
    nw, nh = round(w * r), round(h * r)
    canvas = np.full((mh, mw, 3), LETTERBOX_PAD, dtype=np.uint8)
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR) if r != 1 else frame
    canvas[:nh, :nw] = resized
    return canvas, FrameTransform(r, r, w, h)


def yolox_grids(size: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32)
                ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Grid offsets (A, 2) and strides (A, 1) of YOLOX's anchor points for an input size (w, h)."""
    grids, steps = [], []
    w, h = size
    for s in strides:
        gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        g = np.stack([gx, gy], axis=-1).reshape(-1, 2)
        grids.append(g)
        steps.append(np.full((len(g), 1), s))
    return (np.concatenate(grids).astype(np.float32), np.concatenate(steps).astype(np.float32))


def decode_yolox(raw: npt.NDArray[np.float32], grids: npt.NDArray[np.float32],
                 strides: npt.NDArray[np.float32]
                 ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32],
                            npt.NDArray[np.int64]]:
    """One image's YOLOX output (A, 5 + C) → boxes xyxy in model pixels, scores, class ids."""
    if raw.shape[0] != len(grids):
        raise ValueError(f"YOLOX output has {raw.shape[0]} anchors, expected {len(grids)} "
                         "for the configured input size")
    xy = (raw[:, :2] + grids) * strides
    wh = np.exp(raw[:, 2:4]) * strides
    cls = raw[:, 5:]
    cid = cls.argmax(axis=1)
    score = raw[:, 4] * cls[np.arange(len(cls)), cid]
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    return boxes.astype(np.float32), score.astype(np.float32), cid.astype(np.int64)


def decode_fastestdet(raw: npt.NDArray[np.float32], size: tuple[int, int]
                      ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32],
                                 npt.NDArray[np.int64]]:
    """One image's FastestDet output (5 + C, H, W) → boxes xyxy in model pixels, scores, classes."""
    c, gh, gw = raw.shape
    flat = raw.reshape(c, -1).T  # (H*W, 5 + C)
    gy, gx = np.divmod(np.arange(gh * gw), gw)
    cx = (gx + np.tanh(flat[:, 1])) / gw * size[0]
    cy = (gy + np.tanh(flat[:, 2])) / gh * size[1]
    w = 1 / (1 + np.exp(-flat[:, 3])) * size[0]
    h = 1 / (1 + np.exp(-flat[:, 4])) * size[1]
    cls = flat[:, 5:]
    cid = cls.argmax(axis=1)
    cls_best = np.clip(cls[np.arange(len(cls)), cid], 0, None)
    score = np.clip(flat[:, 0], 0, None) ** 0.6 * cls_best ** 0.4
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes.astype(np.float32), score.astype(np.float32), cid.astype(np.int64)


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
        iou_threshold: float) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def finish(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
           cids: npt.NDArray[np.int64], t: FrameTransform, score_threshold: float,
           nms_iou: float, kept_classes: npt.NDArray[np.int64]) -> Detections:
    """Score filter, class filter, class-aware NMS, and mapping back to frame pixels."""
    m = (scores >= score_threshold) & np.isin(cids, kept_classes)
    boxes, scores, cids = boxes[m], scores[m], cids[m]
    if len(boxes):
        # Offset boxes per class so one NMS pass never suppresses across classes.
        offset = cids[:, None].astype(np.float32) * 8192.0
        keep = nms(boxes + offset, scores, nms_iou)
        boxes, scores, cids = boxes[keep], scores[keep], cids[keep]
    boxes = (boxes / np.array([t.scale_x, t.scale_y, t.scale_x, t.scale_y])).astype(np.float32)
    np.clip(boxes[:, 0::2], 0, t.width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, t.height, out=boxes[:, 1::2])
    return Detections(boxes, scores, cids)
