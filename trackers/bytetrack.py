"""ByteTrack (Zhang et al., ECCV 2022): associate every detection box, high scores first.

All tracks of all cameras live in parallel numpy arrays with a camera index, so prediction,
gating and the Kalman update run as a few array operations per batch of frames whatever the
number of objects and cameras (``ByteTrackBatch``); ``ByteTrack`` is one camera.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from trackers import kalman
from trackers.blind import BlindTime
from trackers.matching import iou_pairs, linear_assignment

TRACKED, LOST = 0, 1
_MISMATCH = 2.0  # added to a cost: boxes of another class or camera never match a track
RUN_HEIGHTS_S = 2.0  # a person running: about two body heights a second


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
    """Parallel arrays of every live track, of every camera (``cam``)."""

    FIELDS = ("cam", "ids", "state", "hits", "last_seen", "class_id", "boxes")

    def __init__(self) -> None:
        self.kf = kalman.KalmanState.empty()
        self.cam = np.zeros(0, np.int64)
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
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name)[mask])

    def split(self, mask: npt.NDArray[np.bool_]) -> _Tracks:
        """Takes the tracks of ``mask`` out into a new ``_Tracks`` (order kept in both)."""
        out = _Tracks()
        out.kf = self.kf.select(mask)
        for name in self.FIELDS:
            setattr(out, name, getattr(self, name)[mask])
        self.keep(~mask)
        return out

    def extend(self, other: _Tracks) -> None:
        self.kf = self.kf.extend(other.kf)
        for name in self.FIELDS:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def add(self, xyxy: npt.NDArray[np.float32], class_id: npt.NDArray[np.int64],
            cam: npt.NDArray[np.int64], t: npt.NDArray[np.float64]) -> None:
        """New tentative tracks."""
        n = len(xyxy)
        new = _Tracks()
        new.kf = kalman.KalmanState.initiate(kalman.xyxy_to_xyah(xyxy))
        new.cam, new.ids = cam, np.full(n, -1, np.int64)
        new.state, new.hits = np.full(n, TRACKED, np.int8), np.ones(n, np.int64)
        new.last_seen, new.class_id = t, class_id
        new.boxes = np.empty(n, object)
        new.boxes[:] = [[(float(ti), b)] for ti, b in zip(t, xyxy, strict=True)]
        self.extend(new)


@dataclass(slots=True)
class _Camera:
    """What ByteTrack keeps per camera besides its tracks."""

    blind: BlindTime
    next_id: int = 1
    births: dict[int, list[tuple[float, npt.NDArray[np.float32]]]] = field(
        default_factory=dict)


class CameraFrame(NamedTuple):
    """One camera's detections of one frame, for ``ByteTrackBatch.update``."""

    cam: int
    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int64]
    timestamp: float


class ByteTrackBatch:
    """ByteTrack for many cameras, one frame of each camera per call.

    The tracks of every camera live in one set of parallel arrays with a camera index, so a
    batch of frames (the detector's batch) is predicted, gated and Kalman-updated by the same
    handful of numpy calls whatever the number of cameras, and the Python per call is paid once
    per batch, not once per camera. A camera is a hard gate, like a class: the cost of a track
    and a box of different cameras is never admissible. The assignment is solved on the whole
    batch when each track's cheapest box is its own (the usual case) and per camera where two
    tracks want one box. Each camera's tracks, ids and births are exactly those of tracking it
    alone (``ByteTrack`` is a batch of one camera).
    """

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        self.config = config or ByteTrackConfig()
        self._tracks = _Tracks()
        self._cams: dict[int, _Camera] = {}
        self._next_cam = 0
        self._t_of = np.zeros(0, np.float64)  # per camera slot: the time of its frame now
        self._member = np.zeros(0, bool)  # per camera slot: in the batch now (scratch)
        self._gone: list[int] = []  # cameras to forget at the next update (any thread may add)

    def add_camera(self) -> int:
        """A new camera; returns its handle for ``update``."""
        cam = self._next_cam
        self._next_cam += 1
        self._cams[cam] = _Camera(BlindTime(self.config.bridge_s))
        return cam

    def remove_camera(self, cam: int) -> None:
        """Forget a camera and its tracks, at the next ``update`` (safe from any thread: a
        garbage collection may run it anywhere)."""
        self._gone.append(cam)

    def _forget_gone(self) -> None:
        while self._gone:
            cam = self._gone.pop()
            if self._cams.pop(cam, None) is not None:
                self._drop_tracks(cam)

    @property
    def cameras(self) -> int:
        """Cameras tracked now."""
        self._forget_gone()
        return len(self._cams)

    @property
    def tracks(self) -> int:
        """Tracks (tentative, tracked and lost) of every camera now."""
        self._forget_gone()
        return len(self._tracks)

    def alive(self, cam: int) -> int:
        """Tracks (tentative, tracked and lost) of camera ``cam`` now."""
        return int(np.count_nonzero(self._tracks.cam == cam))

    def reset(self, cam: int) -> None:
        """Forget every track of ``cam`` and restart its ids at 1."""
        self._drop_tracks(cam)
        self._cams[cam] = _Camera(BlindTime(self.config.bridge_s))

    def _drop_tracks(self, cam: int) -> None:
        mine = self._tracks.cam == cam
        if mine.any():
            self._tracks.keep(~mine)

    def bridge(self, cam: int, t0: float, t1: float) -> None:
        """Camera ``cam`` saw no frame between ``t0`` and ``t1`` (see ``ByteTrack.bridge``)."""
        self._cams[cam].blind.add(t0, t1)

    def births(self, cam: int) -> dict[int, list[tuple[float, npt.NDArray[np.float32]]]]:
        """The tracks of ``cam`` confirmed by the last update: their earlier (time, box)."""
        return self._cams[cam].births

    def update(self, frames: Sequence[CameraFrame]) -> list[npt.NDArray[np.int64]]:
        """Associate one frame's boxes for each camera of ``frames`` (each camera at most once);
        returns, per frame, a track id per box (-1 where none)."""
        self._forget_gone()
        listed = [f.cam for f in frames]
        if len(set(listed)) != len(listed):
            raise ValueError("a batch holds at most one frame per camera")
        cams = np.array(listed, np.int64)
        for f in frames:
            self._cams[f.cam].births = {}
        counts = [len(f.xyxy) for f in frames]
        xyxy = (np.concatenate([f.xyxy for f in frames]).astype(np.float32, copy=False)
                if frames else np.zeros((0, 4), np.float32))
        confidence = np.concatenate([f.confidence for f in frames]) if frames else np.zeros(0)
        class_id = (np.concatenate([f.class_id for f in frames]).astype(np.int64, copy=False)
                    if frames else np.zeros(0, np.int64))
        det_cam = np.repeat(cams, counts)
        if len(self._t_of) < self._next_cam:
            self._t_of = np.zeros(self._next_cam + 64, np.float64)
            self._member = np.zeros(len(self._t_of), bool)
        self._t_of[cams] = [f.timestamp for f in frames]
        det_t = self._t_of[det_cam]
        out = np.full(len(xyxy), -1, np.int64)

        everyone = self._tracks
        self._member[cams] = True
        in_batch = self._member[everyone.cam]
        self._member[cams] = False
        tr = everyone if in_batch.all() else everyone.split(in_batch)
        if len(tr) or len(xyxy):
            self._tracks = tr
            self._step(cams, xyxy, confidence, class_id, det_cam, det_t, out)
            if tr is not everyone:
                everyone.extend(self._tracks)
                self._tracks = everyone
        return np.split(out, np.cumsum(counts)[:-1]) if frames else []

    # -- steps ------------------------------------------------------------------------------

    def _step(self, batch: npt.NDArray[np.int64], xyxy: npt.NDArray[np.float32],
              confidence: npt.NDArray[np.floating],
              class_id: npt.NDArray[np.int64], det_cam: npt.NDArray[np.int64],
              det_t: npt.NDArray[np.float64], out: npt.NDArray[np.int64]) -> None:
        """ByteTrack's step over the tracks of the cameras in the batch (``self._tracks``)."""
        cfg, tr = self.config, self._tracks
        if len(tr):
            # Tracks not seen for lost_s are gone, also those no frame came for (an outage).
            stale = self._lost(tr, batch) > cfg.lost_s
            if stale.any():
                tr.keep(~stale)
            tr.kf.predict(tr.state != TRACKED)
        cost = self._cost(xyxy, class_id, det_cam)
        high = np.flatnonzero(confidence >= cfg.high_threshold)
        low = np.flatnonzero((confidence >= cfg.low_threshold) & (confidence < cfg.high_threshold))
        cams = (tr.cam, det_cam)

        confirmed = np.flatnonzero(tr.ids >= 0)
        # Tracks seen on the last frame first, lost ones on the boxes left (see ByteTrack).
        seen = tr.state[confirmed] == TRACKED
        m1, still_tracked, left_high = _associate(cost, confirmed[seen], high,
                                                  1 - cfg.match_iou, cams)
        m_back, lost, left_high = _associate(cost, confirmed[~seen], left_high,
                                             1 - cfg.match_iou, cams)
        m2, unmatched, _ = _associate(cost, still_tracked, low, 1 - cfg.low_match_iou, cams)
        if len(lost) and len(left_high):
            reach = self._reach_cost(lost, left_high, xyxy, class_id, det_cam, det_t)
            m_lost, _, left_high = _associate(reach, lost, left_high, 1.0, cams)
        else:
            m_lost = _NO_MATCH
        tentative = np.flatnonzero(tr.ids < 0)
        m3, dead, new_high = _associate(cost, tentative, left_high, 1 - cfg.new_match_iou, cams)
        # A track of one box knows nothing of its velocity: a runner at a low frame rate has
        # left its box by the next frame. Found by reach, as a lost track is.
        first = tr.hits[dead] == 1
        if first.any() and len(new_high):
            reach = self._reach_cost(dead[first], new_high, xyxy, class_id, det_cam, det_t,
                                     RUN_HEIGHTS_S)
            m4, unfound, new_high = _associate(reach, dead[first], new_high, 1.0, cams)
            dead = np.concatenate([dead[~first], unfound])
        else:
            m4 = _NO_MATCH

        matches = np.concatenate([m1, m_back, m2, m_lost, m3, m4])
        self._apply(matches, xyxy, class_id, det_t, out)
        tr.state[unmatched] = LOST
        self._drop(dead, batch)
        born = new_high[confidence[new_high] >= cfg.new_track_threshold]
        self._birth(born, xyxy, class_id, det_cam, det_t, out)

    def _lost(self, tr: _Tracks, batch: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Seconds each track's camera could see since the track was last seen."""
        lost = self._t_of[tr.cam] - tr.last_seen
        for cam in batch.tolist():
            blind = self._cams[cam].blind
            if blind.has_gaps:
                mine = tr.cam == cam
                lost[mine] = blind.lost(tr.last_seen[mine], float(self._t_of[cam]))
        return lost

    def _cost(self, xyxy: npt.NDArray[np.float32], class_id: npt.NDArray[np.int64],
              det_cam: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """1 - IoU of every predicted track box with every detection; other classes and other
        cameras never match."""
        tr = self._tracks
        cost = np.full((len(tr), len(xyxy)), 1.0 + _MISMATCH, np.float32)
        rows, cols = _same_camera(tr.cam, det_cam)
        if len(rows):  # only pairs of one camera: the overlap work grows with the cameras
            iou = iou_pairs(kalman.xyah_to_xyxy(tr.kf.pos)[rows], xyxy[cols])
            cost[rows, cols] = 1.0 - iou + _MISMATCH * (tr.class_id[rows] != class_id[cols])
        return cost

    def _reach_cost(self, lost: npt.NDArray[np.int64], dets: npt.NDArray[np.int64],
                    xyxy: npt.NDArray[np.float32], class_id: npt.NDArray[np.int64],
                    det_cam: npt.NDArray[np.int64], det_t: npt.NDArray[np.float64],
                    speed: float | None = None) -> npt.NDArray[np.float32]:
        """Cost (≤ 1 within reach) of finding each lost track again at each detection: the
        distance of the centres over the reach, which grows with the time lost (at most
        ``speed`` box heights a second, if given); other classes, other cameras and boxes of
        another size never match. A full matrix, blocks picked by ``_associate``.
        """
        tr = self._tracks
        cost = np.full((len(tr), len(xyxy)), 2.0, np.float32)
        pos = tr.kf.pos[lost]  # predicted (cx, cy, a, h)
        box = kalman.xyxy_to_xyah(xyxy[dets])
        dist = np.hypot(pos[:, None, 0] - box[None, :, 0], pos[:, None, 1] - box[None, :, 1])
        gone = np.maximum(self._t_of[tr.cam[lost]] - tr.last_seen[lost], 0.0)
        reach = self.config.reach * pos[:, 3] * (1.0 + gone)
        if speed is not None:  # (a frame with its predecessor's timestamp: reach ~0)
            reach = np.maximum(np.minimum(reach, speed * pos[:, 3] * gone), 1e-6)
        ratio = box[None, :, 3] / np.maximum(pos[:, None, 3], 1e-6)
        c = dist / reach[:, None]
        c[(ratio < 0.7) | (ratio > 1.4)] = 2.0
        c[tr.class_id[lost][:, None] != class_id[dets][None, :]] = 2.0
        c[tr.cam[lost][:, None] != det_cam[dets][None, :]] = 2.0
        cost[np.ix_(lost, dets)] = c
        return cost

    def _apply(self, matches: npt.NDArray[np.int64], xyxy: npt.NDArray[np.float32],
               class_id: npt.NDArray[np.int64], det_t: npt.NDArray[np.float64],
               out: npt.NDArray[np.int64]) -> None:
        """Kalman-update matched tracks, confirm those with enough hits, write their ids."""
        if not len(matches):
            return
        tr = self._tracks
        ti, di = matches[:, 0], matches[:, 1]
        z = kalman.xyxy_to_xyah(xyxy[di])
        # A new track's second box: its move from the first (where its prediction still is,
        # at rest) is its velocity. Left to the filter, a track started at rest lags a walker
        # for frames, more the fewer frames a second, and the boxes it lags onto are others'.
        second = tr.hits[ti] == 1
        if second.any():
            k = ti[second]
            tr.kf.vel[k, :2] = z[second, :2] - tr.kf.pos[k, :2]
            tr.kf.pos[k, :2] = z[second, :2]
        tr.kf.update(ti, z)
        tr.state[ti] = TRACKED
        tr.hits[ti] += 1
        tr.last_seen[ti] = det_t[di]
        tr.class_id[ti] = class_id[di]
        tentative = tr.ids[ti] < 0
        for k, d in zip(ti[tentative].tolist(), di[tentative].tolist(), strict=True):
            tr.boxes[k].append((float(det_t[d]), xyxy[d]))
        self._confirm(ti[tentative & (tr.hits[ti] >= self.config.min_hits)])
        out[di] = tr.ids[ti]

    def _confirm(self, idx: npt.NDArray[np.int64]) -> None:
        """Ids for the tracks ``idx``, numbered per camera in the order given."""
        if not len(idx):
            return
        tr = self._tracks
        for cam in np.unique(tr.cam[idx]).tolist():
            mine = idx[tr.cam[idx] == cam]
            c = self._cams[cam]
            tr.ids[mine] = np.arange(c.next_id, c.next_id + len(mine))
            c.next_id += len(mine)
            for k in mine.tolist():
                c.births[int(tr.ids[k])] = tr.boxes[k][:-1]
                tr.boxes[k] = None

    def _drop(self, tentative_unmatched: npt.NDArray[np.int64],
              batch: npt.NDArray[np.int64]) -> None:
        tr = self._tracks
        if len(tentative_unmatched):
            keep = np.ones(len(tr), bool)
            keep[tentative_unmatched] = False
            tr.keep(keep)
        for cam in batch.tolist():
            c = self._cams[cam]
            if c.blind.has_gaps:
                mine = tr.cam == cam
                now = self._t_of[cam]
                c.blind.forget_before(float(tr.last_seen[mine].min()) if mine.any() else now)

    def _birth(self, dets: npt.NDArray[np.int64], xyxy: npt.NDArray[np.float32],
               class_id: npt.NDArray[np.int64], det_cam: npt.NDArray[np.int64],
               det_t: npt.NDArray[np.float64], out: npt.NDArray[np.int64]) -> None:
        if not len(dets):
            return
        tr = self._tracks
        first = len(tr)
        tr.add(xyxy[dets], class_id[dets], det_cam[dets], det_t[dets])
        if self.config.min_hits <= 1:
            new = np.arange(first, len(tr))
            self._confirm(new)
            out[dets] = tr.ids[new]


class ByteTrack:
    """ByteTrack for one camera: its own ``ByteTrackBatch`` of one, or one camera of a shared
    batch (``batch``), which tracks it together with the others (``frame`` makes its entry
    of a batch; ``update`` tracks it alone, now). A camera of a shared batch leaves it when
    this object is gone.

    Every track is predicted once per frame and the IoU of all predicted boxes with all
    detections is computed once; the association stages (confirmed tracks seen on the last
    frame with high scores, then lost confirmed tracks with the high leftovers, still-tracked
    leftovers with low scores, lost leftovers by reach, tentative tracks with the high
    leftovers, and those of one box by reach) pick their blocks of that matrix, and all
    matched tracks get one Kalman update at the end (the stages touch disjoint tracks, so
    this equals updating after each stage).
    Tracks seen on the last frame go first, as in DeepSORT's matching cascade: matched all at
    once, a lost track whose prediction drifted onto a passer-by's box would take it and push
    the passer-by's own track onto the box of the person found again (an id swap). A new
    track's velocity is the move between its first two boxes (the filter alone starts at
    rest and takes frames to learn it: at 5 fps the lagging prediction lands on others' boxes).

    Example:
        >>> bt = ByteTrack()
        >>> boxes = np.array([[10, 10, 50, 120]], np.float32)
        >>> [int(bt.update(boxes, np.array([0.9], np.float32), np.array([0]), t / 10)[0])
        ...  for t in range(3)]
        [-1, 1, 1]
    """

    def __init__(self, config: ByteTrackConfig | None = None,
                 batch: ByteTrackBatch | None = None) -> None:
        if batch is not None and config is not None and config != batch.config:
            raise ValueError("a camera of a shared batch is tracked with the batch's settings")
        self._batch = batch or ByteTrackBatch(config)
        self._cam = self._batch.add_camera()
        if batch is not None:
            weakref.finalize(self, batch.remove_camera, self._cam)

    @property
    def config(self) -> ByteTrackConfig:
        return self._batch.config

    @property
    def births(self) -> dict[int, list[tuple[float, npt.NDArray[np.float32]]]]:
        """For each track confirmed by the last update: the (time, box) of the frames before,
        when it had no id yet: what it did then still happened."""
        return self._batch.births(self._cam)

    @property
    def alive(self) -> int:
        """Tracks (tentative, tracked and lost) of this camera now: while there is one, the
        objects it follows are still to be detected."""
        return self._batch.alive(self._cam)

    def reset(self) -> None:
        self._batch.reset(self._cam)

    def bridge(self, t0: float, t1: float) -> None:
        """No frame was seen between ``t0`` and ``t1`` (a reconnect, a detector outage): that
        time does not count against a lost track, which is found again (within the reach of
        the whole gap) when the frames come back."""
        self._batch.bridge(self._cam, t0, t1)

    @property
    def batch(self) -> ByteTrackBatch:
        return self._batch

    def frame(self, xyxy: npt.NDArray[np.float32], confidence: npt.NDArray[np.float32],
              class_id: npt.NDArray[np.int64], timestamp: float) -> CameraFrame:
        """This camera's entry of a ``ByteTrackBatch.update`` of its batch."""
        return CameraFrame(self._cam, xyxy, confidence, class_id, timestamp)

    def update(self, xyxy: npt.NDArray[np.float32], confidence: npt.NDArray[np.float32],
               class_id: npt.NDArray[np.int64], timestamp: float) -> npt.NDArray[np.int64]:
        """Associate this frame's boxes; returns a track id per box, -1 where none."""
        return self._batch.update([self.frame(xyxy, confidence, class_id, timestamp)])[0]


_NO_MATCH = np.zeros((0, 2), np.int64)


def _same_camera(track_cam: npt.NDArray[np.int64], det_cam: npt.NDArray[np.int64]
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (track, detection) pair of the same camera, as two index arrays."""
    order = np.argsort(track_cam, kind="stable")
    by_cam = track_cam[order]
    lo = np.searchsorted(by_cam, det_cam, "left")
    n = np.searchsorted(by_cam, det_cam, "right") - lo
    cols = np.repeat(np.arange(len(det_cam)), n)
    first = np.repeat(lo - (np.cumsum(n) - n), n)
    return order[np.arange(len(cols)) + first], cols


def _associate(cost: npt.NDArray[np.float32], tracks: npt.NDArray[np.int64],
               dets: npt.NDArray[np.int64], max_cost: float,
               cams: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Match track rows to detection columns of ``cost``; returns global index pairs and the
    unmatched tracks and detections.

    ``cams`` holds the camera of each track and of each detection: pairs across cameras are
    never admissible (their cost is), so each track's cheapest admissible box is its own
    camera's; where two tracks want one box, that camera alone is solved by the Hungarian
    method, exactly as it would be tracked alone.
    """
    if not len(tracks) or not len(dets):
        return _NO_MATCH, tracks, dets
    sub = cost[np.ix_(tracks, dets)]
    n, m = sub.shape
    best = sub.argmin(axis=1)
    ok = sub[np.arange(n), best] <= max_cost
    rows, cols = np.flatnonzero(ok), best[ok]
    if len(cols) > 1:
        wanted = np.bincount(cols)
        if wanted.max() > 1:
            track_cam, det_cam = cams[0][tracks], cams[1][dets]
            for cam in np.unique(det_cam[cols[wanted[cols] > 1]]).tolist():
                r, d = np.flatnonzero(track_cam == cam), np.flatnonzero(det_cam == cam)
                pairs, _, _ = linear_assignment(sub[np.ix_(r, d)], max_cost)
                others = track_cam[rows] != cam
                rows = np.concatenate([rows[others], r[pairs[:, 0]]])
                cols = np.concatenate([cols[others], d[pairs[:, 1]]])
            order = np.argsort(rows, kind="stable")
            rows, cols = rows[order], cols[order]
    free_r = np.ones(n, bool)
    free_r[rows] = False
    free_c = np.ones(m, bool)
    free_c[cols] = False
    matches = np.stack([tracks[rows], dets[cols]], axis=1)
    return matches, tracks[np.flatnonzero(free_r)], dets[np.flatnonzero(free_c)]
