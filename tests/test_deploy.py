"""The Triton deployment files: what a GPU host runs, checked where no GPU is."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from orchestrator.triton.repository import TEMPLATES as REPOSITORY

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "triton"


def env() -> dict[str, str]:
    return dict(line.split("=", 1) for line in (DEPLOY / ".env").read_text().splitlines()
                if line and not line.startswith("#"))


def test_compose_is_hardened() -> None:
    svc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["triton"]
    assert svc["image"] == "${TRITON_IMAGE}" and env()["TRITON_IMAGE"].endswith("-py3")
    assert svc["restart"] == "unless-stopped"
    # Ports only on the interface .env names (internal), never every interface.
    assert all(p.startswith("${TRITON_BIND}:") for p in svc["ports"])
    flags = svc["command"]
    restricted = [f for f in flags if f.startswith(("--grpc-restricted-protocol=",
                                                     "--http-restricted-api="))]
    assert len(restricted) == 2
    for f in restricted:
        protocols = f.split("=", 1)[1].split(":", 1)[0].split(",")
        assert {"model-repository", "shared-memory", "model-config"} <= set(protocols)
    for flag in ("--grpc-keepalive-time=", "--grpc-keepalive-permit-without-calls=true",
                 "--grpc-http2-min-recv-ping-interval-without-data=",
                 "--pinned-memory-pool-byte-size="):
        assert any(f.startswith(flag) for f in flags), flag
    assert svc["ipc"] == "host" and "shm_size" not in svc  # shm_size is void with ipc: host
    assert "trt-cache:/trt_cache" in svc["volumes"]
    assert svc["deploy"]["resources"]["reservations"]["devices"][0]["count"] == "all"


def test_the_onnx_runtime_tensorrt_engines_are_cached_on_the_volume() -> None:
    cfg = text_format.Parse((REPOSITORY / "yolox_nano_onnx" / "config.pbtxt").read_text(),
                            mc.ModelConfig())
    trt = cfg.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters
    assert trt["trt_engine_cache_path"] == "/trt_cache"
    assert trt["trt_profile_min_shapes"] == "images:1x416x416x3"
    assert trt["trt_profile_max_shapes"] == "images:32x416x416x3"


def test_gpu_models_warm_up_and_use_every_gpu() -> None:
    for name in ("yolox_nano", "yolox_nano_onnx"):
        cfg = text_format.Parse((REPOSITORY / name / "config.pbtxt").read_text(),
                                mc.ModelConfig())
        assert cfg.model_warmup and cfg.model_warmup[0].batch_size == 16
        assert not cfg.instance_group[0].gpus  # no pin to GPU 0


def test_plan_is_built_in_the_serving_image_and_stamped() -> None:
    script = (DEPLOY / "build_plan.sh").read_text()
    subprocess.run(["bash", "-n", str(DEPLOY / "build_plan.sh")], check=True)
    assert "/usr/src/tensorrt/bin/trtexec" in script and '"$TRTEXEC" --version' in script
    assert "compute_cap" in script and "$PLAN.txt" in script
    assert "TRITON_IMAGE" in script and "-v \"$PWD:/project\"" in script
    assert "R560" in (DEPLOY / ".env").read_text()
