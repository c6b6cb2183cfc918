"""ByteTrack (Zhang et al., ECCV 2022): associate every detection box, high scores first.

All tracks of a camera live in parallel numpy arrays, so prediction, gating and the Kalman
update run as a few array operations per frame whatever the number of objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trackers import kalman
from trackers.blind import BlindTime
from trackers.matching import iou_matrix, linear_assignment

TRACKED, LOST = 0, 1
_CLASS_MISMATCH = 2.0  # added to a cost: boxes of another class never match a track


@dataclass(frozen=True, slots=True)
class ByteTrackConfig:
    """Thresholds of ByteTrack.

    Attributes:
        high_threshold: detections at or above this score take part in the first association.
        low_threshold: detections between this and ``high_threshold`` only extend existing tracks.
        new_track_threshold: unmatched high detections at or above this start a track.
        match_iou: minimum IoU of a first-stage match.
        low_match_iou: minimum IoU of a second-stage (low score) match.
        new_match_iou: minimum IoU matching a tentative track.
        lost_s: seconds a lost track waits to be matched again before it is dropped.
        min_hits: matched frames before a track is confirmed and gets an id.
        reach: how far from its predicted centre a lost track may be found again, in box
            heights: ``reach * (1 + seconds lost)`` (occlusions: the box no longer overlaps).
        bridge_s: the longest stretch without frames (see ``bridge``) that does not count
            against ``lost_s``.
    """

    high_threshold: float = 0.5
    low_threshold: float = 0.1
    new_track_threshold: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    new_match_iou: float = 0.3
    lost_s: float = 3.0
    min_hits: int = 2
    reach: float = 0.3
    bridge_s: float = 15.0


class _Tracks:
    """Parallel arrays of every live track."""

    def __init__(self) -> None:
        self.kf = kalman.KalmanState.empty()
        self.ids = np.zeros(0, np.int64)  # -1 while tentative
        self.state = np.zeros(0, np.int8)
        self.hits = np.zeros(0, np.int64)
        self.last_seen = np.zeros(0, np.float64)
        self.class_id = np.zeros(0, np.int64)
        self.boxes = np.empty(0, object)  # per tentative track: its (t, xyxy) so far

    def __len__(self) -> int:
        return len(self.ids)

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        self.kf = self.kf.select(mask)
        for name in ("ids", "state", "hits", "last_seen", "class_id", "boxes"):
            setattr(self, name, getattr(self, name)[mask])

    def add(self, xyxy: npt.NDArray[np.float32], class_id: npt.NDArray[np.int64],
            ids: npt.NDArray[np.int64], t: float) -> None:
        n = len(xyxy)
        self.kf = self.kf.extend(kalman.KalmanState.initiate(kalman.xyxy_to_xyah(xyxy)))
        self.ids = np.concatenate([self.ids, ids])
        self.state = np.concatenate([self.state, np.full(n, TRACKED, np.int8)])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.last_seen = np.concatenate([self.last_seen, np.full(n, t)])
        self.class_id = np.concatenate([self.class_id, class_id])
        boxes = np.empty(n, object)
        boxes[:] = [[(t, b)] for b in xyxy]
        self.boxes = np.concatenate([self.boxes, boxes])


class ByteTrack:
    """ByteTrack for one camera.

    Every track is predicted once per frame and the IoU of all predicted boxes with all
    detections is computed once; the three association stages (confirmed tracks with high
    scores, still-tracked leftovers with low scores, tentative tracks with the high leftovers)
    pick their blocks of that matrix, and all matched tracks get one Kalman update at the end
    (the stages touch disjoint tracks, so this equals updating after each stage).

    Example:
        >>> bt = ByteTrack()
        >>> boxes = np.array([[10, 10, 50, 120]], np.float32)
        >>> [int(bt.update(boxes, np.array([0.9], np.float32), np.array([0]), t / 10)[0])
        ...  for t in range(3)]
        [-1, 1, 1]
    """

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        self.config = config or ByteTrackConfig()
        self.reset()

    def reset(self) -> None:
        self._tracks = _Tracks()
        self._next_id = 1
        self._blind = BlindTime(self.config.bridge_s)
        self.births: dict[int, list[tuple[float, npt.NDArray[np.float32]]]] = {}

    def bridge(self, t0: float, t1: float) -> None:
        """No frame was seen between ``t0`` and ``t1`` (a reconnect, a detector outage): that
        time does not count against a lost track, which is found again (within the reach of
        the whole gap) when the frames come back."""
        self._blind.add(t0, t1)

    def update(self, xyxy: npt.NDArray[np.float32], confidence: npt.NDArray[np.float32],
               class_id: npt.NDArray[np.int64], timestamp: float) -> npt.NDArray[np.int64]:
        """Associate this frame's boxes; returns a track id per box, -1 where none.

        ``births`` then holds, for each track confirmed in this frame, the (time, box) of the
        frames before, when it had no id yet: what it did then still happened.
        """
        cfg, tr = self.config, self._tracks
        self.births = {}
        out = np.full(len(xyxy), -1, np.int64)
        if not len(tr) and not len(xyxy):
            return out
        if len(tr):
            # Tracks not seen for lost_s are gone, also those no frame came for (an outage).
            stale = self._blind.lost(tr.last_seen, timestamp) > cfg.lost_s
            if stale.any():
                tr.keep(~stale)
            tr.kf.predict(tr.state != TRACKED)
        cost = self._cost(xyxy, class_id)
        high = np.flatnonzero(confidence >= cfg.high_threshold)
        low = np.flatnonzero((confidence >= cfg.low_threshold) & (confidence < cfg.high_threshold))

        confirmed = np.flatnonzero(tr.ids >= 0)
        m1, left_tracks, left_high = _associate(cost, confirmed, high, 1 - cfg.match_iou)
        still_tracked = left_tracks[tr.state[left_tracks] == TRACKED]
        m2, unmatched, _ = _associate(cost, still_tracked, low, 1 - cfg.low_match_iou)
        lost = left_tracks[tr.state[left_tracks] != TRACKED]
        if len(lost) and len(left_high):
            reach = self._reach_cost(lost, left_high, xyxy, class_id, timestamp)
            m_lost, _, left_high = _associate(reach, lost, left_high, 1.0)
        else:
            m_lost = _NO_MATCH
        tentative = np.flatnonzero(tr.ids < 0)
        m3, dead, new_high = _associate(cost, tentative, left_high, 1 - cfg.new_match_iou)

        matches = np.concatenate([m1, m2, m_lost, m3])
        self._apply(matches, xyxy, class_id, timestamp, out)
        tr.state[unmatched] = LOST
        self._drop(dead, timestamp)
        self._birth(new_high[confidence[new_high] >= cfg.new_track_threshold], xyxy, class_id,
                    timestamp, out)
        return out

    # -- steps ------------------------------------------------------------------------------

    def _cost(self, xyxy: npt.NDArray[np.float32], class_id: npt.NDArray[np.int64]
              ) -> npt.NDArray[np.float32]:
        """1 - IoU of every predicted track box with every detection; other classes never
        match."""
        tr = self._tracks
        cost = 1.0 - iou_matrix(kalman.xyah_to_xyxy(tr.kf.pos), xyxy)
        cost += _CLASS_MISMATCH * (tr.class_id[:, None] != class_id[None, :])
        return cost

    def _reach_cost(self, lost: npt.NDArray[np.int64], dets: npt.NDArray[np.int64],
                    xyxy: npt.NDArray[np.float32], class_id: npt.NDArray[np.int64], t: float
                    ) -> npt.NDArray[np.float32]:
        """Cost (≤ 1 within reach) of finding each lost track again at each detection: the
        distance of the centres over the reach, which grows with the time lost; other classes
        and boxes of another size never match. A full matrix, blocks picked by ``_associate``.
        """
        tr = self._tracks
        cost = np.full((len(tr), len(xyxy)), 2.0, np.float32)
        pos = tr.kf.pos[lost]  # predicted (cx, cy, a, h)
        box = kalman.xyxy_to_xyah(xyxy[dets])
        dist = np.hypot(pos[:, None, 0] - box[None, :, 0], pos[:, None, 1] - box[None, :, 1])
        gone = np.maximum(t - tr.last_seen[lost], 0.0)
        reach = self.config.reach * pos[:, 3] * (1.0 + gone)
        ratio = box[None, :, 3] / np.maximum(pos[:, None, 3], 1e-6)
        c = dist / reach[:, None]
        c[(ratio < 0.7) | (ratio > 1.4)] = 2.0
        c[tr.class_id[lost][:, None] != class_id[dets][None, :]] = 2.0
        cost[np.ix_(lost, dets)] = c
        return cost

    def _apply(self, matches: npt.NDArray[np.int64], xyxy: npt.NDArray[np.float32],
               class_id: npt.NDArray[np.int64], t: float, out: npt.NDArray[np.int64]) -> None:
        """Kalman-update matched tracks, confirm those with enough hits, write their ids."""
        if not len(matches):
            return
        tr = self._tracks
        ti, di = matches[:, 0], matches[:, 1]
        tr.kf.update(ti, kalman.xyxy_to_xyah(xyxy[di]))
        tr.state[ti] = TRACKED
        tr.hits[ti] += 1
        tr.last_seen[ti] = t
        tr.class_id[ti] = class_id[di]
        tentative = tr.ids[ti] < 0
        for k, d in zip(ti[tentative].tolist(), di[tentative].tolist(), strict=True):
            tr.boxes[k].append((t, xyxy[d]))
        self._confirm(ti[tentative & (tr.hits[ti] >= self.config.min_hits)])
        out[di] = tr.ids[ti]

    def _confirm(self, idx: npt.NDArray[np.int64]) -> None:
        n = len(idx)
        if n:
            tr = self._tracks
            tr.ids[idx] = np.arange(self._next_id, self._next_id + n)
            self._next_id += n
            for k in idx.tolist():
                self.births[int(tr.ids[k])] = tr.boxes[k][:-1]
                tr.boxes[k] = None

    def _drop(self, tentative_unmatched: npt.NDArray[np.int64], t: float) -> None:
        tr = self._tracks
        if len(tentative_unmatched):
            keep = np.ones(len(tr), bool)
            keep[tentative_unmatched] = False
            tr.keep(keep)
        self._blind.forget_before(float(tr.last_seen.min()) if len(tr) else t)

    def _birth(self, dets: npt.NDArray[np.int64], xyxy: npt.NDArray[np.float32],
               class_id: npt.NDArray[np.int64], t: float, out: npt.NDArray[np.int64]) -> None:
        if not len(dets):
            return
        tr = self._tracks
        first = len(tr)
        tr.add(xyxy[dets], class_id[dets], np.full(len(dets), -1, np.int64), t)
        if self.config.min_hits <= 1:
            new = np.arange(first, len(tr))
            self._confirm(new)
            out[dets] = tr.ids[new]


_NO_MATCH = np.zeros((0, 2), np.int64)


def _associate(cost: npt.NDArray[np.float32], tracks: npt.NDArray[np.int64],
               dets: npt.NDArray[np.int64], max_cost: float
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Match track rows to detection columns of ``cost``; returns global index pairs and the
    unmatched tracks and detections."""
    if not len(tracks) or not len(dets):
        return _NO_MATCH, tracks, dets
    pairs, un_t, un_d = linear_assignment(cost[np.ix_(tracks, dets)], max_cost)
    matches = np.stack([tracks[pairs[:, 0]], dets[pairs[:, 1]]], axis=1)
    return matches, tracks[un_t], dets[un_d]
