"""Letterbox before the model and mapping of its boxes back to the frame.

Shared by every detector backend so the embedded and served detectors give the same boxes; the
decoding and NMS live in ``decode`` (numpy only, also used inside Triton).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from orchestrator.detect.decode import (  # noqa: F401 - re-exported for the backends
    decode_fastestdet,
    decode_yolox,
    nms,
    select,
    yolox_grids,
)
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


def prepare(image: Any, size: tuple[int, int],
            keep_ratio: bool = True) -> tuple[npt.NDArray[np.uint8], FrameTransform]:
    """The model's uint8 HWC input for a BGR array (``letterbox``) or for a decoded picture,
    which makes it from the decoder's pixels (``Picture.model_input``)."""
    if isinstance(image, np.ndarray):
        return letterbox(image, size, keep_ratio)
    return image.model_input(size, keep_ratio)  # type: ignore[no-any-return]


def finish(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
           cids: npt.NDArray[np.int64], t: FrameTransform, score_threshold: float,
           nms_iou: float, kept_classes: npt.NDArray[np.int64]) -> Detections:
    """Score filter, class filter, class-aware NMS, and mapping back to frame pixels."""
    keep = select(boxes, scores, cids, score_threshold, nms_iou, kept_classes)
    return to_frame(boxes[keep], scores[keep], cids[keep], t)


def to_frame(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
             cids: npt.NDArray[np.int64], t: FrameTransform) -> Detections:
    """Detections in frame pixels from boxes in model-input pixels."""
    boxes = (boxes / np.array([t.scale_x, t.scale_y, t.scale_x, t.scale_y])).astype(np.float32)
    np.clip(boxes[:, 0::2], 0, t.width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, t.height, out=boxes[:, 1::2])
    return Detections(boxes, scores, cids)


def unpack(outputs: list[npt.NDArray[Any]], transforms: list[FrameTransform],
           score_threshold: float, kept_classes: npt.NDArray[np.int64]) -> list[Detections]:
    """Detections in frame pixels from a graph with NMS inside: its ``boxes``, ``scores``,
    ``classes`` and ``num_detections`` for a batch; the score and class filters only."""
    boxes, scores, classes, num = outputs
    out = []
    for i, t in enumerate(transforms):
        n = int(num[i, 0])
        b, s, c = boxes[i, :n], scores[i, :n], classes[i, :n].astype(np.int64)
        keep = (s >= score_threshold) & np.isin(c, kept_classes)
        out.append(to_frame(b[keep], s[keep], c[keep], t))
    return out
