"""Every config.pbtxt parses as Triton's ModelConfig and matches what the client expects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from orchestrator.triton.repository import TEMPLATES as REPOSITORY
from orchestrator.triton.repository import client_contract, uint8_nhwc_graph

CONFIGS = sorted(REPOSITORY.glob("*/config.pbtxt"))
DTYPE = {mc.TYPE_UINT8: "UINT8", mc.TYPE_FP32: "FP32", mc.TYPE_INT32: "INT32"}


def load(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def tensors(ts: object) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(t.name, DTYPE[t.data_type], tuple(t.dims)) for t in ts]  # type: ignore[attr-defined]


def test_all_models_present() -> None:
    names = {p.parent.name for p in CONFIGS}
    assert names == {"yolox_nano", "yolox_nano_onnx", "yolox_nano_trt", "yolox_postprocess",
                     "yolox_nano_cpu"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.parent.name)
def test_config_parses_with_batching_and_instances(path: Path) -> None:
    cfg = load(path)
    assert cfg.name == path.parent.name
    assert cfg.max_batch_size > 0
    if cfg.platform != "ensemble":
        assert cfg.HasField("dynamic_batching")
        assert len(cfg.instance_group) >= 1
    assert (path.parent / "1").is_dir()


@pytest.mark.parametrize(("name", "timeout_us"), [("yolox_nano_onnx", 200_000),
                                                  ("yolox_nano_trt", 200_000),
                                                  ("yolox_nano_cpu", 1_000_000)])
def test_models_shed_stale_frames(name: str, timeout_us: int) -> None:
    # Real-time video: a request that cannot start in time (200 ms on a GPU, 1 s on the CPU
    # model) or finds the queue full is turned down, not queued.
    policy = load(REPOSITORY / name / "config.pbtxt").dynamic_batching.default_queue_policy
    assert policy.timeout_action == mc.ModelQueuePolicy.REJECT
    assert policy.default_timeout_microseconds == timeout_us
    assert policy.max_queue_size > 0


@pytest.mark.parametrize("name", ["yolox_nano", "yolox_nano_cpu"])
def test_client_facing_models_match_the_client_contract(name: str) -> None:
    cfg = load(REPOSITORY / name / "config.pbtxt")
    want_in, want_out = client_contract()
    assert tensors(cfg.input) == [(t.name, t.dtype, t.dims) for t in want_in]
    assert tensors(cfg.output) == [(t.name, t.dtype, t.dims) for t in want_out]


def test_gpu_configs() -> None:
    onnx_cfg = load(REPOSITORY / "yolox_nano_onnx" / "config.pbtxt")
    trt_cfg = load(REPOSITORY / "yolox_nano_trt" / "config.pbtxt")
    assert onnx_cfg.platform == "onnxruntime_onnx" and trt_cfg.platform == "tensorrt_plan"
    for cfg in (onnx_cfg, trt_cfg):
        assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
        # No preferred sizes: a client's 8-frame request would leave at once, never batched
        # up to the 16 the plan is tuned for; the queue delay forms the batches.
        assert list(cfg.dynamic_batching.preferred_batch_size) == []
        assert 2000 <= cfg.dynamic_batching.max_queue_delay_microseconds <= 5000
        assert tensors(cfg.input) == [("images", "UINT8", (416, 416, 3))]
        assert tensors(cfg.output) == [("output", "FP32", (3549, 85))]
    accel = onnx_cfg.optimization.execution_accelerators.gpu_execution_accelerator
    assert [a.name for a in accel] == ["tensorrt"]


def test_ensemble_wires_existing_models_with_matching_tensors() -> None:
    ens = load(REPOSITORY / "yolox_nano" / "config.pbtxt")
    assert ens.platform == "ensemble"
    steps = ens.ensemble_scheduling.step
    first, second = load(REPOSITORY / steps[0].model_name / "config.pbtxt"), \
        load(REPOSITORY / steps[1].model_name / "config.pbtxt")
    assert set(steps[0].input_map) == {t.name for t in first.input}
    assert set(steps[0].output_map) == {t.name for t in first.output}
    assert set(steps[1].input_map) == {t.name for t in second.input}
    assert steps[0].output_map["output"] == steps[1].input_map["raw"]
    assert tensors(first.output)[0][2] == tensors(second.input)[0][2]
    assert set(steps[1].output_map.values()) == {t.name for t in ens.output}


def test_uint8_graph_equals_the_float_graph(yolox_model: Path,
                                            stadtmitte_frames: list[np.ndarray]) -> None:
    from orchestrator.detect.postprocess import letterbox

    batch = np.stack([letterbox(f, (416, 416))[0] for f in stadtmitte_frames[:3]])
    edited = ort.InferenceSession(uint8_nhwc_graph(yolox_model))
    original = ort.InferenceSession(str(yolox_model))
    got = edited.run(None, {"images": batch})[0]
    assert got.shape == (3, 3549, 85)
    want = original.run(None, {"images": batch[:1].transpose(0, 3, 1, 2).astype(np.float32)})[0]
    np.testing.assert_allclose(got[:1], want, rtol=1e-5, atol=1e-4)
