"""Every event's clip plays: H.264, HEVC and MPEG-4 Part 2 in MP4, Matroska and MPEG-TS files
(with and without B-frames), and H.264 / H.265 over a real RTSP server.

A clip passes when FFmpeg decodes it without a single error, it has the source's size, and one
of its frames is, pixel for pixel, the source's frame at the event's act (a remux without
re-encoding decodes to the very same pixels).
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from orchestrator.config import Settings
from orchestrator.events.model import Event
from orchestrator.service import Service
from tests.conftest import run_until
from tests.rtsp.server import RtspServer, transcode

ENCODERS = {"h264": "libx264", "hevc": "libx265", "mpeg4": "mpeg4"}


def campus_settings(tmp: Path, source: str) -> Settings:
    camera = {"id": "campus", "source": source, "analysis_fps": 10,
              "rules": {"filter": {"classes": ["person"]}},
              "lines": [{"name": "gate-west", "points": [[180, 300], [200, 479]]},
                        {"name": "gate-east", "points": [[420, 300], [420, 479]]}]}
    return Settings.model_validate({"cameras": [camera], "detector": {"classes": ["person"]},
                                    "outputs": {"data_dir": str(tmp), "pre_roll_s": 1,
                                                "post_roll_s": 1}})


def frames_of(path: Path) -> list[tuple[float, np.ndarray]]:
    """Decoded frames with their time from the first frame (an event's ``video_time``)."""
    with av.open(str(path)) as c:
        out = [(float(f.time or 0.0), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return [(t - out[0][0], img) for t, img in out]


def check_clip(ev: Event, root: Path, source: list[tuple[float, np.ndarray]]) -> None:
    assert ev.clip_status == "ready" and ev.clip, f"event {ev.id}: no clip ({ev.clip_status})"
    clip = root / ev.clip
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"],
                            check=False, capture_output=True, text=True).stderr
    assert errors == "", f"{clip}: {errors[:300]}"
    got = frames_of(clip)
    assert got and got[0][1].shape == source[0][1].shape
    _, want = min(source, key=lambda f: abs(f[0] - ev.video_time))
    diff = min(float(np.abs(img.astype(np.int16) - want).mean()) for _, img in got)
    assert diff < 0.5, f"{clip}: the frame of the act at {ev.video_time} s is not in the clip"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, campus: Path) -> Path:
    return tmp_path_factory.mktemp("codecs")


@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
@pytest.mark.parametrize(("codec", "bframes"), [("h264", 0), ("h264", 2), ("hevc", 2),
                                                ("mpeg4", 0)])
def test_clip_of_every_codec_and_container_plays(codec: str, bframes: int, container: str,
                                                 sources: Path, campus: Path,
                                                 tmp_path: Path) -> None:
    src = transcode(campus, sources / f"{codec}-b{bframes}.{container}",
                    encoder=ENCODERS[codec], bframes=bframes)
    service = Service(campus_settings(tmp_path, str(src)))
    asyncio.run(service.run(restart_failed=False))
    assert len(service.events) >= 3
    source = frames_of(src)
    for ev in service.events:
        check_clip(ev, tmp_path / "evidence", source)


@pytest.mark.rtsp
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_clip_from_rtsp_plays(codec: str, sources: Path, campus: Path, tmp_path: Path) -> None:
    src = transcode(campus, sources / f"rtsp-{codec}.mp4", loops=2,
                    encoder="libx264" if codec == "h264" else "libx265")
    with RtspServer({"/cam": src}, codec=codec) as server:
        service = Service(campus_settings(tmp_path, server.url("/cam")))
        stats = service.stats
        asyncio.run(run_until(service, lambda: "campus" in stats
                              and stats["campus"].restarts >= 1, 60))
    assert len(service.events) >= 3
    source = frames_of(src)
    for ev in service.events:
        check_clip(ev, tmp_path / "evidence", source)


def test_clips_across_the_passes_of_a_looping_file(campus: Path, tmp_path: Path) -> None:
    # A 2.8 s file played in a loop (a simulated camera): events near the end of a pass need
    # the packets of the next pass for their post-roll, and those of the previous for the
    # pre-roll of events at a pass's start.
    settings = campus_settings(tmp_path, str(campus))
    cam = settings.cameras[0].model_copy(update={"loop": True})
    service = Service(settings.model_copy(update={"cameras": [cam]}))
    stats = service.stats
    asyncio.run(run_until(service, lambda: "campus" in stats
                          and stats["campus"].frames_analysed >= 4 * 28, 120))
    seconds = 71 / 25
    late = [e for e in service.events if e.video_time % seconds > seconds - 1.0]
    assert late, "no event in the last second of a pass"
    source = frames_of(campus)
    for ev in service.events:  # the act's frame: the source's at the same point of its pass
        check_clip(dataclasses.replace(ev, video_time=ev.video_time % seconds),
                   tmp_path / "evidence", source)
