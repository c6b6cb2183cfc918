"""System shared memory for the input tensor when Triton runs on the same host.

A pool of regions (one per request in flight) registered with the server; a request writes its
frames into a free region and sends only the region's name, not the bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class ShmRegion:
    name: str
    key: str
    byte_size: int
    handle: Any

    def write(self, batch: np.ndarray) -> None:
        import tritonclient.utils.shared_memory as shm  # noqa: PLC0415

        if batch.nbytes > self.byte_size:
            raise ValueError(f"batch of {batch.nbytes} bytes exceeds region {self.byte_size}")
        shm.set_shared_memory_region(self.handle, [np.ascontiguousarray(batch)])


class InputShmPool:
    """``count`` regions of ``max_batch`` frames each, registered with the Triton server."""

    def __init__(self, client: Any, model: str, max_batch: int, size: tuple[int, int],
                 count: int) -> None:
        import tritonclient.utils.shared_memory as shm  # noqa: PLC0415

        self._client = client
        w, h = size
        byte_size = max_batch * h * w * 3
        prefix = f"perishield_{os.getpid()}_{id(self) & 0xFFFF:x}_{model}"
        self.regions = [
            ShmRegion(f"{prefix}_{i}", f"/{prefix}_{i}", byte_size,
                      shm.create_shared_memory_region(f"{prefix}_{i}", f"/{prefix}_{i}",
                                                      byte_size))
            for i in range(count)]
        self._free: asyncio.Queue[ShmRegion] = asyncio.Queue()
        for r in self.regions:
            self._free.put_nowait(r)

    async def register(self) -> None:
        """(Re-)register every region; after a server restart the server has forgotten them."""
        for r in self.regions:
            with contextlib.suppress(Exception):
                await self._client.unregister_system_shared_memory(r.name)
            await self._client.register_system_shared_memory(r.name, r.key, r.byte_size)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[ShmRegion]:
        region = await self._free.get()
        try:
            yield region
        finally:
            self._free.put_nowait(region)

    async def release(self) -> None:
        import tritonclient.utils.shared_memory as shm  # noqa: PLC0415

        for r in self.regions:
            with contextlib.suppress(Exception):
                await self._client.unregister_system_shared_memory(r.name)
            shm.destroy_shared_memory_region(r.handle)
        self.regions = []
