"""Shared fixtures: the real demo video, its ground truth and the real detector weights."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
import pytest

from orchestrator.paths import PROJECT_ROOT, find_data, find_model

if TYPE_CHECKING:
    from orchestrator.service import Service

EXAMPLE = PROJECT_ROOT / "examples" / "demo.yaml"


async def run_until(service: Service, done: Callable[[], bool], timeout_s: float) -> None:
    """Run a live service until ``done()`` (polled), then stop it and wait for the end."""
    task = asyncio.create_task(service.run())
    deadline = time.monotonic() + timeout_s
    while not done():
        if task.done():
            task.result()
            return
        assert time.monotonic() < deadline, f"timed out: {service.stats}"
        await asyncio.sleep(0.05)
    service.request_stop()
    await asyncio.wait_for(task, 30)


async def until(cond: Callable[[], object], timeout_s: float, what: object = "") -> None:
    """Poll ``cond()`` on the running loop until it is truthy; fail after ``timeout_s``
    (``what``: shown on failure, e.g. the stats)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def stadtmitte() -> Path:
    return find_data("TUD-Stadtmitte.mp4")


@pytest.fixture(scope="session")
def stadtmitte_gt() -> Path:
    return find_data("TUD-Stadtmitte.gt.txt")


@pytest.fixture(scope="session")
def campus() -> Path:
    return find_data("TUD-Campus.mp4")


@pytest.fixture(scope="session")
def yolox_model() -> Path:
    return find_model("yolox_nano.onnx")


@pytest.fixture(scope="session")
def stadtmitte_frames(stadtmitte: Path) -> list[np.ndarray]:
    """The first 16 frames as BGR arrays."""
    with av.open(str(stadtmitte)) as c:
        frames = c.decode(video=0)
        return [next(frames).to_ndarray(format="bgr24") for _ in range(16)]


@pytest.fixture(scope="session")
def demo_config() -> Path:
    return EXAMPLE
