"""GPU acceptance: the production plan, served by NGC's Triton, gives the embedded detector's
boxes. Skipped without an NVIDIA GPU and docker (this development machine has neither).

On a GPU host, from the project root (after `perishield triton build`):

    .venv/bin/pytest -m gpu tests/orchestrator/triton/test_gpu.py

It builds the plan with deploy/triton/build_plan.sh in the serving image of deploy/triton/.env
(``PRECISION=fp32`` in the environment builds the exact FP32 plan for parity debugging), serves
the repository with that image on free ports, and compares the `yolox_nano` plan's boxes on
TUD-Stadtmitte with ONNX Runtime's on the CPU. FP16 (and TF32) move boxes and scores a little:
every embedded box scoring 0.4 or more must have a served box of its class at IoU ≥ 0.85 and a
score within 0.05 (FP32: IoU ≥ 0.98, score within 0.005).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DetectorConfig, TritonConfig
from orchestrator.detect import create_detector, open_detector
from orchestrator.triton.server import free_port
from trackers.matching import iou_matrix

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(
    not (shutil.which("nvidia-smi") and shutil.which("docker")),
    reason="needs an NVIDIA GPU and docker")]


def image() -> str:
    env = dict(line.split("=", 1) for line in
               (ROOT / "deploy" / "triton" / ".env").read_text().splitlines()
               if line and not line.startswith("#"))
    return env["TRITON_IMAGE"]


def test_served_plan_gives_the_embedded_boxes(stadtmitte_frames: list[np.ndarray]) -> None:
    fp32 = os.environ.get("PRECISION") == "fp32"
    subprocess.run(["docker", "run", "--rm", "--gpus", "all", "-v", f"{ROOT}:/project", "-w",
                    "/project", "-e", f"PRECISION={'fp32' if fp32 else 'fp16'}", image(),
                    "bash", "deploy/triton/build_plan.sh"], check=True)
    grpc, http = free_port(), free_port()
    name = f"perishield-gpu-test-{os.getpid()}"
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--gpus", "all",
                    "-p", f"127.0.0.1:{grpc}:8001", "-p", f"127.0.0.1:{http}:8000",
                    "-v", f"{ROOT / 'model_repository'}:/models:ro", image(), "tritonserver",
                    "--model-repository=/models", "--model-control-mode=explicit",
                    "--load-model=yolox_nano", "--strict-readiness=true"], check=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready",
                                            timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Triton did not get ready in 5 min"
            time.sleep(2)
        frames = stadtmitte_frames[:16]
        embedded = create_detector(DetectorConfig()).detect(frames)

        async def served() -> list:
            det = await open_detector(DetectorConfig(backend="triton", triton=TritonConfig(
                url=f"127.0.0.1:{grpc}", model="yolox_nano")))
            try:
                return await det.detect_async(frames)  # type: ignore[union-attr]
            finally:
                await det.aclose()  # type: ignore[union-attr]

        got = asyncio.run(served())
        min_iou, max_dscore = (0.98, 0.005) if fp32 else (0.85, 0.05)
        for a, b in zip(embedded, got, strict=True):
            strong = a.confidence >= 0.4
            if not strong.any():
                continue
            iou = iou_matrix(a.xyxy[strong], b.xyxy)
            same_class = a.class_id[strong][:, None] == b.class_id[None, :]
            iou = np.where(same_class, iou, 0.0)
            best = iou.argmax(axis=1)
            assert (iou.max(axis=1) >= min_iou).all()
            assert np.abs(a.confidence[strong] - b.confidence[best]).max() <= max_dscore
    finally:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)
