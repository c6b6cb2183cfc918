"""Ingest: files and RTSP through PyAV, decoded off the event loop."""

from orchestrator.ingest.packets import PacketRing, StoredPacket, write_clip
from orchestrator.ingest.source import AnalysisFrame, SourceError, VideoSource, redact

__all__ = ["AnalysisFrame", "PacketRing", "SourceError", "StoredPacket", "VideoSource", "redact",
           "write_clip"]
