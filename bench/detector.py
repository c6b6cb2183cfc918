"""Detector cost: ms per frame at batch 1 and 8 on real frames (ONNX Runtime, this CPU).

    .venv/bin/python bench/detector.py
"""

from __future__ import annotations

import time

import av
import numpy as np

from orchestrator.config import DetectorConfig
from orchestrator.detect import create_detector
from orchestrator.paths import find_data

ROUNDS = 10


def frames(n: int) -> list[np.ndarray]:
    with av.open(str(find_data("TUD-Stadtmitte.mp4"))) as c:
        it = c.decode(video=0)
        return [next(it).to_ndarray(format="bgr24") for _ in range(n)]


def ms_per_frame(det: object, batch: list[np.ndarray]) -> tuple[float, float]:
    """(whole call, model only) ms per frame, best of ROUNDS."""
    det.detect(batch)  # type: ignore[attr-defined]  # warm-up
    best_total = best_model = float("inf")
    for _ in range(ROUNDS):
        x, _ = det.preprocess(batch)  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        det.infer(x)  # type: ignore[attr-defined]
        t2 = time.perf_counter()
        det.detect(batch)  # type: ignore[attr-defined]
        t3 = time.perf_counter()
        best_model = min(best_model, (t2 - t1) / len(batch))
        best_total = min(best_total, (t3 - t2) / len(batch))
    return best_total * 1000, best_model * 1000


def main() -> None:
    imgs = frames(8)
    print(f"{'model':14} {'batch':>5} {'ms/frame':>9} {'model only':>11} {'batched call':>13}")
    for name, cfg in (("yolox_nano", DetectorConfig()),
                      ("fastestdet", DetectorConfig(model="fastestdet.onnx",
                                                    format="fastestdet"))):
        det = create_detector(cfg)
        results = {}
        for b in (1, 8):
            results[b] = ms_per_frame(det, imgs[:b])
            print(f"{name:14} {b:5d} {results[b][0]:9.2f} {results[b][1]:11.2f} "
                  f"{'yes' if det.batched else 'no (loop)':>13}")  # type: ignore[attr-defined]
        print(f"{'':14} batch 8 / batch 1 per frame: {results[8][0] / results[1][0]:.2f}")


if __name__ == "__main__":
    main()
