"""Ingest: files and RTSP through PyAV, decoded off the event loop."""

from orchestrator.ingest.packets import PacketRing, StoredPacket, write_clip
from orchestrator.ingest.source import (
    AnalysisFrame,
    SourceError,
    StreamStalled,
    VideoSource,
    open_container,
    redact,
)

__all__ = ["AnalysisFrame", "PacketRing", "SourceError", "StoredPacket", "StreamStalled",
           "VideoSource", "open_container", "redact", "write_clip"]
