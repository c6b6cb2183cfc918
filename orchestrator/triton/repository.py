"""The Triton model repository: build-time artifacts and the contract the client relies on.

``orchestrator/triton/model_repository/`` (shipped in the package) holds the hand-written
``config.pbtxt`` files and the Python-backend ``model.py``. ``build_repository`` writes the
repository Triton serves (``model_repository/`` of the checkout, or under ``$PERISHIELD_HOME``
when installed; never inside the package): those files, and the graphs generated from the
shipped weights (``orchestrator.detect.graph``): uint8 NHWC frames in with a dynamic batch,
decoding and NMS inside, the client contract's four tensors out. Each graph is built with the
parameters of its own ``config.pbtxt`` (``score_floor``, ``nms_iou``, ``classes``, the number of
output boxes), so a configuration and its graph cannot disagree.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.detect.graph import Nms, served_graph
from orchestrator.paths import find_model, state_dir

TEMPLATES = Path(__file__).with_name("model_repository")  # shipped, read-only
REPOSITORY = state_dir() / "model_repository"  # built and served

# The graph each model is built from, and how its NMS is finished: the TensorRT plan is built
# from its ONNX file on the GPU host (deploy/triton/build_plan.sh); ONNX Runtime loads the others.
GRAPHS: dict[str, tuple[str, Nms]] = {
    "yolox_nano": ("model.trt.onnx", "trt"),
    "yolox_nano_onnx": ("model.onnx", "onnx"),
    "yolox_nano_cpu": ("model.onnx", "onnx"),
}
CPU_MODELS = ("yolox_nano_cpu",)  # what runs on this machine's bundled tritonserver
# What earlier layouts generated and this one no longer serves: removed by a build.
RETIRED = ("yolox_nano_trt", "yolox_postprocess", "yolox_nano_cpu/1/perishield_decode.py")


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    dtype: str  # Triton dtype name, e.g. "UINT8"
    dims: tuple[int, ...]  # without the batch dimension


def client_contract(size: tuple[int, int] = (416, 416), max_det: int = 100
                    ) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs every client-facing detector model must have."""
    w, h = size
    return ([TensorSpec("images", "UINT8", (h, w, 3))],
            [TensorSpec("boxes", "FP32", (max_det, 4)), TensorSpec("scores", "FP32", (max_det,)),
             TensorSpec("classes", "INT32", (max_det,)),
             TensorSpec("num_detections", "INT32", (1,))])


def graph_parameters(config_text: str) -> dict[str, Any]:
    """The graph-building arguments a ``config.pbtxt`` states: its input size, the number of
    boxes it returns, and its ``score_floor``, ``nms_iou`` and ``classes`` parameters."""
    from google.protobuf import text_format  # noqa: PLC0415
    from tritonclient.grpc import model_config_pb2 as mc  # noqa: PLC0415

    cfg = text_format.Parse(config_text, mc.ModelConfig())
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    missing = {"score_floor", "nms_iou", "classes"} - set(params)
    if missing:
        raise ValueError(f"model {cfg.name!r}: config.pbtxt lacks parameters {sorted(missing)}")
    h, w = cfg.input[0].dims[:2]
    return {"size": (int(w), int(h)), "max_det": int(cfg.output[0].dims[0]),
            "score_floor": float(params["score_floor"]), "nms_iou": float(params["nms_iou"]),
            "classes": [int(c) for c in params["classes"].split(",")]}


def build_repository(repository: Path = REPOSITORY, model: str | None = None,
                     onnx_instances: str = "gpu") -> list[Path]:
    """Write the served repository: the shipped configurations and Python model, and the
    generated graphs; returns what was written. Idempotent; removes what older layouts
    generated (the ensemble's steps). ``onnx_instances="cpu"`` runs the ONNX Runtime model
    (yolox_nano_onnx) on CPU instances, for a server without a GPU."""
    weights = find_model(model)
    written = []
    for src in sorted(TEMPLATES.rglob("*")):
        if src.is_file() and "__pycache__" not in src.parts:
            out = repository / src.relative_to(TEMPLATES)
            out.parent.mkdir(parents=True, exist_ok=True)
            data = src.read_bytes()
            if onnx_instances == "cpu" and out.relative_to(repository).parts == (
                    "yolox_nano_onnx", "config.pbtxt"):
                data = data.replace(b"kind: KIND_GPU", b"kind: KIND_CPU")
            if not out.exists() or out.read_bytes() != data:
                out.write_bytes(data)
            written.append(out)
    for name, (filename, nms) in GRAPHS.items():
        graph = served_graph(weights, nms,
                             **graph_parameters((TEMPLATES / name / "config.pbtxt").read_text()))
        out = repository / name / "1" / filename
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists() or out.read_bytes() != graph:
            out.write_bytes(graph)
        written.append(out)
    for old in RETIRED:
        path = repository / old
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return written
