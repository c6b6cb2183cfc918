"""Night mode: a camera's second detector setting, switched by its pictures or a schedule."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DetectorConfig, NightConfig, Settings
from orchestrator.detect.night import DAY, NIGHT, NightSwitch, look, night_detector
from orchestrator.service import Service

rng = np.random.default_rng(0)
COLOUR = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)  # bright, colourful
IR = np.repeat(rng.integers(60, 200, (480, 640, 1), dtype=np.uint8), 3, axis=2)  # grey
DUSK = (COLOUR // 6).astype(np.uint8)  # dark


def test_a_look_tells_grey_and_dark_pictures() -> None:
    assert look(COLOUR)[1] > 50 and look(IR)[1] == 0 and look(DUSK)[0] < 30


def test_the_mode_follows_the_picture_once_it_has_held() -> None:
    sw = NightSwitch(NightConfig(hold_s=10), "UTC")
    modes = [sw.update(t, 0.0, IR if t >= 5 else COLOUR) for t in np.arange(0, 30, 0.2)]
    first_night = 0.2 * modes.index(NIGHT)
    assert 15 <= first_night <= 16.2  # grey from 5 s, held 10 s (a look a second)
    modes = [sw.update(t, 0.0, COLOUR) for t in np.arange(30, 50, 0.2)]
    assert modes[0] == NIGHT and modes[-1] == DAY and sw.switches == 2
    dusk = NightSwitch(NightConfig(hold_s=2), "UTC")
    assert [dusk.update(t, 0.0, DUSK) for t in range(5)][-1] == NIGHT


def test_headlights_and_clouds_do_not_flip_it() -> None:
    sw = NightSwitch(NightConfig(hold_s=10), "UTC")
    for t in np.arange(0, 60, 0.5):  # grey for 6 s in every 12 (IR lamps flickering on)
        sw.update(t, 0.0, IR if t % 12 < 6 else COLOUR)
    assert sw.mode == DAY and sw.switches == 0


def test_a_schedule_decides_when_given() -> None:
    sw = NightSwitch(NightConfig(schedule=[{"start": "19:00", "end": "06:30"}]),
                     "Asia/Shanghai")
    evening = datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()  # 20:00 in Shanghai
    noon = datetime(2026, 11, 27, 4, 0, tzinfo=UTC).timestamp()
    assert sw.update(0, evening, COLOUR) == NIGHT and sw.update(1, noon, IR) == DAY


def test_the_night_setting_is_the_sites_with_its_own_changes() -> None:
    site = DetectorConfig(score_threshold=0.3, threads=3)
    night = night_detector(site, NightConfig(model="fastestdet.onnx", format="fastestdet",
                                             score_threshold=0.2, classes=["person"]))
    assert (night.model, night.format, night.score_threshold, night.classes, night.threads) \
        == ("fastestdet.onnx", "fastestdet", 0.2, ["person"], 3)


def test_a_camera_switches_to_its_night_detector_when_the_picture_turns_grey(
        tmp_path: Path, stadtmitte: Path, caplog: pytest.LogCaptureFixture) -> None:
    # TUD-Stadtmitte, its colour gone from 2 s on (as when the IR lamps take over).
    ir = tmp_path / "ir.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(stadtmitte), "-vf",
                    "hue=s=0:enable='gte(t,2)'", "-c:v", "libx264", "-crf", "18", str(ir)],
                   check=True)
    gate = {"name": "gate", "points": [[320, 200], [320, 460]]}
    s = Settings.model_validate({
        "cameras": [{"id": "wall", "source": str(ir), "analysis_fps": 10, "lines": [gate],
                     "rules": {"cooldown_s": 0},
                     "night": {"model": "fastestdet.onnx", "format": "fastestdet",
                               "hold_s": 1.0}}],
        "outputs": {"data_dir": str(tmp_path)}})
    service = Service(s)
    with caplog.at_level(logging.INFO, logger="orchestrator"):
        stats = asyncio.run(service.run(restart_failed=False))["wall"]
    assert stats.state == "ended" and stats.mode == NIGHT
    switched = [r.getMessage() for r in caplog.records if "night mode" in r.getMessage()]
    assert len(switched) == 1 and "saturation 0" in switched[0]
    # The night detector (FastestDet) was opened beside the site's and took the frames.
    [night] = service._batchers.values()
    assert night.frames >= 30
    # The crossing after the switch (4.96 s) is still found, by the night detector.
    assert any(e.rule == "gate" and e.video_time > 3.5 for e in service.events)
