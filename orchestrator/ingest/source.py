"""Video sources (files and RTSP) decoded in a worker thread, handed to asyncio by timestamp.

The thread demuxes every packet (kept in the camera's ``PacketRing`` for clips), decodes every
frame, and hands over the frames picked for analysis (one per ``1/analysis_fps`` seconds of
stream time) as the decoder gave them: they become BGR on the thread that uses them (the
detector's, a snapshot's), allocated and freed there. Live sources hand over through a
newest-frame-wins slot (stale frames are dropped and counted); files hand over with
back-pressure, so file analysis never drops a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from orchestrator.detect.postprocess import FrameTransform, letterbox
from orchestrator.ingest.packets import PacketRing, PacketStamper

log = logging.getLogger(__name__)
MAX_CONSECUTIVE_DECODE_ERRORS = 50


class SourceError(Exception):
    """A source that cannot be opened or read; the message says which and why."""


class StreamStalled(SourceError):
    """A live stream that stopped delivering frames."""


def redact(uri: str) -> str:
    """The URI with any password hidden, safe for logs."""
    return re.sub(r"(://[^:/@\s]+):[^@/\s]*@", r"\1:***@", uri)


_local = threading.local()


def _reformatter() -> VideoReformatter:
    """This thread's swscale converter. A picture's own ``to_ndarray`` builds a new swscale
    context for every picture, which costs more than the conversion (0.58 against 0.20 ms
    for BGR at 640x360); one kept per thread is reused while sizes and formats stay."""
    r = getattr(_local, "reformatter", None)
    if r is None:
        r = _local.reformatter = VideoReformatter()
    return r  # type: ignore[no-any-return]


class AnalysisFrame:
    """A decoded frame picked for analysis.

    A frame from a video source keeps the decoder's own picture (YUV, in the decoder's buffer
    pool) and makes BGR from it where it is used: the detector's input on the detector's
    thread (``model_input``), a snapshot or a live-view image on theirs. So no frame-sized
    buffer is allocated per analysed frame on the decode thread and freed on another, which
    left glibc's heap fragmented (docs/control-plane.md, "Memory over months").

    Attributes:
        index: 0-based number of the frame among all decoded frames of the source.
        video_time: seconds since the start of the stream (file position).
        timestamp: seconds on the camera's monotonic clock (rules, tracking, clips use it).
        capture_time: UTC wall-clock seconds (epoch) at which the frame was captured.
        size: (width, height) in pixels.
    """

    __slots__ = ("_image", "_picture", "capture_time", "index", "moved", "size", "timestamp",
                 "video_time")

    def __init__(self, index: int, video_time: float, timestamp: float, capture_time: float,
                 image: npt.NDArray[np.uint8] | None = None, *, picture: Any = None) -> None:
        if (image is None) == (picture is None):
            raise ValueError("an AnalysisFrame holds either a BGR image or a decoded picture")
        self.index, self.video_time = index, video_time
        self.timestamp, self.capture_time = timestamp, capture_time
        self._image, self._picture = image, picture
        self.moved: bool | None = None  # the motion gate's verdict, when the source gave it
        self.size: tuple[int, int] = ((int(picture.width), int(picture.height))
                                      if image is None else (image.shape[1], image.shape[0]))

    @property
    def image(self) -> npt.NDArray[np.uint8]:
        """BGR uint8 (H, W, 3). From a decoded picture it is converted on each call and not
        kept: hold the result while you need it."""
        if self._image is not None:
            return self._image
        bgr = _reformatter().reformat(self._picture, format="bgr24", threads=1)
        return bgr.to_ndarray()  # type: ignore[return-value]

    def grey(self, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
        """The frame in grey at ``size`` (w, h), averaged over each output pixel's area (the
        motion gate's picture); from a decoded picture, straight from its luma plane."""
        if self._image is not None:
            g = cv2.cvtColor(self._image, cv2.COLOR_BGR2GRAY)
            return cv2.resize(g, size, interpolation=cv2.INTER_AREA)  # type: ignore[return-value]
        return self._picture.to_ndarray(  # type: ignore[no-any-return]
            format="gray", width=size[0], height=size[1], interpolation="AREA")

    def model_input(self, size: tuple[int, int], keep_ratio: bool
                    ) -> tuple[npt.NDArray[np.uint8], FrameTransform]:
        """The detector's uint8 BGR input of ``size`` (w, h), letterboxed when ``keep_ratio``.

        Called on the detector's thread: the full-size BGR image is made, resized and freed
        there. (swscale's one pass from YUV to the model size is no cheaper here, 0.30 ms
        against 0.22-0.34 ms, and its filter is not the OpenCV resize the models were trained
        with: it lost 2 of 19 true events on the Stadtmitte rule sets.)
        """
        return letterbox(self.image, size, keep_ratio)


@dataclass(frozen=True, slots=True)
class EndOfStream:
    reason: str
    error: bool = False


class _Handover:
    """Thread → asyncio hand-over.

    Live sources: one newest-frame-wins slot; a frame not taken before the next one arrives is
    dropped and counted. Files: a small queue the decode thread waits on (no drops).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, live: bool) -> None:
        self._loop = loop
        self._live = live
        self._queue: asyncio.Queue[AnalysisFrame | EndOfStream] = asyncio.Queue(maxsize=2)
        self._slot: AnalysisFrame | None = None
        self._end: EndOfStream | None = None
        self._wake = asyncio.Event()
        self.dropped = 0

    def _offer(self, item: AnalysisFrame | EndOfStream) -> None:
        if isinstance(item, EndOfStream):
            self._end = item
        else:
            if self._slot is not None:
                self.dropped += 1
            self._slot = item
        self._wake.set()

    def put(self, item: AnalysisFrame | EndOfStream, stop: threading.Event) -> None:
        """Called from the decode thread."""
        if self._loop.is_closed():
            return
        if self._live or (isinstance(item, EndOfStream) and stop.is_set()):
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._offer, item)
            return
        fut = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while not stop.is_set():
            try:
                fut.result(timeout=0.2)
                return
            except TimeoutError:
                continue
        fut.cancel()

    def close(self) -> None:
        """From the loop's thread: end the stream for the consumer now."""
        if self._end is None:
            self._end = EndOfStream("stopped")
        self._wake.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(self._end)

    async def get(self) -> AnalysisFrame | EndOfStream:
        if not self._live and self._end is None:
            return await self._queue.get()
        while True:
            if self._slot is not None:
                item, self._slot = self._slot, None
                return item
            if self._end is not None:
                return self._end
            self._wake.clear()
            await self._wake.wait()


def open_container(uri: str, rtsp_transport: str = "tcp", timeout_s: float = 10.0,
                   hwaccel: str = "none") -> Any:
    """Open a file or RTSP URL with PyAV; connect and read timeouts apply to RTSP.

    Raises:
        SourceError: missing file, unreachable or refusing source, no video stream; the URI in
            the message has its password hidden.
    """
    is_rtsp = uri.startswith(("rtsp://", "rtsps://"))
    if not is_rtsp and "://" not in uri and not Path(uri).is_file():
        if Path(uri).is_dir():
            raise SourceError(f"{uri} is a directory, not a video file")
        raise SourceError(f"video file not found: {uri}")
    options = {}
    if is_rtsp:
        options = {"rtsp_transport": rtsp_transport, "timeout": str(int(timeout_s * 1e6)),
                   "analyzeduration": "0", "probesize": "32"}
    kwargs: dict[str, Any] = {}
    if hwaccel != "none":
        try:
            from av.codec.hwaccel import HWAccel  # noqa: PLC0415

            kwargs["hwaccel"] = HWAccel(device_type=hwaccel, allow_software_fallback=False)
        except Exception as e:  # noqa: BLE001 - PyAV/FFmpeg without that device
            raise SourceError(f"hardware decoding {hwaccel!r} is not available here: {e}") from None
    try:
        container = av.open(uri, options=options, timeout=(timeout_s, timeout_s), **kwargs)
    except (av.FFmpegError, OSError) as e:
        raise SourceError(f"cannot open {redact(uri)}: {redact(str(e))}") from None
    if not container.streams.video:
        container.close()
        raise SourceError(f"{redact(uri)}: no video stream")
    return container


class _StreamClock:
    """Stream time (seconds) of each decoded frame of one pass over a container.

    Files trust the container's start time. Live streams do not: RTSP often cannot give the
    first frames a timestamp and reports the first known one as the start, which would shift
    every frame by those frames; there the origin is set from the first timestamped frame and
    its position in the decode order. Frames without a timestamp take the previous one plus a
    frame duration.
    """

    def __init__(self, stream: Any, offset: float, trust_start: bool) -> None:
        self.tb = float(stream.time_base)
        self.frame_s = 1.0 / float(stream.average_rate or 25)
        self.origin: float | None = stream.start_time if trust_start else None
        self.offset = offset
        self.count = 0
        self.last: float | None = None

    def __call__(self, pts: int | None) -> float:
        if pts is None:
            t = self.offset if self.last is None else self.last + self.frame_s
        else:
            if self.origin is None:
                self.origin = pts - self.count * self.frame_s / self.tb
            t = (pts - self.origin) * self.tb + self.offset
        self.count += 1
        self.last = t
        return t


class ThrottledLog:
    """A warning that may come once per bad packet, written at most once per ``every_s``
    seconds with the number held back since (the counts themselves go to /metrics)."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.every_s, self.clock = logger, every_s, clock
        self._last = -math.inf
        self._held = 0

    def warn(self, msg: str, *args: object) -> None:
        now = self.clock()
        if now - self._last < self.every_s:
            self._held += 1
            return
        if self._held:
            msg += f" ({self._held} more like it in the last {now - self._last:.0f} s)"
        self.logger.warning(msg, *args)
        self._last, self._held = now, 0


class CameraClock:
    """Maps a live stream's own clock (frame times) onto this host's monotonic clock.

    A frame arrives some delay after the camera captured it; the delay varies (network,
    decoding, a busy host) but has a floor. The smallest ``arrival − stream time`` of the last
    ``window_s`` seconds is that floor, so ``stream time + floor`` is a capture time on our
    clock without the arrival jitter: tracking, rules and event times see the camera's own
    frame spacing, exactly, between the rare moments the floor moves (a camera clock that runs
    slow, a delay that grows for good). A frame's time is never later than its arrival.
    """

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self._delays: deque[tuple[float, float]] = deque()  # (arrival, delay), delay rising

    def at(self, stream_time: float, arrival: float) -> float:
        """The capture time (host monotonic seconds) of a frame of ``stream_time``."""
        delay = arrival - stream_time
        d = self._delays
        while d and d[-1][1] >= delay:
            d.pop()
        d.append((arrival, delay))
        while d[0][0] < arrival - self.window_s:
            d.popleft()
        return stream_time + d[0][1]


class VideoSource:
    """One camera's stream: open, demux, decode, pick frames for analysis.

    Use as an async iterator of ``AnalysisFrame``; it ends at the end of a file and raises
    ``SourceError`` when the source cannot be opened or breaks.
    """

    def __init__(self, uri: str, analysis_fps: float, ring: PacketRing | None = None,
                 live: bool | None = None, rtsp_transport: str = "tcp", loop_file: bool = False,
                 open_timeout_s: float = 10.0, stall_s: float | None = None,
                 hwaccel: str = "none", decode_threads: int = 1,
                 look: Callable[[AnalysisFrame], bool] | None = None) -> None:
        self.uri = uri
        # Run on each frame picked for analysis, on the decode thread, before it is handed
        # over: the motion gate's look (its numpy runs there, mostly without the GIL, and
        # not on the event loop).
        self.look = look
        self.hwaccel = hwaccel
        self.decode_threads = decode_threads
        self.stall_s = stall_s
        self.is_rtsp = uri.startswith(("rtsp://", "rtsps://"))
        self.live = self.is_rtsp if live is None else live
        self._camera_clock = CameraClock()
        self._corrupt_log = ThrottledLog(log)
        self.period = 1.0 / analysis_fps
        self.ring = ring
        self.rtsp_transport = rtsp_transport
        self.loop_file = loop_file
        self.open_timeout_s = open_timeout_s
        self.decoded = 0
        self.decode_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handover: _Handover | None = None
        self.fps: float | None = None
        self.size: tuple[int, int] | None = None
        self.threads: int | None = None  # the decoder's threads, once open

    @property
    def dropped(self) -> int:
        return self._handover.dropped if self._handover else 0

    def _open(self) -> Any:
        return open_container(self.uri, self.rtsp_transport, self.open_timeout_s, self.hwaccel)

    async def __aiter__(self) -> Any:
        # The source opens and decodes on a thread of its own: a camera that accepts and never
        # answers blocks only that thread (up to its open timeout), never asyncio's shared
        # pool, where snapshots and the store wait their turn.
        self._handover = _Handover(asyncio.get_running_loop(), self.live)
        self._thread = threading.Thread(target=self._open_and_run, daemon=True,
                                        name=f"decode:{redact(self.uri)[-40:]}")
        self._thread.start()
        first = True
        try:
            while True:
                # the first frame may wait for the open too
                wait = (self.stall_s + self.open_timeout_s
                        if first and self.stall_s is not None else self.stall_s)
                try:
                    item = await asyncio.wait_for(self._handover.get(), wait)
                except TimeoutError:
                    raise StreamStalled(f"{redact(self.uri)}: stalled, no frame for "
                                      f"{wait:g} s") from None
                first = False
                if isinstance(item, EndOfStream):
                    if item.error:
                        raise SourceError(item.reason)
                    return
                yield item
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop decoding; a consumer waiting for the next frame gets the end at once."""
        self._stop.set()
        if self._handover is not None:
            self._handover.close()

    def join(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    # -- decode thread ----------------------------------------------------------------------

    def _open_and_run(self) -> None:
        assert self._handover is not None
        try:
            container = self._open()
        except SourceError as e:
            self._handover.put(EndOfStream(str(e), error=True), self._stop)
            return
        except Exception as e:  # noqa: BLE001 - any open failure ends this camera only
            self._handover.put(EndOfStream(f"{redact(self.uri)}: {type(e).__name__}: "
                                           f"{redact(str(e))}", error=True), self._stop)
            return
        if self._stop.is_set():
            container.close()
            return
        self._run(container)

    def _run(self, container: Any) -> None:
        assert self._handover is not None
        end = EndOfStream("end of stream")
        try:
            offset = 0.0
            while not self._stop.is_set():
                duration = self._decode(container, offset)
                if not (self.loop_file and not self.is_rtsp) or self._stop.is_set():
                    break
                container.close()
                container = self._open()
                offset += duration
        except SourceError as e:
            end = EndOfStream(str(e), error=True)
        except Exception as e:  # noqa: BLE001 - any decoder failure ends this camera only
            end = EndOfStream(f"{redact(self.uri)}: {type(e).__name__}: {redact(str(e))}",
                              error=True)
        finally:
            container.close()
        self._handover.put(end, self._stop)

    def _decode(self, container: Any, offset: float) -> float:
        """Decode one pass over the container; returns its duration in seconds."""
        assert self._handover is not None
        stream = container.streams.video[0]
        # One thread decodes with the least CPU per frame (measured: FFmpeg's own choice of
        # frame and slice threads costs ~15-20 % more); many cameras are parallel already.
        if self.decode_threads != 1:
            stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.decode_threads  # 0: FFmpeg chooses
        self.threads = stream.codec_context.thread_count
        clock = _StreamClock(stream, offset, trust_start=not self.is_rtsp)
        self.fps = float(stream.average_rate or 25)
        self.size = (stream.codec_context.width, stream.codec_context.height)
        stamper = None
        if self.ring is not None:
            # A looping file goes on in the same ring (its packets continue the last pass's);
            # a new connection starts a new one.
            self.ring.reset(stream, keep=offset > 0)
            stamper = PacketStamper(self.ring, stream, self.live, offset)
        wall0, mono0 = time.time(), time.monotonic()
        self._camera_clock = CameraClock()  # a new connection: a new stream clock
        next_t = None
        consecutive_errors = 0
        for packet in container.demux(stream):
            if self._stop.is_set():
                break
            if stamper is not None:
                stamper.add(packet)
            try:
                frames = packet.decode()
                consecutive_errors = 0
            except av.FFmpegError as e:
                self.decode_errors += 1
                consecutive_errors += 1
                self._corrupt_log.warn("%s: corrupt packet skipped (%s)", redact(self.uri), e)
                if consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise SourceError(f"{redact(self.uri)}: {consecutive_errors} corrupt packets "
                                      "in a row; giving up") from None
                continue
            for frame in frames:
                self.decoded += 1
                vt = clock(frame.pts)
                if next_t is not None and vt < next_t - 1e-6:
                    continue
                next_t = vt + self.period if next_t is None or vt - next_t > self.period \
                    else next_t + self.period
                self._emit(frame, vt, wall0, mono0, offset)
        return (clock.last or offset) - offset + clock.frame_s

    def _emit(self, frame: Any, vt: float, wall0: float, mono0: float, offset: float) -> None:
        assert self._handover is not None
        if self.live and not self.is_rtsp:  # a file played as a simulated camera
            time.sleep(max(0.0, mono0 + (vt - offset) - time.monotonic()))
        if self.live:
            now, wall = time.monotonic(), time.time()
            ts = self._camera_clock.at(vt, now)
            capture = wall - (now - ts)
        else:
            # A file's frames were captured before it was read: from the start of its reading
            # on, but never later than the moment a frame is read (faster than real time).
            ts, capture = vt, min(wall0 + vt - offset, time.time())
        picked = AnalysisFrame(self.decoded - 1, vt, ts, capture, picture=frame)
        if self.look is not None:
            try:
                picked.moved = self.look(picked)
            except Exception as e:  # noqa: BLE001 - no verdict: the frame is detected
                self._corrupt_log.warn("%s: motion gate failed: %s", redact(self.uri), e)
                picked.moved = True
        self._handover.put(picked, self._stop)
