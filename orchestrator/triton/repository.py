"""The Triton model repository: build-time artifacts and the contract the client relies on.

``orchestrator/triton/model_repository/`` (shipped in the package) holds the hand-written
``config.pbtxt`` files and Python-backend ``model.py`` files. ``build_repository`` writes the
repository Triton serves (``model_repository/`` of the checkout, or under ``$PERISHIELD_HOME``
when installed; never inside the package): those files, and what is generated from the shipped
weights: the detector graph edited to take uint8 NHWC frames with a dynamic batch, and a copy of
``orchestrator/detect/decode.py`` beside each Python model that decodes and runs NMS.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.paths import find_model, state_dir

TEMPLATES = Path(__file__).with_name("model_repository")  # shipped, read-only
REPOSITORY = state_dir() / "model_repository"  # built and served
DECODE_SOURCE = Path(__file__).parents[1] / "detect" / "decode.py"
DECODE_COPY = "perishield_decode.py"

# Models built from the ONNX file / carrying the decode module.
ONNX_MODELS = ("yolox_nano_onnx", "yolox_nano_cpu")
PYTHON_MODELS = ("yolox_postprocess", "yolox_nano_cpu")
CPU_MODELS = ("yolox_nano_cpu",)  # what runs on this machine's bundled tritonserver


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


def uint8_nhwc_graph(model_path: Path) -> bytes:
    """The detector graph taking ``images`` uint8 (N, H, W, 3) BGR with a dynamic batch:
    the cast to float and the transpose to NCHW run inside the graph, so clients send bytes."""
    import onnx  # noqa: PLC0415 - build-time only
    from onnx import TensorProto, helper  # noqa: PLC0415

    m = onnx.load(str(model_path))
    g = m.graph
    old = g.input[0]
    dims = old.type.tensor_type.shape.dim
    h, w = dims[2].dim_value, dims[3].dim_value
    inner = "images_nchw_float"
    for node in g.node:
        for i, name in enumerate(node.input):
            if name == old.name:
                node.input[i] = inner
    g.input.remove(old)
    g.input.insert(0, helper.make_tensor_value_info("images", TensorProto.UINT8,
                                                    ["batch", h, w, 3]))
    g.node.insert(0, helper.make_node("Transpose", ["images_nhwc_float"], [inner],
                                      perm=[0, 3, 1, 2], name="perishield_to_nchw"))
    g.node.insert(0, helper.make_node("Cast", ["images"], ["images_nhwc_float"],
                                      to=TensorProto.FLOAT, name="perishield_cast"))
    for out in g.output:
        out.type.tensor_type.shape.dim[0].dim_param = "batch"
    del g.value_info[:]
    onnx.checker.check_model(m)
    return bytes(m.SerializeToString())


def build_repository(repository: Path = REPOSITORY, model: str | None = None) -> list[Path]:
    """Write the served repository: the shipped configurations and Python models, and the
    generated files; returns what was written. Idempotent."""
    graph = uint8_nhwc_graph(find_model(model))
    written = []
    for src in sorted(TEMPLATES.rglob("*")):
        if (src.is_file() and "__pycache__" not in src.parts
                and src.name not in (DECODE_COPY, "model.onnx", "model.plan")):
            out = repository / src.relative_to(TEMPLATES)
            out.parent.mkdir(parents=True, exist_ok=True)
            if not out.exists() or out.read_bytes() != src.read_bytes():
                shutil.copyfile(src, out)
            written.append(out)
    for name in ONNX_MODELS:
        out = repository / name / "1" / "model.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists() or out.read_bytes() != graph:
            out.write_bytes(graph)
        written.append(out)
    for name in PYTHON_MODELS:
        out = repository / name / "1" / DECODE_COPY
        shutil.copyfile(DECODE_SOURCE, out)
        written.append(out)
    return written
