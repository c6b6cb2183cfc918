from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import av
import numpy as np
import pytest

from orchestrator.ingest import PacketRing, SourceError, VideoSource, redact, write_clip


async def collect(src: VideoSource) -> list:
    return [f async for f in src]


def test_analysis_rate_picks_frames_by_timestamp(stadtmitte: Path) -> None:
    src = VideoSource(str(stadtmitte), analysis_fps=10)
    frames = asyncio.run(collect(src))
    assert src.decoded == 179  # every frame decoded ...
    assert len(frames) == 72  # ... one analysed per 0.1 s of video (25 fps: 2 or 3 apart)
    gaps = {round(b.video_time - a.video_time, 2) for a, b in itertools.pairwise(frames)}
    assert gaps <= {0.08, 0.12}
    assert frames[0].image.shape == (480, 640, 3)
    assert [f.index for f in frames[:4]] == [0, 3, 5, 8]
    assert all(b.capture_time > a.capture_time for a, b in itertools.pairwise(frames))


def test_frames_make_bgr_and_the_model_input_from_the_decoded_picture(
        stadtmitte: Path, stadtmitte_frames: list[np.ndarray]) -> None:
    from orchestrator.detect.postprocess import letterbox, prepare

    frames = asyncio.run(collect(VideoSource(str(stadtmitte), analysis_fps=5)))
    for f in frames[:3]:
        bgr = stadtmitte_frames[f.index]
        assert f.size == (640, 480)
        np.testing.assert_array_equal(f.image, bgr)  # the BGR of converting at decode
        for size, keep in (((416, 416), True), ((352, 352), False)):
            got, t = prepare(f, size, keep)
            want, t_want = letterbox(bgr, size, keep)
            np.testing.assert_array_equal(got, want)
            assert t == t_want


def test_file_at_full_rate_drops_nothing(stadtmitte: Path) -> None:
    src = VideoSource(str(stadtmitte), analysis_fps=25)
    assert len(asyncio.run(collect(src))) == 179 and src.dropped == 0


def test_one_decoder_thread_by_default_and_the_same_frames_with_more(stadtmitte: Path) -> None:
    # One thread is the least CPU per frame when many cameras decode at once; FFmpeg's frame
    # threads (decode_threads 0 or n) must give the very same pictures.
    one = VideoSource(str(stadtmitte), analysis_fps=5)
    many = VideoSource(str(stadtmitte), analysis_fps=5, decode_threads=2)
    a, b = asyncio.run(collect(one)), asyncio.run(collect(many))
    assert one.threads == 1 and many.threads == 2
    assert [f.video_time for f in a] == [f.video_time for f in b] and len(a) == 36
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.image, fb.image)


def test_live_mode_drops_stale_frames_instead_of_queueing(stadtmitte: Path) -> None:
    async def slow_consumer() -> tuple[int, int]:
        src = VideoSource(str(stadtmitte), analysis_fps=25, live=True)
        n = 0
        async for _ in src:
            n += 1
            await asyncio.sleep(0.2)  # analysis five times slower than the camera
        return n, src.dropped

    n, dropped = asyncio.run(slow_consumer())
    assert dropped > 100 and n + dropped == 179


def test_missing_file_is_reported() -> None:
    with pytest.raises(SourceError, match="video file not found: /nope.mp4"):
        asyncio.run(collect(VideoSource("/nope.mp4", 5)))


def test_not_a_video_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(SourceError, match="cannot open"):
        asyncio.run(collect(VideoSource(str(bad), 5)))


def test_unreachable_rtsp_is_reported_without_password() -> None:
    src = VideoSource("rtsp://admin:s3cret@127.0.0.1:1/Streaming/Channels/101", 5,
                      open_timeout_s=2)
    with pytest.raises(SourceError) as e:
        asyncio.run(collect(src))
    assert "s3cret" not in str(e.value) and "admin:***@127.0.0.1" in str(e.value)
    assert redact("rtsp://u:p@h/x") == "rtsp://u:***@h/x"


def corrupt_copy(src: Path, dst: Path) -> None:
    data = bytearray(src.read_bytes())
    for off in range(len(data) // 3, 2 * len(data) // 3, 4096):
        data[off:off + 64] = b"\xff" * 64  # damage inside the frame data
    dst.write_bytes(bytes(data))


def test_corrupt_packets_are_skipped_and_decoding_recovers(stadtmitte: Path,
                                                           tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.mp4"
    corrupt_copy(stadtmitte, bad)
    src = VideoSource(str(bad), analysis_fps=25)
    frames = asyncio.run(collect(src))
    assert len(frames) > 150  # damaged frames may be lost, the rest is analysed
    assert frames[-1].video_time > 7.0  # decoding went on to the end


def test_packet_ring_clip_starts_on_keyframe_and_decodes(stadtmitte: Path,
                                                         tmp_path: Path) -> None:
    ring = PacketRing(seconds=4.0)
    asyncio.run(collect(VideoSource(str(stadtmitte), 5, ring=ring)))
    assert ring.latest_time == pytest.approx(7.12)
    assert ring.slice(0, 10)[0].time >= 7.12 - 4.0 - 0.5  # older packets were evicted
    packets = ring.slice(5.0, 6.0)
    assert packets[0].keyframe and packets[0].time <= 5.0
    assert packets[-1].time <= 6.0
    out = tmp_path / "clip.mp4"
    duration = write_clip(packets, ring.template, out)
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == len(packets) and duration == pytest.approx(packets[-1].time - packets[0].time)


def test_camera_clock_removes_arrival_jitter_and_follows_drift() -> None:
    from orchestrator.ingest.source import CameraClock

    rng = np.random.default_rng(0)
    clock = CameraClock()
    stream = np.arange(200) / 10  # frames every 100 ms on the camera's clock
    arrival = 1000 + stream + 0.05 + rng.exponential(0.03, 200)  # 50 ms floor, busy host
    ts = np.array([clock.at(s, a) for s, a in zip(stream, arrival, strict=True)])
    assert np.all(ts <= arrival + 1e-9)  # never later than the frame came
    # the camera's own spacing: a tenth of the arrival jitter at most
    assert np.std(np.diff(ts)) < 0.1 * np.std(np.diff(arrival))
    assert abs(np.median(np.diff(ts)) - 0.1) < 1e-3
    # a camera clock 0.1 % slow: the floor follows within its window, the lag does not grow
    slow = CameraClock(window_s=30)
    ts2 = [slow.at(s, 1000 + s * 1.001 + 0.05) for s in np.arange(1200) / 10]
    assert 1000 + 119.9 * 1.001 + 0.05 - ts2[-1] < 0.035


def test_a_warning_per_bad_packet_is_throttled(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from orchestrator.ingest.source import ThrottledLog

    now = [0.0]
    throttled = ThrottledLog(logging.getLogger("test.throttle"), every_s=10, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="test.throttle"):
        for k in range(567):  # two minutes of a bad stream, a bad packet every 0.2 s
            now[0] = k * 0.2
            throttled.warn("cam: corrupt packet skipped (%s)", k)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 12  # one per 10 s
    assert lines[1] == "cam: corrupt packet skipped (50) (49 more like it in the last 10 s)"


def test_a_looping_file_read_faster_than_real_time_is_never_stamped_in_the_future(
        campus: Path) -> None:
    # Three passes over a 2.8 s file in well under 8 s: every frame's capture time is at or
    # before the moment it was read, and capture times never go back.
    async def run() -> list[tuple[float, float, float]]:
        out = []
        src = VideoSource(str(campus), 25, loop_file=True)
        async for f in src:
            out.append((f.video_time, f.capture_time, time.time()))
            if len(out) >= 3 * 71:
                src.stop()
        return out

    seen = asyncio.run(run())
    assert seen[-1][0] > 2 * 2.8  # the third pass
    assert all(captured <= read + 1e-3 for _, captured, read in seen)
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(seen))
