"""``perishield eval``: run the pipeline on a labelled video and score it."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.config import CameraConfig, Settings
from orchestrator.detections import Detections
from orchestrator.evaluation.groundtruth import GroundTruth, true_events
from orchestrator.evaluation.metrics import TimedEvent, TrackingScore, match_events
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


def evaluate(settings: Settings, video: str, gt_path: str, tolerance_s: float = 1.0,
             camera_id: str | None = None) -> dict[str, Any]:
    """Precision, recall, F1, false alarms per hour, alarm delay, MOTA and IDF1."""
    gt = GroundTruth.load(gt_path)
    frames: list[tuple[int, float, float]] = []
    tracking = TrackingScore()
    predicted: list[Event] = []

    def on_frame(_cam: str, f: AnalysisFrame, det: Detections) -> None:
        frames.append((f.index, f.video_time, f.timestamp))
        gids, gxyxy = gt.frames.get(f.index + 1, (det.tracker_id[:0], det.xyxy[:0]))
        keep = det.tracker_id >= 0
        tracking.update(gids, gxyxy, det.tracker_id[keep], det.xyxy[keep])

    with tempfile.TemporaryDirectory(prefix="perishield-eval-") as tmp:
        one, cam = single_camera(settings, video, Path(tmp), camera_id)
        service = Service(one, on_event=predicted.append, on_frame=on_frame)
        stats = asyncio.run(service.run(restart_failed=False))[cam.id]
        if stats.state == "failed":
            raise RuntimeError(f"{video}: {stats.reason}")

    truth = true_events(gt, cam, [i for i, _, _ in frames], [t for _, _, t in frames])
    to_video = {ts: vt for _, vt, ts in frames}
    truth_t = [TimedEvent(h.rule, h.direction, to_video[h.timestamp], h.track_id) for h in truth]
    pred_t = [TimedEvent(e.rule, e.direction, e.video_time, e.track_id) for e in predicted]
    seconds = (frames[-1][1] - frames[0][1] + 1 / cam.analysis_fps) if frames else 0.0
    score = match_events(truth_t, pred_t, tolerance_s, seconds)
    return {
        "video": video, "ground_truth": gt_path, "analysed_frames": len(frames),
        "video_seconds": round(seconds, 3), "tolerance_s": tolerance_s,
        "true_events": len(truth_t), "predicted_events": len(pred_t),
        "true_positives": score.true_positives, "false_positives": score.false_positives,
        "false_negatives": score.false_negatives, "precision": round(score.precision, 4),
        "recall": round(score.recall, 4), "f1": round(score.f1, 4),
        "false_alarms_per_hour": round(score.false_alarms_per_hour, 2),
        "alarm_delay_mean_s": None if score.delay_mean_s is None else round(score.delay_mean_s, 3),
        "alarm_delay_max_s": None if score.delay_max_s is None else round(score.delay_max_s, 3),
        "tracking": {k: round(v, 4) for k, v in tracking.summary().items()},
        "truth": [_asdict(e) for e in truth_t],
        "predicted": [_asdict(e) for e in pred_t],
    }


def _asdict(e: TimedEvent) -> dict[str, Any]:
    return {"rule": e.rule, "direction": e.direction, "time": round(e.time, 3),
            "track_id": e.track_id}
