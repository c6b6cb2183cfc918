"""Triton Python backend: decode YOLOX's raw head and run class-aware NMS (ensemble step 2)."""

import json
import os
import sys

sys.path[:0] = [p for p in os.environ.get("PERISHIELD_TRITON_SITE", "").split(os.pathsep) if p]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402
from perishield_decode import pack_yolox, yolox_grids  # noqa: E402

MODEL_SIZE = (416, 416)  # the detector's input (w, h): 3549 anchors over strides 8, 16, 32


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.grids, self.strides = yolox_grids(MODEL_SIZE)
        self.max_det = int(config["output"][0]["dims"][0])
        self.score_floor = float(params.get("score_floor", "0.05"))
        self.nms_iou = float(params.get("nms_iou", "0.45"))

    def execute(self, requests):
        responses = []
        for r in requests:
            try:
                raw = pb_utils.get_input_tensor_by_name(r, "raw").as_numpy().astype(np.float32)
                packed = pack_yolox(raw, self.grids, self.strides, self.score_floor,
                                    self.nms_iou, self.max_det)
                outs = [pb_utils.Tensor(n, a) for n, a in
                        zip(("boxes", "scores", "classes", "num_detections"), packed, strict=True)]
                responses.append(pb_utils.InferenceResponse(output_tensors=outs))
            except Exception as e:  # noqa: BLE001 - reported to the caller, never a crash
                responses.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(f"yolox_postprocess: {e}")))
        return responses
