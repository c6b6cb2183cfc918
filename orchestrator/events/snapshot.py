"""Annotated snapshot: the rules, every tracked box, the offending box and its path."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from orchestrator.classes import class_name
from orchestrator.config import CameraConfig
from orchestrator.detections import Detections

RED, YELLOW, CYAN, GREEN, WHITE = (0, 0, 255), (0, 215, 255), (255, 255, 0), (0, 200, 0), (255,) * 3


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


def annotate(image: npt.NDArray[np.uint8], camera: CameraConfig, det: Detections, index: int,
             rule: str, trajectory: Sequence[tuple[float, float]], caption: str
             ) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with the camera's rules, all tracked boxes, the offending box
    (row ``index`` of ``det``) in red and its trajectory."""
    img = image.copy()
    _draw_rules(img, camera, rule)
    for i, (box, tid, cid) in enumerate(zip(det.xyxy.astype(int), det.tracker_id, det.class_id,
                                            strict=True)):
        if i == index or tid < 0:
            continue
        cv2.rectangle(img, tuple(box[:2]), tuple(box[2:]), YELLOW, 1)
        _label(img, f"#{tid} {class_name(int(cid))}", (box[0], box[1]), YELLOW)
    if len(trajectory) > 1:
        pts = np.round(np.asarray(trajectory)).astype(np.int32)
        cv2.polylines(img, [pts], False, RED, 2, cv2.LINE_AA)
        cv2.circle(img, tuple(pts[0]), 4, RED, -1)
    box = det.xyxy[index].astype(int)
    cv2.rectangle(img, tuple(box[:2]), tuple(box[2:]), RED, 3)
    _label(img, f"#{det.tracker_id[index]} {class_name(int(det.class_id[index]))} "
                f"{det.confidence[index]:.2f}", (box[0], box[1]), RED)
    _label(img, caption, (4, img.shape[0] - 6), WHITE)
    return img


def encode_jpeg(img: npt.NDArray[np.uint8], quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
