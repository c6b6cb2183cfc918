"""Triton (gRPC, Python backend wrapping ONNX Runtime, CPU) versus in-process ONNX Runtime on
the same model and the same two cores, through the orchestrator's batcher.

Prints frames/s, per-frame cost, p50/p99 latency per frame at 1, 8 and 32 concurrent cameras,
bytes sent per frame with and without shared memory, and Triton's batch-size histogram.

    .venv/bin/python bench/triton.py        # starts its own tritonserver
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from orchestrator.config import DetectorConfig, TritonConfig
from orchestrator.detect import DetectionBatcher, close_detector, open_detector
from orchestrator.paths import find_data
from orchestrator.triton.server import TritonServer, free_port

FRAMES_PER_RUN = 192


def frames(n: int = 16) -> list[np.ndarray]:
    with av.open(str(find_data("TUD-Stadtmitte.mp4"))) as c:
        it = c.decode(video=0)
        return [next(it).to_ndarray(format="bgr24") for _ in range(n)]


async def run(config: DetectorConfig, cameras: int, imgs: list[np.ndarray]) -> dict:
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
            t0 = time.perf_counter()
            await asyncio.gather(*(camera(i) for i in range(cameras)))
            wall = time.perf_counter() - t0
            stats1 = await det.statistics() if hasattr(det, "statistics") else None
    finally:
        bytes_per_frame = (det.bytes_sent / det.frames_sent  # type: ignore[union-attr]
                           if getattr(det, "frames_sent", 0) else None)
        await close_detector(det)
    n = per_camera * cameras
    out = {"fps": n / wall, "ms_per_frame": wall / n * 1000,
           "p50": float(np.percentile(latencies, 50)) * 1000,
           "p99": float(np.percentile(latencies, 99)) * 1000, "bytes": bytes_per_frame}
    if stats0 and stats1:
        out["hist"] = {k: v - stats0["batch_sizes"].get(k, 0)
                       for k, v in stats1["batch_sizes"].items()
                       if v - stats0["batch_sizes"].get(k, 0)}
    return out


def main() -> None:
    imgs = frames()
    with tempfile.TemporaryDirectory() as tmp, TritonServer(
            grpc_port=free_port(), http_port=free_port(), metrics_port=free_port(),
            work_dir=Path(tmp)) as server:
        configs = {
            "onnxruntime in-process": DetectorConfig(),
            "triton gRPC": DetectorConfig(backend="triton", triton=TritonConfig(
                url=server.grpc_url, max_inflight=4)),
            "triton gRPC + shm": DetectorConfig(backend="triton", triton=TritonConfig(
                url=server.grpc_url, max_inflight=4, shared_memory=True)),
        }
        print(f"{'backend':24} {'cams':>4} {'frames/s':>9} {'ms/frame':>9} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'vs ORT':>7} {'bytes/frame':>12}  triton batch sizes")
        for cams in (1, 8, 32):
            base = None
            for name, cfg in configs.items():
                r = asyncio.run(run(cfg, cams, imgs))
                base = base or r["ms_per_frame"]
                sent = "-" if r["bytes"] is None else f"{r['bytes']:.0f}"
                print(f"{name:24} {cams:4d} {r['fps']:9.1f} {r['ms_per_frame']:9.2f} "
                      f"{r['p50']:8.1f} {r['p99']:8.1f} {r['ms_per_frame'] / base:6.2f}x "
                      f"{sent:>12}  {r.get('hist', '')}")


if __name__ == "__main__":
    main()
