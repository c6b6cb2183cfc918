#!/usr/bin/env bash
# Build the TensorRT plan of yolox_nano on the GPU that will serve it, inside the very image
# that serves it (a plan runs only on the TensorRT version and GPU it was built for). The ONNX
# graph it starts from (written by `perishield triton build`) has the YOLOX decode and
# TensorRT's EfficientNMS_TRT plugin inside, so the plan returns the kept boxes only.
# From the project root, on the GPU host:
#   docker run --rm --gpus all -v "$PWD:/project" -w /project \
#     "$(. deploy/triton/.env; echo "$TRITON_IMAGE")" bash deploy/triton/build_plan.sh
# Profiles: batch 1..32, optimised for 16 (A4000-class GPU, FP16; PRECISION=fp32 builds an exact
# FP32 plan with TF32 off, to tell precision from other differences). HW_COMPAT=ampere+ builds a
# plan that also runs on later GPU generations (slower than one built for the exact GPU).
# Beside the plan it writes model.plan.txt: trtexec's version, the GPU, its compute capability
# and the driver, so a plan is never served by a TensorRT or GPU it was not built for unnoticed.
set -euo pipefail
PROJECT=${PROJECT:-/project}
REPO=${REPO:-$PROJECT/model_repository}
TRTEXEC=${TRTEXEC:-/usr/src/tensorrt/bin/trtexec}
[ -x "$TRTEXEC" ] || { echo "no trtexec at $TRTEXEC: run this in $TRITON_IMAGE (see .env)" >&2; exit 2; }
ONNX="$REPO/yolox_nano/1/model.trt.onnx"
[ -f "$ONNX" ] || { echo "no $ONNX: run 'perishield triton build' first" >&2; exit 2; }
PLAN="$REPO/yolox_nano/1/model.plan"
extra=(--fp16)
if [ "${PRECISION:-fp16}" = fp32 ]; then extra=(--noTF32); fi  # parity debugging: exact FP32
if [ -n "${HW_COMPAT:-}" ]; then extra+=("--hardwareCompatibilityLevel=$HW_COMPAT"); fi
"$TRTEXEC" \
  --onnx="$ONNX" \
  --saveEngine="$PLAN" \
  --minShapes=images:1x416x416x3 \
  --optShapes=images:16x416x416x3 \
  --maxShapes=images:32x416x416x3 \
  --memPoolSize=workspace:2048 \
  "${extra[@]}"
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "trtexec: $("$TRTEXEC" --version 2>&1 | grep -m1 -i 'tensorrt' || true)"
  echo "gpu: $(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader | head -1)"
  echo "precision: ${PRECISION:-fp16}"
  echo "hardware compatibility: ${HW_COMPAT:-none (this GPU only)}"
} > "$PLAN.txt"
cat "$PLAN.txt"
