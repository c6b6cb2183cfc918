"""Annotated snapshot: the rules, every tracked box, the offending box and its path.

Boxes and labels are drawn with ``supervision``'s annotators (labels of people standing close
are moved apart, not drawn over each other); the rules (zones, lines with their sides) with
our own drawing, since they carry our semantics (a wall's edge with its outside marked).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt
import supervision as sv

from orchestrator.classes import class_name
from orchestrator.config import CameraConfig
from orchestrator.detections import Detections

RED, YELLOW, CYAN, GREEN, WHITE = (0, 0, 255), (0, 215, 255), (255, 255, 0), (0, 200, 0), (255,) * 3
ORANGE = (0, 140, 255)


def _label(img: npt.NDArray[np.uint8], text: str, org: tuple[int, int],
           color: tuple[int, ...]) -> None:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    x, y = max(org[0], 0), max(org[1], h + 4)
    cv2.rectangle(img, (x, y - h - 4), (x + w + 4, y + 2), color, -1)
    cv2.putText(img, text, (x + 2, y - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)


def _draw_rules(img: npt.NDArray[np.uint8], camera: CameraConfig, active: str) -> None:
    overlay = img.copy()
    for z in camera.zones:
        pts = np.round(np.asarray(z.points)).astype(np.int32)
        cv2.fillPoly(overlay, [pts], RED if z.name == active else GREEN)
    cv2.addWeighted(overlay, 0.25, img, 0.75, 0, dst=img)
    for z in camera.zones:
        pts = np.round(np.asarray(z.points)).astype(np.int32)
        cv2.polylines(img, [pts], True, RED if z.name == active else GREEN, 2, cv2.LINE_AA)
        _label(img, z.name, tuple(pts[0]), GREEN)
    for ln in camera.lines:
        pts = np.round(np.asarray(ln.points)).astype(np.int32)
        color = RED if ln.name == active else CYAN
        cv2.polylines(img, [pts], False, color, 3, cv2.LINE_AA)
        a, b = pts[0].astype(float), pts[1].astype(float)
        mid = (a + b) / 2
        d = b - a
        normal = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9) * 18  # towards side A
        _label(img, "A", tuple((mid + normal).astype(int)), color)
        _label(img, "B", tuple((mid - normal).astype(int)), color)
        _label(img, ln.name, tuple(pts[-1]), color)
    for c in camera.climbs:  # the wall's top edge, and a mark on its outside
        pts = np.round(np.asarray(c.points)).astype(np.int32)
        color = RED if c.name == active else ORANGE
        cv2.polylines(img, [pts], False, color, 3, cv2.LINE_AA)
        a, b = pts[0].astype(float), pts[1].astype(float)
        d = b - a
        normal = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9) * 18  # towards side A
        out = (a + b) / 2 + (normal if c.outside == "a" else -normal)
        _label(img, "outside", tuple(out.astype(int)), color)
        _label(img, c.name, tuple(pts[-1]), color)


_PALETTE = sv.ColorPalette([sv.Color.from_bgr_tuple(YELLOW), sv.Color.from_bgr_tuple(RED)])
_LABELS = sv.LabelAnnotator(color=_PALETTE, text_color=sv.Color.BLACK, text_scale=0.5,
                            text_padding=4, smart_position=True)
_BOXES = {1: sv.BoxAnnotator(color=_PALETTE, thickness=1),
          3: sv.BoxAnnotator(color=_PALETTE, thickness=3)}


def annotate(image: npt.NDArray[np.uint8], camera: CameraConfig, det: Detections, index: int,
             rule: str, trajectory: Sequence[tuple[float, float]], caption: str
             ) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with the camera's rules, all tracked boxes, the offending box
    (row ``index`` of ``det``) in red and its trajectory."""
    img = image.copy()
    _draw_rules(img, camera, rule)
    if len(trajectory) > 1:
        pts = np.round(np.asarray(trajectory)).astype(np.int32)
        cv2.polylines(img, [pts], False, RED, 2, cv2.LINE_AA)
        cv2.circle(img, tuple(pts[0]), 4, RED, -1)
    # the others first, the offending one last (drawn on top)
    rows = [i for i in range(len(det)) if det.tracker_id[i] >= 0 and i != index] + [index]
    boxes = det.to_supervision()[np.asarray(rows)]
    colour = np.zeros(len(rows), np.int64)
    colour[-1] = 1
    others = np.arange(len(rows)) < len(rows) - 1
    img = _BOXES[1].annotate(img, boxes[others], custom_color_lookup=colour[others])
    img = _BOXES[3].annotate(img, boxes[~others], custom_color_lookup=colour[~others])
    labels = [f"#{det.tracker_id[i]} {class_name(int(det.class_id[i]))}" for i in rows]
    labels[-1] += f" {det.confidence[index]:.2f}"
    img = _LABELS.annotate(img, boxes, labels=labels, custom_color_lookup=colour)
    _label(img, caption, (4, img.shape[0] - 6), WHITE)
    return img


def overlay(image: npt.NDArray[np.uint8], camera: CameraConfig, det: Detections
            ) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with the camera's rules and every tracked box (the live view)."""
    img = image.copy()
    _draw_rules(img, camera, "")
    rows = np.flatnonzero(det.tracker_id >= 0)
    if len(rows):
        boxes = det.to_supervision()[rows]
        colour = np.zeros(len(rows), np.int64)
        img = _BOXES[1].annotate(img, boxes, custom_color_lookup=colour)
        labels = [f"#{det.tracker_id[i]} {class_name(int(det.class_id[i]))}" for i in rows]
        img = _LABELS.annotate(img, boxes, labels=labels, custom_color_lookup=colour)
    return img


def encode_jpeg(img: npt.NDArray[np.uint8], quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
