"""The embedded default detector: ONNX Runtime in-process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.classes import class_id
from orchestrator.config import DetectorConfig
from orchestrator.detect.base import DetectorError, Image
from orchestrator.detect.graph import OUTPUTS, check_limits
from orchestrator.detect.postprocess import (
    FrameTransform,
    decode_fastestdet,
    decode_yolox,
    finish,
    prepare,
    unpack,
    yolox_grids,
)
from orchestrator.detections import Detections
from orchestrator.paths import find_model

log = logging.getLogger(__name__)


def _dynamic_batch(model_bytes: bytes) -> bytes | None:
    """The same graph with a symbolic batch dimension, or None if ``onnx`` cannot do it."""
    try:
        import onnx  # noqa: PLC0415 - only needed when loading
    except ImportError:
        return None
    m = onnx.load_from_string(model_bytes)
    for t in [*m.graph.input, *m.graph.output]:
        dims = t.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "batch"
    del m.graph.value_info[:]
    return bytes(m.SerializeToString())


class OnnxDetector:
    """YOLOX- or FastestDet-format ONNX model run by ONNX Runtime; or a graph with the YOLOX
    decoding and NMS inside (a served repository's ``model.onnx``), which ONNX Runtime runs
    from uint8 frames to the kept boxes.

    Frames arrive as BGR uint8 arrays or decoded pictures; each is resized to the model size as
    uint8 (a picture straight from its YUV pixels) and only then turned into the model's float
    tensor. Models with a fixed batch of 1 are made batch-dynamic in memory
    when the graph allows it; otherwise frames are run one by one inside the same call.

    Example:
        >>> det = OnnxDetector(DetectorConfig())            # doctest: +SKIP
        >>> det.detect([frame])[0].xyxy                     # doctest: +SKIP
    """

    def __init__(self, config: DetectorConfig, providers: list[str] | None = None) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - heavy import kept out of module import

        self.config = config
        self.model_path: Path = find_model(config.model)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._providers = providers or ["CPUExecutionProvider"]
        raw = self.model_path.read_bytes()
        try:
            self._session = ort.InferenceSession(raw, opts, providers=self._providers)
        except Exception as e:  # noqa: BLE001 - ORT raises many types
            raise DetectorError(f"cannot load ONNX model {self.model_path}: {e}") from None
        inp = self._session.get_inputs()[0]
        shape = inp.shape
        # A graph with decoding and NMS inside (``perishield triton build`` writes them):
        # uint8 NHWC frames in, the client contract's four tensors out.
        self.packed = (inp.type == "tensor(uint8)" and set(OUTPUTS) <= {
            o.name for o in self._session.get_outputs()})
        if self.packed:
            if len(shape) != 4 or shape[3] != 3:
                raise DetectorError(f"{self.model_path}: expected an input of shape "
                                    f"[N,H,W,3], got {shape}")
            meta = self._session.get_modelmeta().custom_metadata_map
            check_limits(config, meta, f"{self.model_path.name} (its metadata)")
            shape = [shape[0], 3, shape[1], shape[2]]
        elif len(shape) != 4 or shape[1] != 3:
            raise DetectorError(f"{self.model_path}: expected an input of shape [N,3,H,W], "
                                f"got {shape}")
        model_hw = (shape[3], shape[2])
        self.input_size: tuple[int, int]
        if config.input_size is not None:
            self.input_size = (int(config.input_size[0]), int(config.input_size[1]))
            if all(isinstance(v, int) for v in model_hw) and model_hw != self.input_size:
                raise DetectorError(
                    f"{self.model_path} takes {model_hw[0]}x{model_hw[1]} images: "
                    f"detector.input_size {list(self.input_size)} cannot apply (leave it out, "
                    "or use a model exported with that or a dynamic size)")
        elif all(isinstance(v, int) for v in model_hw):
            self.input_size = (int(model_hw[0]), int(model_hw[1]))
        else:
            raise DetectorError(f"{self.model_path}: input size is dynamic; set "
                                "detector.input_size")
        self._input_name = inp.name
        self.max_batch = config.max_batch
        self._batched = shape[0] != 1
        if not self._batched and config.max_batch > 1:
            self._try_dynamic_batch(raw, ort)
        self._kept = np.array([class_id(c) for c in config.classes], np.int64)
        if not self.packed:  # a packed graph decodes itself
            if config.format == "yolox":
                self._grids, self._strides = yolox_grids(self.input_size)
            self._check_output()

    def _try_dynamic_batch(self, raw: bytes, ort: object) -> None:
        edited = _dynamic_batch(raw)
        if edited is None:
            return
        quiet = ort.SessionOptions()  # type: ignore[attr-defined]
        quiet.intra_op_num_threads = self.config.threads
        quiet.log_severity_level = 4  # a failing trial run is expected for some graphs
        try:
            session = ort.InferenceSession(edited, quiet, providers=self._providers)  # type: ignore[attr-defined]
            w, h = self.input_size
            session.run(None, {self._input_name: np.zeros((2, 3, h, w), np.float32)})
        except Exception as e:  # noqa: BLE001 - the graph has a literal batch somewhere
            log.info("%s keeps batch 1 (%s); frames run one by one",
                     self.model_path.name, str(e).splitlines()[0][:120])
            return
        self._session = session
        self._batched = True

    def _check_output(self) -> None:
        w, h = self.input_size
        out = self._session.run(None, {self._input_name: np.zeros((1, 3, h, w), np.float32)})[0]
        if self.config.format == "yolox":
            ok = out.ndim == 3 and out.shape[1] == len(self._grids) and out.shape[2] > 5
        else:
            ok = out.ndim == 4 and out.shape[1] > 5
        if not ok:
            raise DetectorError(
                f"{self.model_path}: output shape {list(out.shape)} does not match "
                f"detector.format={self.config.format!r} at input size {w}x{h}")

    @property
    def batched(self) -> bool:
        """True when one ONNX Runtime call runs the whole batch."""
        return self._batched

    def preprocess(self, frames: list[Image]) -> tuple[np.ndarray, list[FrameTransform]]:
        """uint8 NHWC batch at the model size, and how to map boxes back."""
        keep_ratio = self.config.format == "yolox"
        pairs = [prepare(f, self.input_size, keep_ratio) for f in frames]
        return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]

    def _to_tensor(self, batch: np.ndarray) -> np.ndarray:
        if self.packed:
            return batch
        x = batch.transpose(0, 3, 1, 2).astype(np.float32)
        if self.config.format == "fastestdet":
            x *= 1 / 255.0
        return np.ascontiguousarray(x)

    def infer(self, batch: np.ndarray) -> Any:
        """Model output for a uint8 NHWC batch: the raw head, or a packed graph's four
        tensors."""
        x = self._to_tensor(batch)
        if self.packed:
            return self._session.run(list(OUTPUTS), {self._input_name: x})
        if self._batched:
            return self._session.run(None, {self._input_name: x})[0]
        return np.concatenate(
            [self._session.run(None, {self._input_name: x[i:i + 1]})[0] for i in range(len(x))])

    def postprocess(self, raw: Any, transforms: list[FrameTransform]) -> list[Detections]:
        if self.packed:  # decoded and suppressed in the graph: filters only
            return unpack(raw, transforms, self.config.score_threshold, self._kept)
        out = []
        for r, t in zip(raw, transforms, strict=True):
            if self.config.format == "yolox":
                boxes, scores, cids = decode_yolox(r, self._grids, self._strides)
            else:
                boxes, scores, cids = decode_fastestdet(r, self.input_size)
            out.append(finish(boxes, scores, cids, t, self.config.score_threshold,
                              self.config.nms_iou, self._kept))
        return out

    def detect(self, frames: list[Image]) -> list[Detections]:
        if not frames:
            return []
        results: list[Detections] = []
        for i in range(0, len(frames), self.max_batch):
            batch, transforms = self.preprocess(frames[i:i + self.max_batch])
            results += self.postprocess(self.infer(batch), transforms)
        return results

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
