"""Triton Python backend: returns its input (the test only reads this model's metadata)."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(
            "same", pb_utils.get_input_tensor_by_name(r, "raw").as_numpy())]) for r in requests]
