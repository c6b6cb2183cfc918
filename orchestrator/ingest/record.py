"""Demux-only reading of a camera's recorded stream (the main stream) into its packet ring,
while the low-resolution substream is what gets decoded and analysed."""

from __future__ import annotations

import logging
import threading
from typing import Any

from orchestrator.ingest.packets import PacketRing, PacketStamper
from orchestrator.ingest.source import SourceError, open_container, redact

log = logging.getLogger(__name__)


class RecordingStream:
    """Keeps ``ring`` filled with the compressed packets of ``uri``; no decoding.

    Reconnects with exponential backoff until stopped. Packet times follow the analysed
    stream's clock: monotonic seconds for live sources, stream seconds for files.
    """

    def __init__(self, uri: str, ring: PacketRing, live: bool, rtsp_transport: str = "tcp",
                 timeout_s: float = 10.0, max_backoff_s: float = 30.0) -> None:
        self.uri = uri
        self.ring = ring
        self.live = live
        self.rtsp_transport = rtsp_transport
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.state = "connecting"
        self.reason = ""
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"record:{redact(uri)[-40:]}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                container = open_container(self.uri, self.rtsp_transport, self.timeout_s)
                try:
                    self.state, delay = "live", 0.5
                    self._demux(container)
                finally:
                    container.close()
                self.state, self.reason = "ended", "end of stream"
                if not self.live:
                    return
            except (SourceError, OSError, Exception) as e:  # noqa: BLE001 - keep recording
                self.state, self.reason = "failed", redact(str(e))
                log.warning("recording %s: %s", redact(self.uri), self.reason)
            self._stop.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)

    def _demux(self, container: Any) -> None:
        stream = container.streams.video[0]
        self.ring.reset(stream)
        stamper = PacketStamper(self.ring, stream, self.live)
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            stamper.add(packet)
            self.packets += 1
