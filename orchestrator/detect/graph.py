"""The detector graph as served: uint8 frames in, decoded and suppressed boxes out.

Built once (``perishield triton build``) from the shipped YOLOX ONNX file with the ``onnx``
package, so that decoding and NMS run inside the model, on the device that ran the network,
and only the kept boxes leave it (2.4 KB a frame for 100 boxes instead of the raw head's 1.2 MB):

- ``uint8_nhwc``: takes ``images`` uint8 (N, H, W, 3) BGR with a dynamic batch (the cast to float
  and the transpose to NCHW run in the graph, so clients send bytes);
- ``with_nms``: adds YOLOX's grid decoding and class-aware NMS, finished either with ONNX
  ``NonMaxSuppression`` (ONNX Runtime, any provider) or with TensorRT's ``EfficientNMS_TRT``
  plugin (for ``trtexec``; the plugin only exists inside TensorRT). Both give the client
  contract: ``boxes`` (N, K, 4) in model pixels, ``scores`` (N, K), ``classes`` (N, K) int32
  (COCO ids, -1 past the end) and ``num_detections`` (N, 1) int32, best first.

The decode is ``orchestrator.detect.decode.decode_yolox`` in graph form, to the bit: each anchor
keeps its best class (``argmax`` over all classes) and scores ``objectness × that class``; only
anchors whose best class is one of ``classes`` enter NMS, each class on its own. So a crowd of
people never competes with chairs and handbags for the K output boxes, and the candidates (one
per anchor, 3,549 at 416×416) stay under EfficientNMS's 4,096 pre-NMS cap.

Opset 11 ops only, the shipped model's opset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from orchestrator.classes import class_id, class_name
from orchestrator.config import DetectorConfig
from orchestrator.detect.base import DetectorError
from orchestrator.detect.decode import yolox_grids

OUTPUTS = ("boxes", "scores", "classes", "num_detections")
TRT_DOMAIN = "TRT"  # onnx-tensorrt imports an unknown op as the plugin of the same name
Nms = Literal["onnx", "trt"]


def uint8_nhwc(m: Any) -> Any:
    """Edit the ONNX model ``m`` in place to take ``images`` uint8 (N, H, W, 3) with a dynamic
    batch; returns ``m``."""
    from onnx import TensorProto, helper  # noqa: PLC0415 - build-time only

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
    return m


class _Builder:
    """Appends nodes and constants to a graph with unique, prefixed names."""

    def __init__(self, graph: Any) -> None:
        self.g = graph
        self.n = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"perishield_{hint}_{self.n}"

    def const(self, value: Any, hint: str = "c") -> str:
        from onnx import numpy_helper  # noqa: PLC0415

        name = self.name(hint)
        self.g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str = "", n_out: int = 1,
           outputs: Sequence[str] | None = None, domain: str = "", **attrs: Any) -> Any:
        from onnx import helper  # noqa: PLC0415

        outs = list(outputs) if outputs else [self.name(hint or op_type.lower())
                                              for _ in range(n_out)]
        self.g.node.append(helper.make_node(op_type, list(inputs), outs,
                                            name=self.name(op_type), domain=domain, **attrs))
        return outs[0] if n_out == 1 and not outputs else outs


def with_nms(m: Any, size: tuple[int, int], classes: Sequence[int], score_floor: float,
             nms_iou: float, max_det: int, nms: Nms) -> Any:
    """Edit the uint8 YOLOX model ``m`` in place: its raw head (N, A, 5 + C) becomes the client
    contract's four outputs (see the module docstring); returns ``m``."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    g = m.graph
    raw = g.output[0].name
    grids, strides = yolox_grids(size)
    a = len(grids)
    head = [d.dim_value for d in g.output[0].type.tensor_type.shape.dim]
    if len(head) != 3 or head[1] != a:
        raise ValueError(f"not a YOLOX head: output {head}, expected [N, {a}, 5 + classes] "
                         f"for {size[0]}x{size[1]} frames")
    n_cls = head[2] - 5
    kept = np.asarray(classes, np.int64)
    if not len(kept) or kept.min() < 0 or kept.max() >= n_cls:
        raise ValueError(f"classes must be ids in 0..{n_cls - 1}, got {list(classes)}")
    if a * len(kept) < max_det:
        raise ValueError(f"max_det {max_det} exceeds the {a * len(kept)} candidates")
    del g.output[:]
    b = _Builder(g)
    axes2 = b.const(np.array([2], np.int64))

    def cols(start: int, end: int) -> str:
        return b.op("Slice", [raw, b.const(np.array([start], np.int64)),
                              b.const(np.array([end], np.int64)), axes2], hint="cols")

    # Boxes (N, A, 4) xyxy in model pixels: (xy + grid) · stride ± exp(wh) · stride / 2.
    xy = b.op("Mul", [b.op("Add", [cols(0, 2), b.const(grids[None])]), b.const(strides[None])])
    wh = b.op("Mul", [b.op("Exp", [cols(2, 4)]), b.const(strides[None])])
    half = b.op("Div", [wh, b.const(np.array(2, np.float32))])
    boxes = b.op("Concat", [b.op("Sub", [xy, half]), b.op("Add", [xy, half])], axis=2,
                 hint="decoded_boxes")
    # Each anchor's best class and its score: objectness × class probability.
    cls = cols(5, 5 + n_cls)
    best = b.op("ArgMax", [cls], axis=2, keepdims=1, hint="best_class")  # (N, A, 1)
    score = b.op("Mul", [cols(4, 5), b.op("GatherElements", [cls, best], axis=2)])
    # (N, A, Ck): the anchor's score in its class's column when that class is kept, else 0.
    is_kept = b.op("Equal", [best, b.const(kept[None, None])])
    per_class = b.op("Where", [is_kept, score, b.const(np.array(0, np.float32))],
                     hint="kept_scores")
    if nms == "trt":
        num, nbox, nscore, ncls = b.op(
            "EfficientNMS_TRT", [boxes, per_class], n_out=4, domain=TRT_DOMAIN,
            hint="efficient_nms", plugin_version="1", background_class=-1, box_coding=0,
            iou_threshold=float(nms_iou), score_threshold=float(score_floor),
            max_output_boxes=int(max_det), score_activation=0, class_agnostic=0)
        rank = b.const(np.arange(max_det, dtype=np.int32)[None])
        valid_of = b.op("Less", [rank, num])  # (N, K): the first num slots hold boxes
        zero = b.const(np.array(0, np.int32))  # the plugin's padding is no class index
        kept_idx = b.op("Where", [b.op("Less", [ncls, zero]), zero, ncls])
        picked_boxes, picked_scores, picked_cls = nbox, nscore, kept_idx
        b.op("Identity", [num], outputs=["num_detections"])
    else:
        by_class = b.op("Transpose", [per_class], perm=[0, 2, 1])  # (N, Ck, A)
        sel = b.op("NonMaxSuppression", [
            boxes, by_class, b.const(np.array([max_det], np.int64)),
            b.const(np.array([nms_iou], np.float32)),
            b.const(np.array([score_floor], np.float32))], center_point_box=0)  # (S, 3)

        def column(i: int) -> str:
            return b.op("Gather", [sel, b.const(np.array(i, np.int64))], axis=1)

        # Spread the kept scores over a dense (N, Ck·A) grid, then take each frame's best K.
        flat = b.op("Add", [b.op("Mul", [column(1), b.const(np.array(a, np.int64))]), column(2)])
        where = b.op("Concat", [b.op("Unsqueeze", [column(0)], axes=[1]),
                                b.op("Unsqueeze", [flat], axes=[1])], axis=1)
        dense_shape = b.op("Concat", [
            b.op("Slice", [b.op("Shape", [raw]), b.const(np.array([0], np.int64)),
                           b.const(np.array([1], np.int64))]),
            b.const(np.array([a * len(kept)], np.int64))], axis=0)
        zeros = b.op("ConstantOfShape", [dense_shape],
                     value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
        dense = b.op("ScatterND", [zeros, where, b.op("GatherND", [by_class, sel])])
        top, idx = b.op("TopK", [dense, b.const(np.array([max_det], np.int64))], n_out=2,
                        axis=1, largest=1, sorted=1)
        valid_of = b.op("Greater", [top, b.const(np.array(0, np.float32))])
        anchor = b.op("Mod", [idx, b.const(np.array(a, np.int64))])
        gather_at = b.op("Expand", [b.op("Unsqueeze", [anchor], axes=[2]),
                                    b.const(np.array([1, 1, 4], np.int64))])
        picked_boxes = b.op("GatherElements", [boxes, gather_at], axis=1)
        picked_scores = top
        picked_cls = b.op("Div", [idx, b.const(np.array(a, np.int64))])
        b.op("ReduceSum", [b.op("Cast", [valid_of], to=TensorProto.INT32)], axes=[1],
             keepdims=1, outputs=["num_detections"])
    b.op("Where", [b.op("Unsqueeze", [valid_of], axes=[2]), picked_boxes,
                   b.const(np.array(0, np.float32))], outputs=["boxes"])
    b.op("Where", [valid_of, picked_scores, b.const(np.array(0, np.float32))],
         outputs=["scores"])
    b.op("Where", [valid_of, b.op("Gather", [b.const(kept.astype(np.int32)), picked_cls], axis=0),
                   b.const(np.array(-1, np.int32))], outputs=["classes"])
    shapes: tuple[tuple[str, int, list[str | int]], ...] = (
        ("boxes", TensorProto.FLOAT, ["batch", max_det, 4]),
        ("scores", TensorProto.FLOAT, ["batch", max_det]),
        ("classes", TensorProto.INT32, ["batch", max_det]),
        ("num_detections", TensorProto.INT32, ["batch", 1]))
    for name, dtype, dims in shapes:
        g.output.append(helper.make_tensor_value_info(name, dtype, dims))
    if nms == "trt":
        m.opset_import.append(helper.make_opsetid(TRT_DOMAIN, 1))
    # What the graph keeps, readable by whoever loads it (check_limits).
    for key, value in (("score_floor", f"{score_floor:g}"), ("nms_iou", f"{nms_iou:g}"),
                       ("classes", ",".join(str(int(c)) for c in kept))):
        m.metadata_props.add(key=key, value=value)
    return m


def check_limits(config: DetectorConfig, params: Mapping[str, str], what: str) -> None:
    """Refuse settings a graph with NMS inside cannot honour: a ``score_threshold`` below the
    score it keeps, another ``nms_iou`` than the one it runs (when set explicitly), classes
    it does not return. ``params`` are its ``score_floor``, ``nms_iou`` and ``classes`` (a
    Triton model's parameters, or the graph's metadata); ``what`` names it and where they are
    stated. Raises ``DetectorError``."""
    floor = float(params.get("score_floor", 0.0))
    if config.score_threshold < floor:
        raise DetectorError(
            f"detector.score_threshold {config.score_threshold:g} is below the {floor:g} that "
            f"{what} keeps (score_floor): raise the threshold, or lower score_floor there")
    served_iou = params.get("nms_iou")
    if ("nms_iou" in config.model_fields_set and served_iou is not None
            and abs(float(served_iou) - config.nms_iou) > 1e-6):
        raise DetectorError(
            f"detector.nms_iou {config.nms_iou:g} cannot apply: {what} runs NMS at "
            f"{float(served_iou):g} (nms_iou); change it there, or leave detector.nms_iou out")
    served = {int(c) for c in params.get("classes", "").split(",") if c.strip()}
    unserved = sorted({class_id(c) for c in config.classes} - served) if served else []
    if unserved:
        raise DetectorError(
            f"detector.classes {[class_name(c) for c in unserved]} are not among the classes "
            f"{what} returns ({sorted(served)}, classes): drop them, or add their ids there "
            "and rebuild the graph")


def served_graph(model_path: Path, nms: Nms | None, classes: Sequence[int] = (),
                 score_floor: float = 0.05, nms_iou: float = 0.45, max_det: int = 100,
                 size: tuple[int, int] | None = None) -> bytes:
    """The serialized graph for a model repository: uint8 input, and with ``nms`` the decode and
    NMS inside (``None``: the raw head, as the embedded detector decodes it). ``size`` (w, h),
    when given, must be the weights' input size."""
    import onnx  # noqa: PLC0415

    m = uint8_nhwc(onnx.load(str(model_path)))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    own = (dims[2].dim_value, dims[1].dim_value)
    if size is not None and tuple(size) != own:
        raise ValueError(f"{model_path.name} takes {own[0]}x{own[1]} frames, not the "
                         f"{size[0]}x{size[1]} its configuration states")
    if nms is not None:
        with_nms(m, own, classes, score_floor, nms_iou, max_det, nms)
    onnx.checker.check_model(m)
    return bytes(m.SerializeToString())
