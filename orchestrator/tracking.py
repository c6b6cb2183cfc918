"""Tracking and rules of many cameras per call: the frames a detector batch gives back,
tracked, and their rules judged, at once."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt

from orchestrator.config import TrackerConfig
from orchestrator.detections import Detections
from orchestrator.rules import RuleBatch, RuleEngine, RuleHit
from trackers import ByteTrack, ByteTrackBatch, ByteTrackConfig


def bytetrack_config(config: TrackerConfig) -> ByteTrackConfig:
    return ByteTrackConfig(
        high_threshold=config.high_threshold, low_threshold=config.low_threshold,
        new_track_threshold=config.new_track_threshold, match_iou=config.match_iou,
        lost_s=config.lost_s, min_hits=config.min_hits, reach=config.reach,
        bridge_s=config.bridge_s)


class TrackingBatcher:
    """Tracks the cameras that ask in the same turn of the event loop with one call, and
    judges their rules together.

    The cameras of one detector batch get their detections in the same turn of the loop and
    ask for tracking right after; the first request schedules one flush for the next turn,
    which tracks all of them in one ``ByteTrackBatch.update`` and, for those that ask
    (``judge``), measures every camera's anchors against its zones and lines in one
    ``RuleBatch`` pass: numpy's per-call overhead is paid once per batch, not once per
    camera. Each camera's tracks and hits are exactly those of handling it alone.

    Example:
        >>> tb = TrackingBatcher(TrackerConfig())
        >>> cam = tb.tracker()
        >>> det = Detections(np.array([[10, 10, 50, 120]], np.float32),
        ...                  np.array([0.9], np.float32), np.array([0]))
        >>> async def three() -> list[int]:
        ...     return [int((await tb.update(cam, det, t / 10))[0]) for t in range(3)]
        >>> asyncio.run(three())
        [-1, 1, 1]
    """

    def __init__(self, config: TrackerConfig) -> None:
        self.batch = ByteTrackBatch(bytetrack_config(config))
        self.rules = RuleBatch()
        self._pending: list[_Pending] = []
        self.calls = 0  # batch updates
        self.frames = 0  # camera-frames tracked

    def tracker(self) -> ByteTrack:
        """A new camera of this batch (it leaves when the tracker is dropped)."""
        return ByteTrack(batch=self.batch)

    async def update(self, tracker: ByteTrack, det: Detections, t: float
                     ) -> npt.NDArray[np.int64]:
        """Track ids for ``det`` (a frame of ``tracker``'s camera at time ``t``)."""
        ids, _ = await self._ask(tracker, det, t, None)
        return ids

    async def judge(self, tracker: ByteTrack, det: Detections, t: float, rules: RuleEngine,
                    wall: float | None = None, size: tuple[int, int] | None = None
                    ) -> tuple[npt.NDArray[np.int64], list[RuleHit]]:
        """Track ids for ``det``, set on it, and the hits of ``rules`` on it (as
        ``rules.update(det, t, wall, size, tracker.births)`` would give them)."""
        return await self._ask(tracker, det, t, (rules, wall, size))

    async def _ask(self, tracker: ByteTrack, det: Detections, t: float,
                   judge: tuple[RuleEngine, float | None, tuple[int, int] | None] | None
                   ) -> tuple[npt.NDArray[np.int64], list[RuleHit]]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[npt.NDArray[np.int64], list[RuleHit]]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((tracker, det, t, judge, fut))
        return await fut

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            ids = self.batch.update([tr.frame(d.xyxy, d.confidence, d.class_id, t)
                                     for tr, d, t, _, _ in pending])
        except Exception as e:  # noqa: BLE001 - handed to every waiting camera
            for *_, fut in pending:
                if not fut.done():
                    fut.set_exception(e)
            return
        self.calls += 1
        self.frames += len(pending)
        # A camera whose wait was cancelled (stopped, drained) is not judged: its rules would
        # advance on a frame whose hits nobody records.
        asked = [i for i, p in enumerate(pending) if p[3] is not None and not p[4].done()]
        hits: dict[int, list[RuleHit] | Exception] = {}
        if asked:
            items = []
            for i in asked:
                tr, d, t, (rules, wall, size), _ = pending[i]  # type: ignore[misc]
                d.tracker_id = ids[i]
                items.append((rules, d, t, wall, size, tr.births))
            hits = dict(zip(asked, self.rules.judge_each(items), strict=True))
        for i, ((*_, fut), tid) in enumerate(zip(pending, ids, strict=True)):
            if fut.done():
                continue
            h = hits.get(i, [])
            if isinstance(h, Exception):
                fut.set_exception(h)
            else:
                fut.set_result((tid, h))


_Pending = tuple[ByteTrack, Detections, float,
                 tuple[RuleEngine, float | None, tuple[int, int] | None] | None,
                 "asyncio.Future[tuple[npt.NDArray[np.int64], list[RuleHit]]]"]
