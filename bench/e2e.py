"""End-to-end throughput: the whole pipeline on the demo video as fast as the CPU allows.

It includes: decode (PyAV), the detector (YOLOX-Nano, ONNX Runtime, in-process, 2 threads),
ByteTrack, the demo's rules, events with their snapshots and clips, the SQLite store. It leaves
out: RTSP, the control plane, alarm delivery, Triton. Each case runs the 7.2 s video once per
camera, not in real time; rounds are interleaved (the order of the cases alternates) and each
figure is the median and the range of the rounds: wall-clock analysed frames per second, times
real time, and the process's CPU per analysed frame (every thread).

    .venv/bin/python bench/e2e.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from figures import median_range

from orchestrator.config import load_settings
from orchestrator.paths import PROJECT_ROOT
from orchestrator.service import Service

CASES = ((1, 25), (1, 10), (4, 10))  # cameras, analysis fps
ROUNDS = 3
VIDEO_S = 7.16


def run(analysis_fps: float, cameras: int) -> dict[str, float]:
    base = load_settings(PROJECT_ROOT / "examples" / "demo.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        cam = base.cameras[0]
        cams = [cam.model_copy(update={"id": f"cam{i}", "analysis_fps": analysis_fps})
                for i in range(cameras)]
        s = base.model_copy(update={
            "cameras": cams,
            "outputs": base.outputs.model_copy(update={"data_dir": Path(tmp)})})
        service = Service(s)
        cpu0, t0 = time.process_time(), time.perf_counter()
        stats = asyncio.run(service.run(restart_failed=False))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    analysed = sum(st.frames_analysed for st in stats.values())
    return {"analysed_per_s": analysed / wall, "x_real_time": VIDEO_S * cameras / wall,
            "cpu_ms_per_analysed_frame": cpu / max(analysed, 1) * 1000}


def measure(rounds: int = ROUNDS) -> dict[str, dict[str, list[float]]]:
    run(10, 1)  # warm-up: model load, caches
    out: dict[str, dict[str, list[float]]] = {}
    for k in range(rounds):
        for cameras, fps in (CASES if k % 2 == 0 else tuple(reversed(CASES))):
            r = run(fps, cameras)
            case = out.setdefault(f"{cameras} x {fps} fps", {})
            for key, v in r.items():
                case.setdefault(key, []).append(v)
    return out


def table(res: dict[str, dict[str, list[float]]]) -> str:
    rows = [f"{'case':14} {'analysed/s':>22} {'x real time':>18} {'CPU ms/analysed frame':>22}"]
    for case, r in res.items():
        rows.append(f"{case:14} {median_range(r['analysed_per_s'], '.1f'):>22} "
                    f"{median_range(r['x_real_time'], '.1f'):>18} "
                    f"{median_range(r['cpu_ms_per_analysed_frame'], '.1f'):>22}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    print(table(measure(ap.parse_args().rounds)))


if __name__ == "__main__":
    main()
