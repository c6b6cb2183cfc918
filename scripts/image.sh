#!/usr/bin/env bash
# Build the PeriShield image (deploy/Dockerfile) with the detector weights baked in: they are
# copied from ../shared/models (or $PERISHIELD_MODELS_DIR) into the build context, since
# nothing is downloaded at run time. Usage: bash scripts/image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-perishield:0.1.0}
MODELS=${PERISHIELD_MODELS_DIR:-../shared/models}
[ -f "$MODELS/yolox_nano.onnx" ] || { echo "no $MODELS/yolox_nano.onnx" >&2; exit 2; }
rm -rf .image-models && mkdir .image-models
cp "$MODELS"/*.onnx "$MODELS"/LICENSE-* .image-models/
docker build -f deploy/Dockerfile -t "$TAG" .
