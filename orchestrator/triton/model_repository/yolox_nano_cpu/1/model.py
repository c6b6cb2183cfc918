"""Triton Python backend: YOLOX-Nano on ONNX Runtime (CPU), decoding and NMS included.

Inputs and outputs are those of the production ensemble ``yolox_nano``: uint8 NHWC frames in,
at most 100 boxes per frame (model-input pixels) out. All requests of a dynamic batch run as
one ONNX Runtime call; each request gets its own response, failures as TritonError responses.
"""

import json
import os
import sys

# The stub runs the host interpreter; the launcher names the site-packages (numpy<2,
# onnxruntime) it must see first, and this folder holds perishield_decode.py.
sys.path[:0] = [p for p in os.environ.get("PERISHIELD_TRITON_SITE", "").split(os.pathsep) if p]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402
from perishield_decode import pack_yolox, yolox_grids  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        here = os.path.dirname(os.path.abspath(__file__))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(params.get("intra_op_threads", "2"))
        opts.inter_op_num_threads = 1
        onnx_file = os.path.join(here, params.get("onnx_file", "model.onnx"))
        self.session = ort.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"])
        h, w = config["input"][0]["dims"][:2]
        self.grids, self.strides = yolox_grids((int(w), int(h)))
        self.max_det = int(config["output"][0]["dims"][0])
        self.score_floor = float(params.get("score_floor", "0.05"))
        self.nms_iou = float(params.get("nms_iou", "0.45"))

    def execute(self, requests):
        try:
            frames = [pb_utils.get_input_tensor_by_name(r, "images").as_numpy() for r in requests]
            raw = self.session.run(None, {"images": np.concatenate(frames)})[0]
            packed = pack_yolox(raw, self.grids, self.strides, self.score_floor, self.nms_iou,
                                self.max_det)
        except Exception as e:  # noqa: BLE001 - every request gets an error response
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(f"yolox_nano_cpu: {e}"))
                    for _ in requests]
        responses, start = [], 0
        for f in frames:
            end = start + len(f)
            outs = [pb_utils.Tensor(n, a[start:end]) for n, a in
                    zip(("boxes", "scores", "classes", "num_detections"), packed, strict=True)]
            responses.append(pb_utils.InferenceResponse(output_tensors=outs))
            start = end
        return responses
