#!/usr/bin/env bash
# Install PeriShield into .venv (idempotent) and analyse the bundled demo video with the
# embedded defaults: ONNX Runtime + YOLOX-Nano from ../shared/models, SQLite, local evidence.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/perishield analyze ../shared/data/TUD-Stadtmitte.mp4 -c examples/demo.yaml "$@"
