"""Replayed frames with recorded detections: the site load test's cameras and detector."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DetectorConfig, Settings
from orchestrator.detect import DetectorError, create_detector, open_detector
from orchestrator.detect.recorded import save_recording
from orchestrator.ingest import SourceError
from orchestrator.ingest.synthetic import SyntheticSource
from orchestrator.service import Service


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory,
              stadtmitte_frames: list[np.ndarray]) -> tuple[Path, Path, list]:
    d = tmp_path_factory.mktemp("recording")
    frames = np.stack(stadtmitte_frames[:12])
    np.save(d / "frames.npy", frames)
    dets = create_detector(DetectorConfig()).detect(list(frames))
    save_recording(d / "dets.npz", dets)
    return d / "frames.npy", d / "dets.npz", dets


def test_each_replayed_frame_gets_the_models_boxes(recording: tuple[Path, Path, list]) -> None:
    frames_path, dets_path, dets = recording

    async def run() -> list[tuple[int, int]]:
        det = await open_detector(DetectorConfig(backend="recorded", model=str(dets_path)))
        src = SyntheticSource(f"synthetic://replay?frames={frames_path}", 50.0, duration_s=0.5)
        out = []
        async for f in src:
            (d,) = await det.detect_async([f])  # type: ignore[union-attr]
            np.testing.assert_array_equal(d.xyxy, dets[f.index].xyxy)
            assert f.image.shape == (480, 640, 3)
            out.append((f.index, len(d)))
        return out

    got = asyncio.run(run())
    assert len(got) == 25 and all(n == len(dets[i]) for i, n in got)
    assert {i for i, _ in got} == set(range(12))  # it loops over the recording


def test_cameras_on_replayed_frames_track_and_judge(recording: tuple[Path, Path, list],
                                                    tmp_path: Path) -> None:
    frames_path, dets_path, _ = recording
    s = Settings.model_validate({
        "cameras": [{"id": f"c{i}", "source": f"synthetic://replay?frames={frames_path}",
                     "analysis_fps": 10, "lines": [{"name": "gate",
                                                    "points": [[320, 200], [320, 460]]}]}
                    for i in range(3)],
        "detector": {"backend": "recorded", "model": str(dets_path)},
        "outputs": {"data_dir": str(tmp_path)}})
    tracked: set[tuple[str, int]] = set()
    service = Service(s, on_frame=lambda cam, f, d: tracked.update(
        (cam, int(t)) for t in d.tracker_id if t >= 0))

    async def run() -> None:
        from tests.conftest import until

        async with service.running():
            for cam in s.cameras:
                service.start_camera(cam)
            await until(lambda: len(service.stats) == 3 and all(
                st.frames_analysed >= 20 for st in service.stats.values()), 60, service.stats)

    asyncio.run(run())
    assert service.tracking.frames >= 60
    assert {cam for cam, _ in tracked} == {"c0", "c1", "c2"}  # the recorded people are tracked


def test_a_bad_recording_or_frames_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="needs detector.model"):
        asyncio.run(open_detector(DetectorConfig(backend="recorded")))
    with pytest.raises(DetectorError, match="recording"):
        asyncio.run(open_detector(DetectorConfig(backend="recorded",
                                                 model=str(tmp_path / "none.npz"))))
    np.save(tmp_path / "flat.npy", np.zeros((4, 4), np.uint8))
    with pytest.raises(SourceError, match="expected \\(N, H, W, 3\\) uint8"):
        SyntheticSource(f"synthetic://replay?frames={tmp_path / 'flat.npy'}", 5.0)
