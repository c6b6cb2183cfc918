#!/usr/bin/env bash
# Build the TensorRT plan for yolox_nano_trt on the GPU that will serve it (plans are specific
# to the GPU model and TensorRT version). Run inside NGC's TensorRT or Triton container, e.g.
#   docker run --rm --gpus all -v "$PWD/model_repository:/models" \
#     nvcr.io/nvidia/tritonserver:24.10-py3 bash /models/../deploy/triton/build_plan.sh
# Profiles: batch 1..32, optimised for 16 (A4000-class GPU, FP16).
set -euo pipefail
REPO=${REPO:-/models}
trtexec \
  --onnx="$REPO/yolox_nano_onnx/1/model.onnx" \
  --saveEngine="$REPO/yolox_nano_trt/1/model.plan" \
  --minShapes=images:1x416x416x3 \
  --optShapes=images:16x416x416x3 \
  --maxShapes=images:32x416x416x3 \
  --fp16 \
  --memPoolSize=workspace:2048
