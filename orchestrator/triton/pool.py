"""Several Triton servers as one detector: requests spread by load, failover between them.

Each server gets its own ``TritonDetector`` (its channel, shared memory, deadline, backoff and
probe). A request goes to the server with the fewest requests in flight among those that answer;
if that server turns out to be gone (``DetectorUnavailable``), the same frames go to the next
one, so cameras go on while a server restarts or a GPU host is lost. A server that is down is
probed again (through its own backoff) when the others are busy or down too. The pool is down
only when every server is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from orchestrator.config import DetectorConfig
from orchestrator.detect.base import DetectorError, DetectorUnavailable, Image
from orchestrator.detections import Detections
from orchestrator.triton.client import TritonDetector

log = logging.getLogger(__name__)


class TritonPool:
    """An ``AsyncDetector`` over every server of ``detector.triton.url`` (a list)."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self.members = [
            TritonDetector(config.model_copy(update={"triton": config.triton.model_copy(
                update={"url": url})}))
            for url in config.triton.servers]
        self._inflight = [0] * len(self.members)
        self.max_batch = config.max_batch
        self.max_inflight = sum(m.max_inflight for m in self.members)

    async def start(self) -> None:
        """Connect to and check every server; one that cannot be used is a clear error."""
        try:
            for m in self.members:
                await m.start()
        except DetectorError:
            await self.aclose()
            raise
        self.max_batch = min(m.max_batch for m in self.members)
        self.max_inflight = sum(m.max_inflight for m in self.members)  # as the models say
        sizes = {m.input_size for m in self.members}
        if len(sizes) != 1:
            await self.aclose()
            raise DetectorError(f"Triton servers {self.config.triton.servers} serve "
                                f"{self.config.triton.model!r} at different input sizes {sizes}")

    @property
    def available(self) -> bool:
        return any(m.available for m in self.members)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.members[0].input_size

    @property
    def bytes_sent(self) -> int:
        return sum(m.bytes_sent for m in self.members)

    @property
    def frames_sent(self) -> int:
        return sum(m.frames_sent for m in self.members)

    @property
    def rejected(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.members:
            for k, v in m.rejected.items():
                out[k] = out.get(k, 0) + v
        return out

    def _order(self) -> list[int]:
        """Servers to try: those that answer, fewest in flight first; then the ones down."""
        return sorted(range(len(self.members)),
                      key=lambda i: (not self.members[i].available, self._inflight[i]))

    async def detect_async(self, frames: list[Image]) -> list[Detections]:
        last: DetectorUnavailable | None = None
        for i in self._order():
            self._inflight[i] += 1
            try:
                return await self.members[i].detect_async(frames)
            except DetectorUnavailable as e:  # gone: the next server takes these frames
                last = e
            finally:
                self._inflight[i] -= 1
        raise DetectorUnavailable(f"every Triton server is down: {last}")

    async def statistics(self) -> dict[str, Any]:
        """Every answering server's statistics: counts and batch sizes added up."""
        parts = await asyncio.gather(*(m.statistics() for m in self.members if m.available),
                                     return_exceptions=True)
        out: dict[str, Any] = {"inference_count": 0, "execution_count": 0, "batch_sizes": {}}
        for p in parts:
            if isinstance(p, BaseException):
                continue
            out["inference_count"] += p["inference_count"]
            out["execution_count"] += p["execution_count"]
            for b, n in p["batch_sizes"].items():
                out["batch_sizes"][b] = out["batch_sizes"].get(b, 0) + n
        return out

    async def aclose(self) -> None:
        for m in self.members:
            await m.aclose()

    def close(self) -> None:
        """Sync close for callers outside the loop (the clients close with the loop)."""
