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

    def frames(self, n: int, size: tuple[int, int]) -> np.ndarray:
        """A writable uint8 view (n, h, w, 3) of the region: frames made straight into it."""
        import tritonclient.utils.shared_memory as shm  # noqa: PLC0415

        w, h = size
        if n * h * w * 3 > self.byte_size:
            raise ValueError(f"{n} frames of {w}x{h} exceed region {self.byte_size}")
        return shm.get_contents_as_numpy(self.handle, np.uint8, [n, h, w, 3])


class InputShmPool:
    """``count`` regions of ``max_batch`` frames each, registered with the Triton server."""

    def __init__(self, client: Any, model: str, max_batch: int, size: tuple[int, int],
                 count: int, headers: dict[str, str] | None = None) -> None:
        import tritonclient.utils.shared_memory as shm  # noqa: PLC0415

        self._client = client
        self._headers = headers
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
        """Register the regions the server does not hold (all of them at first; after a server
        restart, those it has forgotten). Errors are the client's (``InferenceServerException``)."""
        status = await self._client.get_system_shared_memory_status(headers=self._headers,
                                                                   as_json=True)
        held = {(r["name"], r["key"], int(r["byte_size"]))
                for r in status.get("regions", {}).values()}
        for r in self.regions:
            if (r.name, r.key, r.byte_size) in held:
                continue
            with contextlib.suppress(Exception):  # a region of that name but another shape
                await self._client.unregister_system_shared_memory(r.name,
                                                                   headers=self._headers)
            await self._client.register_system_shared_memory(r.name, r.key, r.byte_size,
                                                             headers=self._headers)

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
                await self._client.unregister_system_shared_memory(r.name,
                                                                   headers=self._headers)
            shm.destroy_shared_memory_region(r.handle)
        self.regions = []
