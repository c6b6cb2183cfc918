"""Which source a camera reads, and a synthetic one for load tests and benchmarks.

``synthetic://640x480?fps=25`` produces frames at the camera's analysis rate with no decoding
(one prepared image), in real time: simulated cameras that cost the orchestrator nothing but
its own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol
from urllib.parse import parse_qs, urlparse

import numpy as np

from orchestrator.config import CameraConfig
from orchestrator.ingest.packets import PacketRing
from orchestrator.ingest.source import AnalysisFrame, SourceError, VideoSource


class FrameSource(Protocol):
    """What a camera pipeline reads: analysis frames, and counters of what it skipped."""

    @property
    def decoded(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    @property
    def decode_errors(self) -> int: ...

    def __aiter__(self) -> AsyncIterator[AnalysisFrame]: ...

    def stop(self) -> None: ...


@functools.cache
def scene_image(w: int, h: int) -> np.ndarray:
    """A still that compresses like a camera's picture (smooth gradients, a few edges, mild
    noise): snapshots of it cost what real ones do, unlike pure noise, which JPEG cannot
    compress. Made once per size and shared by every synthetic camera (read-only)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([90 + 60 * y / h, 110 + 40 * x / w, 100 + 30 * np.sin(x / 37.0)], axis=2)
    img[int(h * 0.55):, :] *= 0.7  # ground
    for k in range(6):  # posts
        x0 = int((k + 0.5) * w / 6)
        img[int(h * 0.2):int(h * 0.8), x0:x0 + max(2, w // 80)] = (60, 60, 70)
    img += np.random.default_rng(0).normal(0, 4, img.shape)
    out = np.clip(img, 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


@functools.cache
def replay_frames(path: str) -> np.ndarray:
    """Decoded frames (N, H, W, 3) uint8 from a .npy file, memory-mapped: every camera of every
    process on the host shares the same pages."""
    frames = np.load(path, mmap_mode="r")
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise SourceError(f"replay frames {path}: expected (N, H, W, 3) uint8, got "
                          f"{frames.shape} {frames.dtype}")
    return frames


class SyntheticSource:
    """Frames in real time at ``analysis_fps``, stamped like live frames: of one fixed image
    (``synthetic://WxH``), or replayed in a loop from decoded frames
    (``synthetic://replay?frames=PATH.npy``, each camera from a random frame on; a frame's
    ``index`` is its place in the file, which a recorded detector looks up)."""

    def __init__(self, uri: str, analysis_fps: float, duration_s: float | None = None) -> None:
        u = urlparse(uri)
        q = parse_qs(u.query)
        self.frames: np.ndarray | None = None
        if u.netloc == "replay":
            if "frames" not in q:
                raise SourceError(f"synthetic source {uri!r}: replay needs ?frames=PATH.npy")
            try:
                self.frames = replay_frames(q["frames"][0])
            except OSError as e:
                raise SourceError(f"synthetic source {uri!r}: {e}") from None
            h, w = self.frames.shape[1:3]
        else:
            try:
                w, h = (int(v) for v in (u.netloc or "640x480").split("x"))
            except ValueError:
                raise SourceError(f"synthetic source {uri!r}: expected synthetic://WxH or "
                                  "synthetic://replay?frames=PATH.npy") from None
        self.duration_s = float(q["seconds"][0]) if "seconds" in q else duration_s
        self.period = 1.0 / analysis_fps
        self.image = scene_image(w, h)
        self.decoded = self.dropped = self.decode_errors = 0
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def __aiter__(self) -> AsyncIterator[AnalysisFrame]:
        # Cameras are not in phase with each other: start at a random point of the period.
        t0 = time.monotonic() + random.random() * self.period
        start = random.randrange(len(self.frames)) if self.frames is not None else 0
        k = 0
        while not self._stopped.is_set():
            due = t0 + k * self.period
            now = time.monotonic()
            if now < due:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), due - now)
                if self._stopped.is_set():
                    return
            elif now - due > self.period:  # behind: skip what is stale, count it
                skipped = int((now - due) / self.period)
                self.dropped += skipped
                k += skipped
                due = t0 + k * self.period
            vt = k * self.period
            if self.duration_s is not None and vt >= self.duration_s:
                return
            self.decoded += 1
            capture = time.time() - (time.monotonic() - due)
            if self.frames is None:
                yield AnalysisFrame(k, vt, due, capture, self.image)
            else:
                i = (start + k) % len(self.frames)
                yield AnalysisFrame(i, vt, due, capture, np.asarray(self.frames[i]))
            k += 1


def make_source(camera: CameraConfig, ring: PacketRing | None,
                look: Callable[[AnalysisFrame], bool] | None = None) -> FrameSource:
    """The source of a camera's ``source`` URI: synthetic://, a file, or rtsp://; ``look``
    (the motion gate's) runs on each analysed frame of a decoded source, on its thread."""
    if camera.source.startswith("synthetic://"):
        return SyntheticSource(camera.source, camera.analysis_fps)
    return VideoSource(camera.source, camera.analysis_fps, ring, live=camera.is_live,
                       rtsp_transport=camera.rtsp_transport, loop_file=camera.loop,
                       open_timeout_s=camera.open_timeout_s,
                       stall_s=camera.stall_s if camera.is_live else None,
                       hwaccel=camera.hwaccel, decode_threads=camera.decode_threads,
                       look=look)
