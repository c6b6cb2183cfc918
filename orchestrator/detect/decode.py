"""Decoding of detector outputs and NMS: numpy only.

The embedded detector decodes with these; the served graphs (``orchestrator.detect.graph``)
do the same YOLOX decoding and class-aware NMS inside the model, and the tests hold the two
to the same boxes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


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



def select(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
           cids: npt.NDArray[np.int64], score_threshold: float, nms_iou: float,
           kept_classes: npt.NDArray[np.int64] | None = None,
           max_det: int | None = None) -> npt.NDArray[np.int64]:
    """Indices of the boxes kept by the score filter, the class filter and class-aware NMS,
    best first (at most ``max_det``)."""
    m = scores >= score_threshold
    if kept_classes is not None:
        m &= np.isin(cids, kept_classes)
    idx = np.flatnonzero(m)
    if len(idx):
        # Offset boxes per class so one NMS pass never suppresses across classes.
        offset = cids[idx, None].astype(np.float32) * 8192.0
        idx = idx[nms(boxes[idx] + offset, scores[idx], nms_iou)]
    return idx[:max_det] if max_det is not None else idx
