"""Decoding and NMS inside the graph versus after it, per frame (ONNX Runtime, this CPU).

Before (the ensemble's Python step, and the CPU Triton model until the graph had them): the
graph returns YOLOX's raw head, (3549 × 85) floats a frame, and Python decodes it and runs NMS
(``decode_yolox`` + ``select``, numpy, holding the GIL). After: the graph built by
``perishield triton build`` (``orchestrator/detect/graph.py``, ONNX ``NonMaxSuppression``)
returns the kept boxes only. Both sides run the same network on the same letterboxed frames of
both shared sequences (letterboxing done up front, left out), with two intra-op threads, at
batch 1 and 8. Rounds interleave the sides; each figure is the median (range) of the rounds.
Printed per frame: the whole step (model + decode + NMS), the Python part (what holds the GIL;
ONNX Runtime releases it while it runs), and the bytes the model hands back.

    .venv/bin/python bench/graph_nms.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).parent))
from figures import median_range

from orchestrator.detect.decode import decode_yolox, select, yolox_grids
from orchestrator.detect.graph import OUTPUTS, served_graph
from orchestrator.detect.postprocess import letterbox
from orchestrator.paths import find_data, find_model
from orchestrator.triton.repository import TEMPLATES, graph_parameters

ROUNDS = 7
FRAMES = 48


def inputs() -> np.ndarray:
    out = []
    for name in ("TUD-Stadtmitte.mp4", "TUD-Campus.mp4"):
        with av.open(str(find_data(name))) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i >= FRAMES // 2:
                    break
                out.append(letterbox(f.to_ndarray(format="bgr24"), (416, 416))[0])
    return np.stack(out)


def session(graph: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 2, 1
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def measure(rounds: int = ROUNDS) -> dict:
    """Per batch size and side: every round's ms per frame (step, Python) and bytes out."""
    p = graph_parameters((TEMPLATES / "yolox_nano_onnx" / "config.pbtxt").read_text())
    weights = find_model(None)
    raw_s = session(served_graph(weights, None))
    packed_s = session(served_graph(weights, "onnx", **p))
    grids, strides = yolox_grids(p["size"])
    kept = np.array(p["classes"])
    x = inputs()

    def before(b: np.ndarray) -> tuple[float, int]:
        raw = raw_s.run(None, {"images": b})[0]
        t = time.perf_counter()
        for r in raw:
            bx, sc, cl = decode_yolox(r, grids, strides)
            select(bx, sc, cl, p["score_floor"], p["nms_iou"], kept, max_det=p["max_det"])
        return time.perf_counter() - t, raw.nbytes

    def after(b: np.ndarray) -> tuple[float, int]:
        out = packed_s.run(list(OUTPUTS), {"images": b})
        return 0.0, sum(o.nbytes for o in out)

    sides = {"before: raw head + Python decode/NMS": before,
             "after: decode + NMS in the graph": after}
    out: dict[str, dict] = {}
    for batch in (1, 8):
        res: dict[str, dict] = {s: {"step_ms": [], "python_ms": []} for s in sides}
        for k in range(rounds + 1):  # the first round warms up and is not counted
            for name in (sides if k % 2 else reversed(list(sides))):
                total = python = 0.0
                nbytes = 0
                for i in range(0, len(x), batch):
                    t = time.perf_counter()
                    py, n = sides[name](x[i:i + batch])
                    total += time.perf_counter() - t
                    python += py
                    nbytes += n
                if k:
                    res[name]["step_ms"].append(total / len(x) * 1000)
                    res[name]["python_ms"].append(python / len(x) * 1000)
                res[name]["bytes_per_frame"] = nbytes / len(x)
        out[f"batch {batch}"] = res
    return out


def table(res: dict) -> str:
    rows = []
    for batch, sides in res.items():
        rows.append(f"{batch}, ms per frame")
        for name, r in sides.items():
            rows.append(f"  {name:38} step {median_range(r['step_ms'], '.2f'):>20}  "
                        f"Python {median_range(r['python_ms'], '.3f'):>22}  "
                        f"out {r['bytes_per_frame'] / 1024:8.1f} KB/frame")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    rounds = ap.parse_args().rounds
    print(f"{FRAMES} frames of both shared sequences, {rounds} rounds interleaved, "
          "median (range)")
    print(table(measure(rounds)))


if __name__ == "__main__":
    main()
