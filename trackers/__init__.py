"""Multi-object trackers. Pure computation: no I/O, no global state, one instance per camera
(``ByteTrack``) or per batch of cameras (``ByteTrackBatch``)."""

from trackers.base import Tracker
from trackers.bytetrack import ByteTrack, ByteTrackBatch, ByteTrackConfig, CameraFrame

__all__ = ["ByteTrack", "ByteTrackBatch", "ByteTrackConfig", "CameraFrame", "Tracker"]
