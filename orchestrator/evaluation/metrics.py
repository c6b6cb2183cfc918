"""Event matching (precision, recall, false alarms per hour, delay) and tracker MOTA / IDF1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from trackers.matching import iou_matrix


@dataclass(frozen=True, slots=True)
class TimedEvent:
    rule: str
    direction: str | None
    time: float  # seconds of video
    track_id: int = -1


@dataclass(frozen=True, slots=True)
class EventScore:
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    false_alarms_per_hour: float
    delay_mean_s: float | None
    delay_max_s: float | None


def match_events(truth: list[TimedEvent], predicted: list[TimedEvent], tolerance_s: float,
                 video_seconds: float) -> EventScore:
    """One-to-one matching: same rule, same direction, times within ``tolerance_s``."""
    big = 1e6
    cost = np.full((len(truth), len(predicted)), big)
    for i, t in enumerate(truth):
        for j, p in enumerate(predicted):
            dt = abs(p.time - t.time)
            if t.rule == p.rule and t.direction == p.direction and dt <= tolerance_s:
                cost[i, j] = dt
    pairs = []
    if cost.size:
        rows, cols = linear_sum_assignment(cost)
        pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < big]
    tp = len(pairs)
    fp, fn = len(predicted) - tp, len(truth) - tp
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delays = [predicted[c].time - truth[r].time for r, c in pairs]
    return EventScore(tp, fp, fn, precision, recall, f1,
                      fp / (video_seconds / 3600) if video_seconds > 0 else 0.0,
                      float(np.mean(delays)) if delays else None,
                      float(np.max(delays)) if delays else None)


class TrackingScore:
    """Accumulates frames and computes CLEAR-MOT and identity metrics (motmetrics)."""

    def __init__(self, iou_threshold: float = 0.5) -> None:
        import motmetrics as mm  # noqa: PLC0415 - only the eval needs it

        self._mm = mm
        self._acc = mm.MOTAccumulator(auto_id=True)
        self._max_d = 1 - iou_threshold

    def update(self, gt_ids: np.ndarray, gt_xyxy: np.ndarray, ids: np.ndarray,
               xyxy: np.ndarray) -> None:
        d = 1 - iou_matrix(gt_xyxy.astype(np.float32), xyxy.astype(np.float32))
        d = np.where(d > self._max_d, np.nan, d)
        self._acc.update(gt_ids.tolist(), ids.tolist(), d)

    def summary(self) -> dict[str, float]:
        mh = self._mm.metrics.create()
        names = ["mota", "motp", "idf1", "num_switches", "num_false_positives", "num_misses",
                 "mostly_tracked", "num_unique_objects"]
        row = mh.compute(self._acc, metrics=names, name="seq").iloc[0]
        return {k: float(row[k]) for k in names}
