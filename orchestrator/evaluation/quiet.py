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


class NoisyH264:
    """Writes BGR frames with sensor noise (cycled fields of σ ``noise``) as H.264 through
    ffmpeg, as a camera would; a context manager."""

    def __init__(self, out: Path, size: tuple[int, int], fps: float, noise: float = 2.0,
                 seed: int = 0, crf: int = 23) -> None:
        w, h = size
        rng = np.random.default_rng(seed)
        self.fields = [rng.normal(0.0, noise, (h, w, 3)).astype(np.float32)
                       for _ in range(NOISE_FRAMES)]
        self.out, self.written = out, 0
        self.cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt",
                    "bgr24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-c:v", "libx264",
                    "-crf", str(crf), "-g", str(round(2 * fps)), "-pix_fmt", "yuv420p",
                    str(out)]
        self.enc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NoisyH264:
        self.enc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE)
        return self

    def write(self, img: np.ndarray) -> None:
        assert self.enc is not None and self.enc.stdin is not None
        noisy = img.astype(np.float32) + self.fields[self.written % NOISE_FRAMES]
        self.enc.stdin.write(np.clip(noisy, 0, 255).astype(np.uint8).tobytes())
        self.written += 1

    def __exit__(self, *exc: object) -> None:
        assert self.enc is not None and self.enc.stdin is not None
        self.enc.stdin.close()
        if self.enc.wait() != 0 and exc[0] is None:
            raise RuntimeError(f"ffmpeg could not encode {self.out}")


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
    gt_out = out.with_suffix(".gt.txt")
    rows = []
    with NoisyH264(out, (w, h), fps, noise, seed) as enc:
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
            enc.write(img)
    gt_out.write_text("\n".join(rows) + "\n")
    return out, gt_out
