"""Triton (gRPC, Python backend wrapping ONNX Runtime, CPU) versus in-process ONNX Runtime on
the same model and the same two cores, through the orchestrator's batcher.

Three ways to run the detector, each doing the same work per frame (letterbox, inference, YOLOX
decode and NMS): in-process ONNX Runtime on the shipped graph with the decode and NMS in numpy
(the embedded default); in-process ONNX Runtime on the served graph, decode and NMS inside it
(the very graph the CPU Triton model runs); and Triton, where the client sends the 416×416
input (over gRPC, or through a system shared-memory region) and gets the kept boxes back. So
besides the wall-clock figures the bench reports the **CPU per frame of both processes
together** (this process plus the server's process group): like with like on a machine where
client and server share the cores. Triton is measured with 1 request in flight (no overlap of
client and server) and with 4 (the default). It includes: the batcher, pre- and
post-processing, transfer, inference. It leaves out: decoding video (frames are decoded once,
up front), tracking, and a GPU.

Rounds are interleaved (the order of the sides alternates); each figure is the median and the
range of the rounds. Also printed: bytes sent per frame and Triton's batch-size histogram of
the last round, and the CPU of the event loop's thread per frame (what the loop pays for the
detector: the batcher, requests, results; the in-process side's inference runs in a worker).

    .venv/bin/python bench/triton.py [--rounds 3]   # starts its own tritonserver
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from figures import median_range

from orchestrator.config import DetectorConfig, TritonConfig
from orchestrator.detect import DetectionBatcher, close_detector, open_detector
from orchestrator.paths import find_data
from orchestrator.triton.server import TritonServer, free_port

FRAMES_PER_RUN = 192
CAMERAS = (1, 8, 32)
ROUNDS = 3
_TICK = os.sysconf("SC_CLK_TCK")


def frames(n: int = 16) -> list[np.ndarray]:
    with av.open(str(find_data("TUD-Stadtmitte.mp4"))) as c:
        it = c.decode(video=0)
        return [next(it).to_ndarray(format="bgr24") for _ in range(n)]


def group_cpu_s(pgid: int | None) -> float:
    """CPU seconds (user + system) of every live process of the process group ``pgid``."""
    if pgid is None:
        return 0.0
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


async def run(config: DetectorConfig, cameras: int, imgs: list[np.ndarray],
              server_pgid: int | None) -> dict:
    det = await open_detector(config)
    latencies: list[float] = []
    per_camera = max(FRAMES_PER_RUN // cameras, 4)
    try:
        async with DetectionBatcher(det, max_batch=8) as batcher:
            await batcher.detect(imgs[0])  # warm-up

            async def camera(i: int) -> None:
                for k in range(per_camera):
                    t0 = time.perf_counter()
                    await batcher.detect(imgs[(i + k) % len(imgs)])
                    latencies.append(time.perf_counter() - t0)

            stats0 = await det.statistics() if hasattr(det, "statistics") else None
            cpu0, srv0 = time.process_time(), group_cpu_s(server_pgid)
            loop0 = time.thread_time()  # this thread runs the event loop
            t0 = time.perf_counter()
            await asyncio.gather(*(camera(i) for i in range(cameras)))
            wall = time.perf_counter() - t0
            loop_cpu = time.thread_time() - loop0
            cpu = time.process_time() - cpu0
            srv = group_cpu_s(server_pgid) - srv0
            stats1 = await det.statistics() if hasattr(det, "statistics") else None
    finally:
        bytes_per_frame = (det.bytes_sent / det.frames_sent  # type: ignore[union-attr]
                           if getattr(det, "frames_sent", 0) else None)
        await close_detector(det)
    n = per_camera * cameras
    out = {"fps": n / wall, "cpu_ms_per_frame": (cpu + srv) / n * 1000,
           "client_cpu_ms_per_frame": cpu / n * 1000,
           "loop_ms_per_frame": loop_cpu / n * 1000,
           "p50_ms": float(np.percentile(latencies, 50)) * 1000,
           "p99_ms": float(np.percentile(latencies, 99)) * 1000, "bytes": bytes_per_frame}
    if stats0 and stats1:
        out["hist"] = {k: v - stats0["batch_sizes"].get(k, 0)
                       for k, v in stats1["batch_sizes"].items()
                       if v - stats0["batch_sizes"].get(k, 0)}
    return out


def measure(rounds: int = ROUNDS) -> dict:
    """Per camera count and side, every round's figures (lists), interleaved."""
    imgs = frames()
    out: dict[str, dict[str, dict[str, list]]] = {}
    with tempfile.TemporaryDirectory() as tmp, TritonServer(
            grpc_port=free_port(), http_port=free_port(), metrics_port=free_port(),
            work_dir=Path(tmp)) as server:
        pgid = server.pid

        def triton(inflight: int, shm: bool) -> DetectorConfig:
            return DetectorConfig(backend="triton", triton=TritonConfig(
                url=server.grpc_url, max_inflight=inflight, shared_memory=shm))

        graph = server.repository / "yolox_nano_onnx" / "1" / "model.onnx"
        sides = {
            "onnxruntime in-process": (DetectorConfig(), None),
            "onnxruntime, served graph": (DetectorConfig(model=str(graph)), None),
            "triton shm, 1 in flight": (triton(1, True), pgid),
            "triton shm, 4 in flight": (triton(4, True), pgid),
            "triton gRPC, 4 in flight": (triton(4, False), pgid),
        }
        for cams in CAMERAS:
            res: dict[str, dict[str, list]] = {name: {} for name in sides}
            for k in range(rounds):
                order = list(sides) if k % 2 == 0 else list(reversed(sides))
                for name in order:
                    cfg, group = sides[name]
                    r = asyncio.run(run(cfg, cams, imgs, group))
                    for key, v in r.items():
                        res[name].setdefault(key, []).append(v)
            out[f"{cams} cameras"] = res
    return out


def table(res: dict) -> str:
    rows = [f"{'side':26} {'cams':>4} {'frames/s':>20} {'CPU ms/frame':>20} {'vs ORT':>6} "
            f"{'loop ms/frame':>20} {'p50 ms':>18} {'p99 ms':>20} {'bytes/frame':>11}  "
            "triton batch sizes (last round)"]
    for cams, sides in res.items():
        base = statistics.median(sides["onnxruntime in-process"]["cpu_ms_per_frame"])
        for name, r in sides.items():
            cpu = r["cpu_ms_per_frame"]
            sent = r["bytes"][-1]
            rows.append(f"{name:26} {cams.split()[0]:>4} {median_range(r['fps'], '.1f'):>20} "
                        f"{median_range(cpu, '.2f'):>20} {statistics.median(cpu) / base:5.2f}x "
                        f"{median_range(r['loop_ms_per_frame'], '.3f'):>20} "
                        f"{median_range(r['p50_ms'], '.1f'):>18} "
                        f"{median_range(r['p99_ms'], '.1f'):>20} "
                        f"{'-' if sent is None else f'{sent:.0f}':>11}  "
                        f"{r['hist'][-1] if 'hist' in r else ''}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    print(table(measure(ap.parse_args().rounds)))


if __name__ == "__main__":
    main()
