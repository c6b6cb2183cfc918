#!/usr/bin/env bash
# Throughput and latency of the served detector under camera-like load, with NVIDIA's
# perf_analyzer (in the SDK image of the same release), against a running server:
#   docker run --rm --net host -v "$PWD:/project" -w /project \
#     "$(. deploy/triton/.env; echo "${TRITON_IMAGE%-py3}-py3-sdk")" bash deploy/triton/perf.sh
# Each client request is a batch of 8 frames (the orchestrator's detector.max_batch) sent
# through system shared memory (perishield on the same host) or gRPC (SHM=none); concurrency
# 4..32 requests in flight is 32..256 frames in flight: 1000 cameras at 5 fps are 5000 frames/s.
# With the restricted endpoints (deploy/triton/.env) the header goes with every request; if a
# perf_analyzer build does not send it when registering shared memory, use SHM=none.
# Output regions: the largest output of a batch of 8 is boxes, 8 x 100 x 4 FP32 = 12,800 bytes.
# Results: perf.csv (per concurrency: inferences/s, p50/p90/p99 latency, queue and compute time).
set -euo pipefail
. "$(dirname "$0")/.env"
URL=${URL:-127.0.0.1:8001}
MODEL=${MODEL:-yolox_nano}
SHM=${SHM:-system}
name=${TRITON_ADMIN_HEADER%%=*}
value=${TRITON_ADMIN_HEADER#*=}
perf_analyzer -m "$MODEL" -u "$URL" -i grpc -b 8 --shape images:416,416,3 \
  --concurrency-range 4:32:4 --shared-memory "$SHM" --output-shared-memory-size 16384 \
  --percentile 99 --measurement-interval 10000 \
  -H "triton-grpc-protocol-$name:$value" -f perf.csv
