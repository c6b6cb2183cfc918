"""Triton Python backend: YOLOX-Nano on ONNX Runtime (CPU), decoding and NMS in the graph.

Inputs and outputs are those of the production model ``yolox_nano``: uint8 NHWC frames in, at
most 100 boxes per frame (model-input pixels) out, straight from the graph (the same one
``yolox_nano_onnx`` serves; no Python decoding here). All requests of a dynamic batch run as one
ONNX Runtime call; each request gets its own response, failures as TritonError responses.
"""

import json
import os
import sys

# The stub runs the host interpreter; the launcher names the site-packages (numpy<2,
# onnxruntime) it must see first.
sys.path[:0] = [p for p in os.environ.get("PERISHIELD_TRITON_SITE", "").split(os.pathsep) if p]

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

OUTPUTS = ("boxes", "scores", "classes", "num_detections")


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

    def execute(self, requests):
        try:
            frames = [pb_utils.get_input_tensor_by_name(r, "images").as_numpy() for r in requests]
            packed = self.session.run(list(OUTPUTS), {"images": np.concatenate(frames)})
        except Exception as e:  # noqa: BLE001 - every request gets an error response
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(f"yolox_nano_cpu: {e}"))
                    for _ in requests]
        responses, start = [], 0
        for f in frames:
            end = start + len(f)
            outs = [pb_utils.Tensor(n, a[start:end]) for n, a in zip(OUTPUTS, packed, strict=True)]
            responses.append(pb_utils.InferenceResponse(output_tensors=outs))
            start = end
        return responses
