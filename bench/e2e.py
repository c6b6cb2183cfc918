"""End-to-end throughput: the whole pipeline (decode, detect, track, rules, events with
snapshots and clips) on the demo video, as fast as the CPU allows.

    .venv/bin/python bench/e2e.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from orchestrator.config import load_settings
from orchestrator.paths import PROJECT_ROOT
from orchestrator.service import Service


def run(analysis_fps: float, cameras: int) -> tuple[float, int, int]:
    base = load_settings(PROJECT_ROOT / "examples" / "demo.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        cam = base.cameras[0]
        cams = [cam.model_copy(update={"id": f"cam{i}", "analysis_fps": analysis_fps})
                for i in range(cameras)]
        s = base.model_copy(update={
            "cameras": cams,
            "outputs": base.outputs.model_copy(update={"data_dir": Path(tmp)})})
        service = Service(s)
        t0 = time.perf_counter()
        stats = asyncio.run(service.run(restart_failed=False))
        elapsed = time.perf_counter() - t0
    analysed = sum(st.frames_analysed for st in stats.values())
    decoded = sum(st.frames_decoded for st in stats.values())
    return elapsed, analysed, decoded


def main() -> None:
    print(f"{'cameras':>7} {'analysis fps':>12} {'wall s':>7} {'analysed/s':>11} "
          f"{'decoded/s':>10} {'x real time':>11}")
    for cameras, fps in ((1, 25), (1, 10), (4, 10)):
        elapsed, analysed, decoded = run(fps, cameras)
        video_s = 7.16 * cameras
        print(f"{cameras:7d} {fps:12.0f} {elapsed:7.2f} {analysed / elapsed:11.1f} "
              f"{decoded / elapsed:10.1f} {video_s / elapsed:11.1f}")


if __name__ == "__main__":
    main()
