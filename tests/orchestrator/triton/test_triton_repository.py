"""Every config.pbtxt parses as Triton's ModelConfig and matches what the client expects; the
generated graphs (decoding and NMS inside) give the embedded detector's boxes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from orchestrator.detect.decode import decode_yolox, select, yolox_grids
from orchestrator.detect.graph import OUTPUTS, served_graph
from orchestrator.detect.postprocess import letterbox
from orchestrator.triton.repository import (
    GRAPHS,
    build_repository,
    client_contract,
    graph_parameters,
)
from orchestrator.triton.repository import TEMPLATES as REPOSITORY

CONFIGS = sorted(REPOSITORY.glob("*/config.pbtxt"))
DTYPE = {mc.TYPE_UINT8: "UINT8", mc.TYPE_FP32: "FP32", mc.TYPE_INT32: "INT32"}
MODELS = ("yolox_nano", "yolox_nano_onnx", "yolox_nano_cpu")


def load(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def tensors(ts: object) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(t.name, DTYPE[t.data_type], tuple(t.dims)) for t in ts]  # type: ignore[attr-defined]


def params(name: str) -> dict:
    return graph_parameters((REPOSITORY / name / "config.pbtxt").read_text())


def test_all_models_present() -> None:
    # One model per variant, no ensemble: decoding and NMS are in every graph.
    assert {p.parent.name for p in CONFIGS} == set(MODELS) == set(GRAPHS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.parent.name)
def test_config_parses_with_batching_and_instances(path: Path) -> None:
    cfg = load(path)
    assert cfg.name == path.parent.name
    assert cfg.max_batch_size > 0
    assert cfg.HasField("dynamic_batching")
    assert len(cfg.instance_group) >= 1
    assert (path.parent / "1").is_dir()


@pytest.mark.parametrize(("name", "timeout_us"), [("yolox_nano", 200_000),
                                                  ("yolox_nano_onnx", 200_000),
                                                  ("yolox_nano_cpu", 1_000_000)])
def test_models_shed_stale_frames(name: str, timeout_us: int) -> None:
    # Real-time video: a request that cannot start in time (200 ms on a GPU, 1 s on the CPU
    # model) or finds the queue full is turned down, not queued.
    policy = load(REPOSITORY / name / "config.pbtxt").dynamic_batching.default_queue_policy
    assert policy.timeout_action == mc.ModelQueuePolicy.REJECT
    assert policy.default_timeout_microseconds == timeout_us
    assert policy.max_queue_size > 0


@pytest.mark.parametrize("name", MODELS)
def test_every_model_matches_the_client_contract(name: str) -> None:
    cfg = load(REPOSITORY / name / "config.pbtxt")
    want_in, want_out = client_contract()
    assert tensors(cfg.input) == [(t.name, t.dtype, t.dims) for t in want_in]
    assert tensors(cfg.output) == [(t.name, t.dtype, t.dims) for t in want_out]


def test_every_model_states_the_same_graph_parameters() -> None:
    # Clients switch between the variants: the same floor, IoU and classes everywhere.
    first = params(MODELS[0])
    assert first["classes"] == [0, 1, 2, 3, 5, 7] and first["max_det"] == 100
    assert all(params(name) == first for name in MODELS[1:])


def test_gpu_configs() -> None:
    trt_cfg = load(REPOSITORY / "yolox_nano" / "config.pbtxt")
    onnx_cfg = load(REPOSITORY / "yolox_nano_onnx" / "config.pbtxt")
    assert trt_cfg.platform == "tensorrt_plan" and onnx_cfg.platform == "onnxruntime_onnx"
    for cfg in (onnx_cfg, trt_cfg):
        assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
        # No preferred sizes: a client's 8-frame request would leave at once, never batched
        # up to the 16 the plan is tuned for; the queue delay forms the batches.
        assert list(cfg.dynamic_batching.preferred_batch_size) == []
        assert 2000 <= cfg.dynamic_batching.max_queue_delay_microseconds <= 5000
    accel = onnx_cfg.optimization.execution_accelerators.gpu_execution_accelerator
    assert [a.name for a in accel] == ["tensorrt"]


@pytest.fixture(scope="module")
def model_inputs(stadtmitte: Path, campus: Path) -> np.ndarray:
    """Letterboxed frames of both shared sequences, every 5th of the first 60."""
    out = []
    for video in (stadtmitte, campus):
        with av.open(str(video)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i % 5 == 0:
                    out.append(letterbox(f.to_ndarray(format="bgr24"), (416, 416))[0])
                if i == 59:
                    break
    return np.stack(out)


def test_uint8_graph_equals_the_float_graph(yolox_model: Path,
                                            model_inputs: np.ndarray) -> None:
    batch = model_inputs[:3]
    edited = ort.InferenceSession(served_graph(yolox_model, None))
    original = ort.InferenceSession(str(yolox_model))
    got = edited.run(None, {"images": batch})[0]
    assert got.shape == (3, 3549, 85)
    want = original.run(None, {"images": batch[:1].transpose(0, 3, 1, 2).astype(np.float32)})[0]
    np.testing.assert_allclose(got[:1], want, rtol=1e-5, atol=1e-4)


def embedded(raw: np.ndarray, kept: list[int], floor: float = 0.05, iou: float = 0.45
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What the embedded detector keeps of raw heads: numpy decode, class filter, NMS."""
    grids, strides = yolox_grids((416, 416))
    out = []
    for r in raw:
        b, s, c = decode_yolox(r, grids, strides)
        keep = select(b, s, c, floor, iou, np.array(kept), max_det=100)
        out.append((b[keep], s[keep], c[keep]))
    return out


def test_graph_with_nms_gives_the_embedded_boxes(yolox_model: Path,
                                                 model_inputs: np.ndarray) -> None:
    p = params("yolox_nano_onnx")
    raw = ort.InferenceSession(served_graph(yolox_model, None)).run(
        None, {"images": model_inputs})[0]
    packed = ort.InferenceSession(served_graph(yolox_model, "onnx", **p)).run(
        list(OUTPUTS), {"images": model_inputs})
    boxes, scores, classes, num = packed
    assert boxes.shape == (len(model_inputs), 100, 4) and num.dtype == np.int32
    assert classes.dtype == np.int32 and num.shape == (len(model_inputs), 1)
    for i, (b, s, c) in enumerate(embedded(raw, p["classes"], p["score_floor"], p["nms_iou"])):
        n = int(num[i, 0])
        assert n == len(b) >= 4
        np.testing.assert_allclose(boxes[i, :n], b, atol=1e-3)
        np.testing.assert_allclose(scores[i, :n], s, atol=1e-6)
        assert classes[i, :n].tolist() == c.tolist()
        # Past the end: no box, no score, class -1.
        assert not boxes[i, n:].any() and not scores[i, n:].any()
        assert (classes[i, n:] == -1).all()


def test_kept_classes_each_get_their_place(yolox_model: Path, model_inputs: np.ndarray) -> None:
    # Boxes of classes the client never keeps do not take the K places: with person only,
    # every person the embedded detector keeps is there, even with a cap of 5 boxes.
    only_people = served_graph(yolox_model, "onnx", classes=[0], max_det=5)
    boxes, scores, classes, num = ort.InferenceSession(only_people).run(
        list(OUTPUTS), {"images": model_inputs[:4]})
    raw = ort.InferenceSession(served_graph(yolox_model, None)).run(
        None, {"images": model_inputs[:4]})[0]
    for i, (b, s, _) in enumerate(embedded(raw, [0])):
        n = int(num[i, 0])
        assert n == min(5, len(b))
        assert set(classes[i, :n].tolist()) == {0}
        np.testing.assert_allclose(scores[i, :n], s[:5], atol=1e-6)
        np.testing.assert_allclose(boxes[i, :n], b[:5], atol=1e-3)


def part(m: onnx.ModelProto, nodes: list, inputs: dict[str, int],
         outputs: dict[str, int]) -> bytes:
    """A runnable piece of ``m``: ``nodes`` from ``inputs`` to ``outputs`` (name: type)."""
    g = helper.make_graph(nodes, "part", [helper.make_tensor_value_info(n, t, None)
                                          for n, t in inputs.items()],
                          [helper.make_tensor_value_info(n, t, None)
                           for n, t in outputs.items()], initializer=list(m.graph.initializer))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)]).SerializeToString()


def test_tensorrt_graph_feeds_efficient_nms_the_same_candidates(
        yolox_model: Path, model_inputs: np.ndarray) -> None:
    p = params("yolox_nano")
    m = onnx.load_from_string(served_graph(yolox_model, "trt", **p))
    [plugin] = [n for n in m.graph.node if n.op_type == "EfficientNMS_TRT"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in plugin.attribute}
    assert attrs["max_output_boxes"] == 100 and attrs["background_class"] == -1
    assert attrs["box_coding"] == 0 and attrs["class_agnostic"] == 0
    assert attrs["score_threshold"] == pytest.approx(p["score_floor"])
    assert attrs["iou_threshold"] == pytest.approx(p["nms_iou"])
    assert [o.name for o in m.graph.output] == list(OUTPUTS)
    # What enters the plugin (run here by ONNX Runtime): boxes of every anchor, and each
    # anchor's score in its kept class's column, as the embedded decode makes them.
    at = list(m.graph.node).index(plugin)
    pre = part(m, list(m.graph.node[:at]), {"images": TensorProto.UINT8},
               dict.fromkeys(plugin.input, TensorProto.FLOAT))
    boxes, per_class = ort.InferenceSession(pre).run(
        None, {"images": model_inputs[:4]})
    raw = ort.InferenceSession(served_graph(yolox_model, None)).run(
        None, {"images": model_inputs[:4]})[0]
    grids, strides = yolox_grids((416, 416))
    assert per_class.shape == (4, 3549, 6)
    for i in range(4):
        b, s, c = decode_yolox(raw[i], grids, strides)
        np.testing.assert_allclose(boxes[i], b, atol=1e-3)
        col = {cid: k for k, cid in enumerate(p["classes"])}
        for a in np.flatnonzero(np.isin(c, p["classes"]) & (s > 0.05)):
            assert per_class[i, a, col[int(c[a])]] == pytest.approx(s[a], abs=1e-6)
        assert (per_class[i] > 0).sum(axis=1).max() <= 1  # one class per anchor
    # What comes out of it: the plugin's class indices become COCO ids, -1 past the end.
    f32, i32 = TensorProto.FLOAT, TensorProto.INT32
    post = part(m, list(m.graph.node[at + 1:]),
                dict(zip(plugin.output, (i32, f32, f32, i32), strict=True)),
                dict(zip(OUTPUTS, (f32, f32, i32, i32), strict=True)))
    feed = dict(zip(plugin.output, (np.array([[2]], np.int32), np.ones((1, 100, 4), np.float32),
                                    np.full((1, 100), 0.9, np.float32),
                                    np.full((1, 100), 5, np.int32)), strict=True))
    got = dict(zip(OUTPUTS, ort.InferenceSession(post).run(list(OUTPUTS), feed), strict=True))
    assert got["classes"][0, :3].tolist() == [7, 7, -1]  # index 5 of the kept classes: truck
    assert got["scores"][0, :3].tolist() == pytest.approx([0.9, 0.9, 0.0])
    assert got["num_detections"].tolist() == [[2]]


def test_a_graph_is_refused_for_other_weights_or_sizes(yolox_model: Path) -> None:
    with pytest.raises(ValueError, match="takes 416x416 frames, not the 640x640"):
        served_graph(yolox_model, "onnx", classes=[0], size=(640, 640))
    with pytest.raises(ValueError, match="classes must be ids in 0..79"):
        served_graph(yolox_model, "onnx", classes=[80])
    with pytest.raises(ValueError, match="not a YOLOX head"):
        served_graph(Path(str(yolox_model).replace("yolox_nano", "fastestdet")), "onnx",
                     classes=[0])


def test_build_writes_every_graph_and_removes_the_old_layout(tmp_path: Path) -> None:
    old = tmp_path / "yolox_postprocess" / "1"
    old.mkdir(parents=True)
    (old / "model.py").write_text("# the ensemble's NMS step")
    (tmp_path / "yolox_nano_cpu" / "1").mkdir(parents=True)
    (tmp_path / "yolox_nano_cpu" / "1" / "perishield_decode.py").write_text("")
    written = build_repository(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} >= {
        "yolox_nano/1/model.trt.onnx", "yolox_nano_onnx/1/model.onnx",
        "yolox_nano_cpu/1/model.onnx", "yolox_nano_cpu/1/model.py"}
    assert not (tmp_path / "yolox_postprocess").exists()
    assert not (tmp_path / "yolox_nano_cpu" / "1" / "perishield_decode.py").exists()
    before = {p: p.stat().st_mtime_ns for p in written}
    build_repository(tmp_path)  # idempotent: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in written} == before


def test_the_onnx_runtime_model_can_be_built_for_cpu_instances(tmp_path: Path) -> None:
    """A server without a GPU (NGC's image on a CPU node: deploy/k8s/base) serves
    yolox_nano_onnx on CPU instances; the plan stays a GPU model; a later GPU build restores
    the shipped configuration."""
    build_repository(tmp_path, onnx_instances="cpu")
    kinds = {name: {g.kind for g in load(tmp_path / name / "config.pbtxt").instance_group}
             for name in ("yolox_nano", "yolox_nano_onnx", "yolox_nano_cpu")}
    assert kinds == {"yolox_nano": {mc.ModelInstanceGroup.KIND_GPU},
                     "yolox_nano_onnx": {mc.ModelInstanceGroup.KIND_CPU},
                     "yolox_nano_cpu": {mc.ModelInstanceGroup.KIND_CPU}}
    build_repository(tmp_path)
    assert (tmp_path / "yolox_nano_onnx" / "config.pbtxt").read_bytes() == (
        REPOSITORY / "yolox_nano_onnx" / "config.pbtxt").read_bytes()
