"""A quiet stretch of a perimeter camera, made from a shared clip: its empty background for a
while, one labelled walker, then the empty background again.

A perimeter camera is empty most of the day, and the shared clips are crowded from their first
frame to their last, so they cannot show what a motion gate saves. The background is the
per-pixel median of the clip's frames (people move on; who stands still all along stays, as a
parked car would); the walker is one ground-truth track, pasted frame by frame from the clip
into the background where it was (its box and a few pixels around it). Every frame gets sensor
noise, and the whole is encoded as H.264 as a camera would, so the empty stretch is not a
still image. The ground truth holds the walker alone, on the new frame numbers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np

from orchestrator.evaluation.groundtruth import GroundTruth

PAD_PX = 6  # pixels around the walker's box pasted with it (its edges, its shadow)
NOISE_FRAMES = 16  # distinct noise fields, cycled


def quiet_clip(video: Path, gt: Path, out: Path, walker: int, before_s: float = 20.0,
               after_s: float = 20.0, noise: float = 2.0, seed: int = 0) -> tuple[Path, Path]:
    """Write ``out`` (.mp4) and its ground truth (``out`` with .gt.txt); returns both paths."""
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(stream)]
    h, w = frames[0].shape[:2]
    background = np.median(np.stack(frames).astype(np.float32), axis=0).astype(np.uint8)
    truth = GroundTruth.load(str(gt))
    boxes = {}
    for frame, (ids, xyxy) in truth.frames.items():
        hit = np.flatnonzero(ids == walker)
        if len(hit):
            boxes[frame] = xyxy[hit[0]]
    if not boxes:
        raise ValueError(f"{gt}: no track {walker}")
    first, last = min(boxes), max(boxes)
    n_before, n_after = round(before_s * fps), round(after_s * fps)
    rng = np.random.default_rng(seed)
    fields = [rng.normal(0.0, noise, (h, w, 3)).astype(np.float32) for _ in range(NOISE_FRAMES)]
    gt_out = out.with_suffix(".gt.txt")
    rows = []
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-c:v", "libx264", "-crf", "23",
           "-g", str(round(2 * fps)), "-pix_fmt", "yuv420p", str(out)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as enc:
        assert enc.stdin is not None
        for k in range(n_before + (last - first + 1) + n_after):
            img = background.copy()
            src = first + k - n_before  # 1-based frame of the clip shown now, if any
            box = boxes.get(src)
            if box is not None:
                x0, y0 = max(int(box[0]) - PAD_PX, 0), max(int(box[1]) - PAD_PX, 0)
                x1, y1 = min(int(box[2]) + PAD_PX, w), min(int(box[3]) + PAD_PX, h)
                img[y0:y1, x0:x1] = frames[src - 1][y0:y1, x0:x1]
                bx, by, bx1, by1 = (float(v) for v in box)
                rows.append(f"{k + 1},{walker},{bx:.2f},{by:.2f},{bx1 - bx:.2f},{by1 - by:.2f},"
                            "1,-1,-1,-1")
            noisy = img.astype(np.float32) + fields[k % NOISE_FRAMES]
            enc.stdin.write(np.clip(noisy, 0, 255).astype(np.uint8).tobytes())
        enc.stdin.close()
        if enc.wait() != 0:
            raise RuntimeError(f"ffmpeg could not encode {out}")
    gt_out.write_text("\n".join(rows) + "\n")
    return out, gt_out
