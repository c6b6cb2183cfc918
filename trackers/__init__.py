"""Multi-object trackers. Pure computation: no I/O, no global state, one instance per camera."""

from trackers.base import Tracker
from trackers.bytetrack import ByteTrack, ByteTrackConfig

__all__ = ["ByteTrack", "ByteTrackConfig", "Tracker"]
