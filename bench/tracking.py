"""Tracking + rules cost per camera-frame: PeriShield vs Roboflow trackers + supervision zones.

Both sides consume the same recorded detections: synthetic scenes with 0, 5 and 20 walking
40×100 boxes, and YOLOX-Nano's real detections on TUD-Stadtmitte (25 fps), where MOTA / IDF1
against the ground truth are computed for both with the same code. Both judge the same rules:
a perimeter's set (two straight lines, two 3-point polylines, two zones, a dwell zone; on the
supervision side a LineZone per polyline segment), and for comparison with older figures one
zone and one straight line.

Each side runs one warm-up pass, then ROUNDS timed passes interleaved with the other side's
(who goes first alternates), each with a fresh tracker; it prints the median and the range.
It includes the tracker's update and the rules' update per frame in one Python process; it
leaves out detection, decode, events' evidence and the orchestrator.

Then tracking batched across cameras: 1, 16 and 64 cameras (each its own synthetic scene of 5
walkers), every frame of all of them in one ``ByteTrackBatch.update`` against one
``ByteTrack`` per camera, the tracker alone and with each camera's perimeter rules after
(the rules are not batched yet).

    .venv/bin/python bench/tracking.py          # builds bench/.venv-roboflow on first use
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from figures import median_range
from scenes import LINE, PERIMETER_LINES, PERIMETER_ZONES, ZONE, per_frame, synthetic

from orchestrator.config import CameraConfig, DetectorConfig, TrackerConfig
from orchestrator.detect import create_detector
from orchestrator.detections import Detections
from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.evaluation.metrics import TrackingScore
from orchestrator.paths import find_data
from orchestrator.rules import RuleBatch, RuleEngine
from orchestrator.tracking import TrackingBatcher, bytetrack_config
from trackers import ByteTrack

HERE = Path(__file__).parent
RESULTS = HERE / "results"
RF_VENV = HERE / ".venv-roboflow"
ROUNDS = 7


def roboflow_python() -> Path:
    py = RF_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(RF_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "trackers==2.6.1",
                        "supervision==0.31.2"], check=True)
    return py


def record_real() -> Path:
    out = RESULTS / "stadtmitte_yolox.npz"
    if out.exists():
        return out
    det = create_detector(DetectorConfig(classes=["person"]))
    rows = []
    with av.open(str(find_data("TUD-Stadtmitte.mp4"))) as c:
        for i, frame in enumerate(c.decode(video=0)):
            d = det.detect([frame.to_ndarray(format="bgr24")])[0]
            rows.append((np.full(len(d), i), d.xyxy, d.confidence, d.class_id))
    np.savez(out, frame=np.concatenate([r[0] for r in rows]),
             xyxy=np.concatenate([r[1] for r in rows]),
             confidence=np.concatenate([r[2] for r in rows]),
             class_id=np.concatenate([r[3] for r in rows]), n_frames=len(rows), fps=25.0)
    return out


def camera_for(kind: str) -> CameraConfig:
    if kind == "gate":
        lines = [{"name": "l", "points": LINE}]
        zones = [{"name": "z", "points": ZONE}]
    else:
        lines = [{"name": f"l{i}", "points": pts} for i, pts in enumerate(PERIMETER_LINES)]
        zones = [{"name": f"z{i}", "points": pts, "min_dwell_s": dwell}
                 for i, (pts, dwell) in enumerate(PERIMETER_ZONES)]
    return CameraConfig.model_validate({"id": "bench", "source": "-", "zones": zones,
                                        "lines": lines})


def ours_once(frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]], fps: float, kind: str
              ) -> tuple[float, int, list[tuple[np.ndarray, np.ndarray]]]:
    """One pass with a fresh tracker and rule engine: ms per frame, events, tracks."""
    camera = camera_for(kind)
    tracker, rules = ByteTrack(bytetrack_config(TrackerConfig())), RuleEngine(camera)
    out, events = [], 0
    t0 = time.perf_counter()
    for i, (xyxy, conf, cls) in enumerate(frames):
        ids = tracker.update(xyxy, conf, cls, i / fps)
        events += len(rules.update(Detections(xyxy, conf, cls, ids), i / fps))
        out.append((xyxy[ids >= 0], ids[ids >= 0]))
    return (time.perf_counter() - t0) / len(frames) * 1000, events, out


def theirs_once(scene: Path, kind: str) -> tuple[float, int, list[tuple[np.ndarray, np.ndarray]]]:
    ids_file = RESULTS / f"{scene.stem}.roboflow_ids.npz"
    proc = subprocess.run([str(roboflow_python()), str(HERE / "roboflow_pair.py"), str(scene),
                           kind, str(ids_file)], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.splitlines()[-1])
    z = np.load(ids_file)
    n = int(z["frame"].max()) + 1 if len(z["frame"]) else 0
    tracks = [(z["xyxy"][z["frame"] == f], z["tracker_id"][z["frame"] == f]) for f in range(n)]
    return result["ms_per_frame"], result["events"], tracks


def accuracy(tracks: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    gt = GroundTruth.load(find_data("TUD-Stadtmitte.gt.txt"))
    score = TrackingScore()
    for f in range(179):
        gids, gxyxy = gt.frames[f + 1]
        xyxy, ids = tracks[f] if f < len(tracks) else (np.zeros((0, 4)), np.zeros(0))
        score.update(gids, gxyxy, np.asarray(ids), np.asarray(xyxy))
    return score.summary()


BATCHES = (1, 16, 64)
BATCH_FRAMES = 200


def batch_once(cameras: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]], fps: float,
               batched: bool, rules: bool) -> float:
    """ms per camera-frame of tracking ``cameras`` (each a scene of its own) frame by frame:
    all cameras of a frame in one ``ByteTrackBatch.update`` or one ``ByteTrack`` each; with
    ``rules``, each camera's perimeter rules after (batched: in one ``RuleBatch.judge``, as
    the service does; one by one: each engine's ``update``)."""
    camera = camera_for("perimeter")
    shared = TrackingBatcher(TrackerConfig()).batch if batched else None
    trackers = [ByteTrack(batch=shared) if shared else ByteTrack(bytetrack_config(TrackerConfig()))
                for _ in cameras]
    engines = [RuleEngine(camera) for _ in cameras] if rules else []
    judge = RuleBatch()
    t0 = time.perf_counter()
    for i in range(BATCH_FRAMES):
        t = i / fps
        if shared is not None:
            ids = shared.update([tr.frame(*cam[i], t) for tr, cam in zip(trackers, cameras,
                                                                          strict=True)])
            if engines:  # each camera's rules, their geometry measured for all at once
                judge.judge([(eng, Detections(*cam[i], tid), t, None, None, None)
                             for eng, cam, tid in zip(engines, cameras, ids, strict=True)])
            continue
        ids = [tr.update(*cam[i], t) for tr, cam in zip(trackers, cameras, strict=True)]
        for eng, cam, tid in zip(engines, cameras, ids, strict=False):
            eng.update(Detections(*cam[i], tid), t)
    return (time.perf_counter() - t0) / (BATCH_FRAMES * len(cameras)) * 1000


def measure_batched(rounds: int = ROUNDS) -> dict:
    """Tracking batched across cameras against one tracker per camera, interleaved: per
    camera-frame, the tracker alone and the tracker plus each camera's perimeter rules."""
    scenes = []
    for seed in range(max(BATCHES)):
        path = RESULTS / f"batch_{seed}.npz"
        np.savez(path, **synthetic(5, n_frames=BATCH_FRAMES, seed=seed + 1, box=(40, 100)))
        scenes.append(per_frame(path)[0])
    fps = 10.0
    out: dict[str, dict[str, list[float]]] = {}
    for n in BATCHES:
        cams = scenes[:n]
        sides = {f"{what}, {how}": (batched, rules)
                 for what, rules in (("tracker", False), ("tracker + rules", True))
                 for how, batched in (("one by one", False), ("batched", True))}
        for b, r in sides.values():
            batch_once(cams, fps, b, r)  # warm-up
        ms: dict[str, list[float]] = {k: [] for k in sides}
        for k in range(rounds):
            order = list(sides) if k % 2 == 0 else list(reversed(sides))
            for name in order:
                ms[name].append(batch_once(cams, fps, *sides[name]))
        out[f"{n} cameras"] = ms
    return out


def measure(rounds: int = ROUNDS) -> dict:
    """Interleaved rounds of both sides on each scene; medians, spreads and accuracy."""
    RESULTS.mkdir(exist_ok=True)
    scenes: dict[str, tuple[Path, str]] = {}
    for n in (0, 5, 20):
        path = RESULTS / f"synthetic_{n}.npz"
        np.savez(path, **synthetic(n, box=(40, 100)))
        scenes[f"{n} objects 40x100, perimeter rules"] = (path, "perimeter")
    scenes["5 objects 40x100, 1 zone + 1 line"] = (RESULTS / "synthetic_5.npz", "gate")
    real = "TUD-Stadtmitte YOLOX, perimeter rules"
    scenes[real] = (record_real(), "perimeter")
    rows: dict[str, dict] = {}
    tracks: dict[str, list] = {}
    for name, (path, kind) in scenes.items():
        frames, fps = per_frame(path)
        sides = {"ours": lambda: ours_once(frames, fps, kind),  # noqa: B023 - run in this pass
                 "theirs": lambda: theirs_once(path, kind)}  # noqa: B023
        sides["ours"]()  # warm-up
        ms: dict[str, list[float]] = {"ours": [], "theirs": []}
        events: dict[str, int] = {}
        for r in range(rounds):  # alternate who goes first: drift in load hits both alike
            for side in (("ours", "theirs") if r % 2 == 0 else ("theirs", "ours")):
                t, events[side], scene_tracks = sides[side]()
                ms[side].append(t)
                if name == real:
                    tracks[side] = scene_tracks
        rows[name] = {"ours_ms": ms["ours"], "theirs_ms": ms["theirs"],
                      "speedup": statistics.median(ms["theirs"]) / statistics.median(ms["ours"]),
                      "events": events}
    return {"rows": rows, "accuracy": {who: accuracy(t) for who, t in tracks.items()},
            "batched": measure_batched(rounds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    res = measure(ap.parse_args().rounds)
    print(f"{'scene':40} {'PeriShield ms (range)':>22} {'Roboflow ms (range)':>22} "
          f"{'speed-up':>8}  events ours/theirs")
    for name, r in res["rows"].items():
        print(f"{name:40} {median_range(r['ours_ms']):>22} {median_range(r['theirs_ms']):>22} "
              f"{r['speedup']:7.1f}x  {r['events']['ours']}/{r['events']['theirs']}")
    print("\naccuracy on TUD-Stadtmitte (same YOLOX detections, every frame):")
    for who, name in (("ours", "PeriShield ByteTrack"), ("theirs", "Roboflow ByteTrack")):
        a = res["accuracy"][who]
        print(f"  {name:22} MOTA {a['mota']:.3f}  IDF1 {a['idf1']:.3f}  "
              f"ID switches {int(a['num_switches'])}")
    print("\nbatched across cameras (5 objects 40x100 per camera, perimeter rules per camera):"
          " ms per camera-frame")
    for n, ms in res["batched"].items():
        print(f"  {n}")
        for name, xs in ms.items():
            print(f"    {name:32} {median_range(xs):>22}")


if __name__ == "__main__":
    main()
