"""``perishield eval``: run the pipeline on a labelled video and score it."""

from __future__ import annotations

import asyncio
import bisect
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.config import CameraConfig, Settings
from orchestrator.detections import Detections
from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.evaluation.metrics import (
    PredictedEvent,
    TrackingScore,
    chance_level,
    match_events,
)
from orchestrator.evaluation.truth import TruthEvent, truth_events
from orchestrator.events.model import Event
from orchestrator.ingest import AnalysisFrame
from orchestrator.service import Service


def single_camera(settings: Settings, video: str | None, data_dir: Path | None = None,
                  camera_id: str | None = None) -> tuple[Settings, CameraConfig]:
    """Settings reduced to one camera (the named or first one) reading ``video``."""
    cams = settings.cameras
    if camera_id:
        cams = [c for c in cams if c.id == camera_id]
        if not cams:
            raise ValueError(f"no camera {camera_id!r} in the configuration")
    base = cams[0] if cams else CameraConfig(id="video", source=video or "-")
    cam = base.model_copy(update={"source": video or base.source, "enabled": True,
                                  "loop": False, "realtime": False})
    outputs = settings.outputs
    if data_dir is not None:
        outputs = outputs.model_copy(update={"data_dir": data_dir, "database_url": None})
    return settings.model_copy(update={"cameras": [cam], "outputs": outputs}), cam


def evaluate(settings: Settings, video: str, gt_path: str, tolerance_s: float = 0.5,
             camera_id: str | None = None, max_dist: float = 40.0) -> dict[str, Any]:
    """Score the pipeline's events against the events the ground-truth tracks imply.

    Returns precision, recall, F1, false alarms per hour and the delay from the act to its
    detection (median, p95) per rule and overall, the chance level, and MOTA / IDF1.
    """
    gt = GroundTruth.load(gt_path)
    frames: list[tuple[int, float, float]] = []
    tracking = TrackingScore()
    events: list[Event] = []
    # When each analysed frame was done (wall clock), and its place in the video: an event is
    # stamped (``detected_at``) while its frame is analysed, and stored a little later, while
    # the file's next frames are analysed; it was detected on the first frame done after it.
    done_at: list[float] = []
    size: list[tuple[int, int]] = []

    screened = {"fp_removed": 0, "true_lost": 0}

    def on_frame(cam_id: str, f: AnalysisFrame, det: Detections) -> None:
        frames.append((f.index, f.video_time, f.timestamp))
        done_at.append(time.time())
        if not size:
            size.append(f.size)
        gids, gxyxy = gt.frames.get(f.index + 1, (det.tracker_id[:0], det.xyxy[:0]))
        pipe = service.pipelines.get(cam_id)
        persp = pipe.state.perspective if pipe is not None else None
        if persp is not None and len(persp.last) and len(persp.last) <= len(det):
            for box in det.xyxy[persp.last]:  # boxes the perspective model screened out
                true = bool(len(gxyxy)) and float(_iou(box, gxyxy).max()) >= 0.5
                screened["true_lost" if true else "fp_removed"] += 1
        keep = det.tracker_id >= 0
        tracking.update(gids, gxyxy, det.tracker_id[keep], det.xyxy[keep])

    with tempfile.TemporaryDirectory(prefix="perishield-eval-") as tmp:
        one, cam = single_camera(settings, video, Path(tmp), camera_id)
        service = Service(one, on_event=events.append, on_frame=on_frame)
        stats = asyncio.run(service.run(restart_failed=False))[cam.id]
        if stats.state == "failed":
            raise RuntimeError(f"{video}: {stats.reason}")

    predicted = []
    for e in events:
        i = min(bisect.bisect_left(done_at, e.detected_at.timestamp()), len(frames) - 1)
        point = None if e.point is None else (e.point[0], e.point[1])
        predicted.append(PredictedEvent(e.rule, e.direction, e.video_time, point,
                                        frames[i][1], e.track_id))
    truth = truth_events(gt, cam, video_fps(video), size[0] if size else None)
    seconds = (frames[-1][1] - frames[0][1] + 1 / cam.analysis_fps) if frames else 0.0
    rules = [r.name for r in [*cam.zones, *cam.lines, *cam.routes]]
    per_rule = {}
    for name in rules:
        t = [e for e in truth if e.rule == name]
        p = [e for e in predicted if e.rule == name]
        per_rule[name] = match_events(t, p, tolerance_s, seconds, max_dist).as_dict()
    overall = match_events(truth, predicted, tolerance_s, seconds, max_dist)
    return {
        "video": video, "ground_truth": gt_path, "analysed_frames": len(frames),
        "video_seconds": round(seconds, 3), "tolerance_s": tolerance_s, "max_dist": max_dist,
        "true_events": sum(not e.dont_care for e in truth),
        "dont_care_events": sum(e.dont_care for e in truth),
        "predicted_events": len(predicted),
        "frames_gated": stats.frames_gated,
        "perspective": {"screened": stats.screened, **screened},
        **overall.as_dict(),
        "chance": chance_level(truth, predicted, tolerance_s, seconds, max_dist),
        "rules": per_rule,
        "tracking": {k: round(v, 4) for k, v in tracking.summary().items()},
        "truth": [_truth_json(e) for e in truth],
        "predicted": [_predicted_json(e) for e in predicted],
    }


def _iou(box: Any, boxes: Any) -> Any:
    lt = np.maximum(boxes[:, :2], box[:2])
    rb = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = (box[2] - box[0]) * (box[3] - box[1])
    return inter / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + area - inter
                    + 1e-9)


def video_fps(video: str) -> float:
    """The frame rate of a file's first video stream."""
    import av  # noqa: PLC0415

    with av.open(video) as c:
        rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
    if not rate:
        raise RuntimeError(f"{video}: no frame rate in the video stream")
    return float(rate)


def _point(p: tuple[float, float] | None) -> list[float] | None:
    return None if p is None else [round(p[0], 1), round(p[1], 1)]


def _truth_json(e: TruthEvent) -> dict[str, Any]:
    return {"rule": e.rule, "direction": e.direction, "time": round(e.time, 3),
            "time_hi": None if e.time_hi is None else round(e.time_hi, 3),
            "point": _point(e.point), "track_id": e.track_id, "dont_care": e.dont_care}


def _predicted_json(e: PredictedEvent) -> dict[str, Any]:
    return {"rule": e.rule, "direction": e.direction, "time": round(e.time, 3),
            "detected": None if e.detected is None else round(e.detected, 3),
            "point": _point(e.point), "track_id": e.track_id}
