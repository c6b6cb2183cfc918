"""Hosts for 1,000 streams at 5 analysed fps: a per-stream cost model from figures measured here
and one cited detector figure.

Measured on this machine (CPU seconds, all threads, medians of interleaved rounds), per stream:
- decode: a 640x360 H.264 substream at 25 fps (TUD-Stadtmitte looped and scaled, GOP 50, no
  B-frames) through the real ingest path (``VideoSource``: decode thread, packet ring, frame
  picking, hand-over), 5 frames a second picked for analysis, one decoder thread;
- gate: the motion gate's look at each analysed frame (213x120 grey from the luma plane and the
  background), on the decode thread: the ingest path with it less the path without;
- conversion: the detector's 416x416 input of each frame that goes to the detector, made as
  the frame arrives: the path with it less the path without;
- orchestration, tracking and rules: CPU per analysed camera-frame of the whole process in
  bench/service_load.py (200 cameras of 5 fps: batcher, thread-hop detector, ByteTrack, rules,
  events with snapshots, SQLite), read from bench/results/latest.json (run bench/all.py
  --only service_load first), else measured here with a shorter run;
- the detector on this CPU: YOLOX-Nano on ONNX Runtime, CPU seconds per frame (batch 8).

Cited, not measured (no GPU here):
- detector on an A4000-class GPU: YOLOv6-N (11.4 GFLOPs at 640x640) runs at 1,234 frames/s on
  a T4 with TensorRT FP16 at batch 32, model only (meituan/YOLOv6 README; method in its
  docs/Test_speed.md: trtexec, TensorRT 7.2). YOLOX-Nano at 416x416 is 1.08 GFLOPs and an
  RTX A4000 has more FP16 tensor throughput and memory bandwidth than a T4, so 1,234 frames/s
  per GPU is taken as a floor; the model runs at ``GPU_LOAD`` of it.
- NVDEC: with decoding on the GPU (``hwaccel: cuda``) the CPU's decode cost is left out; the
  decode work moved to the GPUs is printed in 1080p-equivalent frames/s, to be checked against
  NVIDIA's NVDEC Application Note (Video Codec SDK), table "NVDEC performance", for the GPU
  bought. The copy of each analysed picture back to the host is not modelled.

The motion gate's saving is the fraction of analysed frames kept from the detector: 0 on the
shared clips (crowded from first frame to last), 0.92 on the quiet stretch (bench/motion_gate.py);
a perimeter's day lies between, so the table shows 0, 0.5 and 0.9.

    .venv/bin/python bench/capacity.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import median_range

from orchestrator.config import DetectorConfig, MotionConfig
from orchestrator.detect import create_detector
from orchestrator.detect.motion import Gate
from orchestrator.detect.postprocess import prepare
from orchestrator.ingest import PacketRing, VideoSource
from orchestrator.paths import find_data

ROUNDS = 5
STREAMS, FPS, SOURCE_FPS = 1000, 5.0, 25.0
GPU_FPS = 1234.0  # cited: YOLOv6-N, T4, TensorRT FP16, batch 32 (see the docstring)
GPU_LOAD = 0.7  # the share of a GPU's throughput planned for
CPU_LOAD = 0.7  # ... and of a core's
SAVINGS = (0.0, 0.5, 0.9)
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def substream(tmp: Path) -> Path:
    out = tmp / "sub360.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "7", "-i",
                    str(find_data("TUD-Stadtmitte.mp4")), "-vf", "scale=640:360",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-bf", "0",
                    "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def decode_s(path: Path, look: bool, convert: bool = False) -> tuple[float, int]:
    """CPU seconds of the ingest path over the file (with the gate's look on the decode
    thread, and the detector's input made of each analysed frame as it arrives); frames
    analysed."""
    gate = Gate(MotionConfig()) if look else None

    async def consume() -> int:
        n = 0
        src = VideoSource(str(path), FPS, ring=PacketRing(20.0), live=False,
                          look=gate.look if gate else None)
        async for f in src:
            if convert:
                prepare(f, (416, 416))
            n += 1
        return n

    t0 = cpu_s()
    n = asyncio.run(consume())
    return cpu_s() - t0, n


def frames_of(path: Path, n: int) -> list:
    async def first() -> list:
        out = []
        async for f in VideoSource(str(path), FPS, live=False):
            out.append(f)
            if len(out) == n:
                break
        return out

    return asyncio.run(first())


def detector_cpu_ms(batch: list, rounds: int) -> list[float]:
    det = create_detector(DetectorConfig(max_batch=8))
    det.detect(batch)
    out = []
    for _ in range(rounds):
        t0 = cpu_s()
        for _ in range(4):
            det.detect(batch)
        out.append((cpu_s() - t0) / 32 * 1000)
    det.close()
    return out


def orchestration_ms() -> tuple[float, str]:
    """CPU ms per analysed camera-frame of the whole service (service_load, 200 x 5 fps)."""
    if RESULTS.exists():
        r = json.loads(RESULTS.read_text()).get("results", {}).get("service_load", {})
        case = r.get("200 x 5 fps")
        if case:
            per_cpu_s = statistics.median(case["frames_per_cpu_s"])
            return 1000.0 / per_cpu_s, "bench/results/latest.json, service_load 200 x 5 fps"
    import service_load

    run = service_load.run(200, 5.0, 8.0)
    return 1000.0 / run["frames_per_cpu_s"], "service_load 200 x 5 fps, one 8 s run now"


def measure(rounds: int) -> dict:
    out: dict[str, list[float]] = {"decode": [], "look": [], "convert": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = substream(Path(tmp))
        with av.open(str(path)) as c:
            decoded = sum(1 for p in c.demux(video=0) if p.size)
        seconds = decoded / SOURCE_FPS
        decode_s(path, look=True, convert=True)  # warm-up
        for _ in range(rounds):
            plain, analysed = decode_s(path, look=False)
            looked, _ = decode_s(path, look=True)
            converted, _ = decode_s(path, look=True, convert=True)
            out["decode"].append(plain / seconds * 1000)  # CPU ms per camera-second
            out["look"].append((looked - plain) / analysed * 1000)  # ms per analysed frame
            out["convert"].append((converted - looked) / analysed * 1000)
        det = detector_cpu_ms(frames_of(path, 8), rounds)
    orch, source = orchestration_ms()
    return {"ms": out, "detector_cpu_ms": det, "orchestration_ms": orch,
            "orchestration_source": source, "decoded": decoded, "analysed": analysed}


def model(m: dict) -> list[dict]:
    """Cores and GPUs for ``STREAMS`` streams, per scenario."""
    med = {k: statistics.median(v) for k, v in m["ms"].items()}
    det_cpu = statistics.median(m["detector_cpu_ms"])
    rows = []
    for saving in SAVINGS:
        detected = FPS * (1 - saving)  # frames a second per stream that reach the detector
        for nvdec in (False, True):
            per_stream_ms = ((0.0 if nvdec else med["decode"]) + FPS * med["look"]
                             + detected * med["convert"] + FPS * m["orchestration_ms"])
            cores = STREAMS * per_stream_ms / 1000 / CPU_LOAD
            gpus = STREAMS * detected / (GPU_FPS * GPU_LOAD)
            rows.append({"saving": saving, "nvdec": nvdec, "per_stream_ms": per_stream_ms,
                         "cores": cores, "gpus": gpus,
                         "cpu_only_cores": cores + STREAMS * detected * det_cpu / 1000
                         / CPU_LOAD})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    m = measure(ap.parse_args().rounds)
    ms = m["ms"]
    print(f"measured here, medians (ranges) of {len(ms['decode'])} interleaved rounds:")
    print(f"  decode 640x360 H.264 25 fps, 5 fps picked: {median_range(ms['decode'], '.1f')} "
          "CPU ms per camera-second")
    print(f"  motion gate look: {median_range(ms['look'], '.3f')} CPU ms per analysed frame")
    print(f"  detector input (416x416): {median_range(ms['convert'], '.3f')} CPU ms per "
          "detected frame")
    print(f"  orchestration, tracking, rules, events: {m['orchestration_ms']:.3f} CPU ms per "
          f"analysed frame ({m['orchestration_source']})")
    print(f"  YOLOX-Nano on this CPU (ONNX Runtime, batch 8): "
          f"{median_range(m['detector_cpu_ms'], '.1f')} CPU ms per frame")
    print(f"cited: {GPU_FPS:.0f} detector frames/s per A4000-class GPU, planned at "
          f"{GPU_LOAD:.0%}; cores planned at {CPU_LOAD:.0%}")
    print(f"\n{STREAMS} streams x {FPS:g} analysed fps ({STREAMS * FPS:.0f} frames/s):")
    print("| gate saving | decode | CPU ms per stream-second | cores | A4000-class GPUs | "
          "cores, detector on CPU |")
    print("|---|---|---|---|---|---|")
    for r in model(m):
        print(f"| {r['saving']:.0%} | {'NVDEC' if r['nvdec'] else 'CPU'} | "
              f"{r['per_stream_ms']:.1f} | {math.ceil(r['cores'])} | {math.ceil(r['gpus'])} "
              f"({r['gpus']:.2f}) | {math.ceil(r['cpu_only_cores'])} |")
    px = STREAMS * SOURCE_FPS * 640 * 360 / (1920 * 1080)
    print(f"\nwith NVDEC the GPUs decode {STREAMS * SOURCE_FPS:.0f} frames/s of 640x360, "
          f"{px:.0f} frames/s in 1080p pixels (NVDEC Application Note for the GPU's figure)")


if __name__ == "__main__":
    main()
