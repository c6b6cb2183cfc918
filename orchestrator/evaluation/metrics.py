"""Event matching (precision, recall, false alarms per hour, delay) and tracker MOTA / IDF1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from orchestrator.evaluation.truth import TruthEvent
from trackers.matching import iou_matrix


@dataclass(frozen=True, slots=True)
class PredictedEvent:
    """An event the pipeline raised: when the act was (``time``) and when it was detected."""

    rule: str
    direction: str | None
    time: float  # video seconds of the act
    point: tuple[float, float] | None  # anchor at the act
    detected: float | None = None  # video seconds of the frame that confirmed it
    track_id: int = -1


@dataclass(frozen=True, slots=True)
class EventScore:
    true_positives: int
    false_positives: int
    false_negatives: int
    dont_care: int  # predictions matched to don't-care truth: neither right nor wrong
    precision: float
    recall: float
    f1: float
    false_alarms_per_hour: float
    delays_s: tuple[float, ...]  # act (truth) → detection, per true positive

    def as_dict(self) -> dict[str, float | int | None]:
        d = np.asarray(self.delays_s)
        return {"tp": self.true_positives, "fp": self.false_positives,
                "fn": self.false_negatives, "dont_care": self.dont_care,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4),
                "false_alarms_per_hour": round(self.false_alarms_per_hour, 2),
                "delay_median_s": round(float(np.median(d)), 3) if len(d) else None,
                "delay_p95_s": round(float(np.percentile(d, 95)), 3) if len(d) else None}


_NO_MATCH = 1e6


def _cost(truth: list[TruthEvent], predicted: list[PredictedEvent], tolerance_s: float,
          max_dist: float) -> np.ndarray:
    """Cost of pairing each truth with each prediction; ``_NO_MATCH`` where they cannot pair.

    A pair needs the same rule and direction, a time within ``tolerance_s`` of the truth's
    window and an anchor within ``max_dist`` pixels. Cheaper pairs are closer in time.
    """
    cost = np.full((len(truth), len(predicted)), _NO_MATCH)
    for i, t in enumerate(truth):
        for j, p in enumerate(predicted):
            if t.rule != p.rule or t.direction != p.direction:
                continue
            dt = max(0.0, t.time - p.time, p.time - t.latest)
            dist = 0.0 if p.point is None else float(np.hypot(p.point[0] - t.point[0],
                                                             p.point[1] - t.point[1]))
            if dt <= tolerance_s and dist <= max_dist:
                cost[i, j] = dt + dist / max(max_dist, 1e-9) * 1e-3 + t.dont_care * 10.0
    return cost


def match_events(truth: list[TruthEvent], predicted: list[PredictedEvent], tolerance_s: float,
                 video_seconds: float, max_dist: float = 40.0) -> EventScore:
    """One-to-one matching of predictions to truth (Hungarian, true events preferred).

    A prediction paired with a don't-care truth counts neither way; an unpaired don't-care
    truth is not a miss.
    """
    cost = _cost(truth, predicted, tolerance_s, max_dist)
    pairs: list[tuple[int, int]] = []
    if cost.size:
        rows, cols = linear_sum_assignment(cost)
        pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _NO_MATCH]
    real = [(r, c) for r, c in pairs if not truth[r].dont_care]
    dont_care = len(pairs) - len(real)
    tp = len(real)
    fp = len(predicted) - len(pairs)
    fn = sum(not t.dont_care for t in truth) - tp
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delays = tuple(_detected(predicted[c]) - truth[r].time for r, c in real)
    return EventScore(tp, fp, fn, dont_care, precision, recall, f1,
                      fp / (video_seconds / 3600) if video_seconds > 0 else 0.0, delays)


def _detected(p: PredictedEvent) -> float:
    return p.time if p.detected is None else p.detected


def chance_level(truth: list[TruthEvent], predicted: list[PredictedEvent], tolerance_s: float,
                 video_seconds: float, max_dist: float = 40.0, draws: int = 200,
                 seed: int = 0) -> dict[str, float]:
    """Mean precision and recall of the same predictions at uniformly random times: what a
    detector that knows where but not when would score (how much the timing test means)."""
    rng = np.random.default_rng(seed)
    p, r = [], []
    for _ in range(draws):
        moved = [PredictedEvent(e.rule, e.direction, float(rng.uniform(0, video_seconds)),
                                e.point) for e in predicted]
        s = match_events(truth, moved, tolerance_s, video_seconds, max_dist)
        p.append(s.precision)
        r.append(s.recall)
    return {"precision": round(float(np.mean(p)), 4), "recall": round(float(np.mean(r)), 4)}


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
