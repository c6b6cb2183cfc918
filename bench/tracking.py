"""Tracking + rules cost per camera-frame: PeriShield vs Roboflow trackers + supervision zones.

Both sides consume the same recorded detections: synthetic scenes with 0, 5 and 20 walking
objects, and YOLOX-Nano's real detections on TUD-Stadtmitte (25 fps), where MOTA / IDF1 against
the ground truth are computed for both with the same code.

    .venv/bin/python bench/tracking.py          # builds bench/.venv-roboflow on first use
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scenes import LINE, ZONE, per_frame, synthetic

from orchestrator.config import CameraConfig, DetectorConfig, TrackerConfig
from orchestrator.detect import create_detector
from orchestrator.detections import Detections
from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.evaluation.metrics import TrackingScore
from orchestrator.paths import find_data
from orchestrator.pipeline import tracker_for
from orchestrator.rules import RuleEngine

HERE = Path(__file__).parent
RESULTS = HERE / "results"
RF_VENV = HERE / ".venv-roboflow"
REPEATS = 5


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


def ours(scene: Path) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    frames, fps = per_frame(scene)
    camera = CameraConfig.model_validate({
        "id": "bench", "source": "-", "zones": [{"name": "z", "points": ZONE}],
        "lines": [{"name": "l", "points": LINE}]})
    best, out = float("inf"), []
    for _ in range(REPEATS):
        tracker, rules = tracker_for(TrackerConfig()), RuleEngine(camera)
        out = []
        t0 = time.perf_counter()
        for i, (xyxy, conf, cls) in enumerate(frames):
            ids = tracker.update(xyxy, conf, cls, i / fps)
            rules.update(Detections(xyxy, conf, cls, ids), i / fps)
            out.append((xyxy[ids >= 0], ids[ids >= 0]))
        best = min(best, (time.perf_counter() - t0) / len(frames))
    return best * 1000, out


def theirs(scene: Path) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    ids_file = RESULTS / f"{scene.stem}.roboflow_ids.npz"
    proc = subprocess.run([str(roboflow_python()), str(HERE / "roboflow_pair.py"), str(scene),
                           str(REPEATS), str(ids_file)], capture_output=True, text=True,
                          check=True)
    ms = json.loads(proc.stdout.splitlines()[-1])["ms_per_frame"]
    z = np.load(ids_file)
    n = int(z["frame"].max()) + 1 if len(z["frame"]) else 0
    return ms, [(z["xyxy"][z["frame"] == f], z["tracker_id"][z["frame"] == f]) for f in range(n)]


def accuracy(tracks: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    gt = GroundTruth.load(find_data("TUD-Stadtmitte.gt.txt"))
    score = TrackingScore()
    for f in range(179):
        gids, gxyxy = gt.frames[f + 1]
        xyxy, ids = tracks[f] if f < len(tracks) else (np.zeros((0, 4)), np.zeros(0))
        score.update(gids, gxyxy, np.asarray(ids), np.asarray(xyxy))
    return score.summary()


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    scenes = {}
    for n in (0, 5, 20):
        path = RESULTS / f"synthetic_{n}.npz"
        np.savez(path, **synthetic(n))
        scenes[f"{n} objects (synthetic)"] = path
    scenes["TUD-Stadtmitte YOLOX (5-8 people)"] = record_real()
    print(f"{'scene':36} {'PeriShield ms':>14} {'Roboflow ms':>12} {'speed-up':>9}")
    for name, path in scenes.items():
        our_ms, our_tracks = ours(path)
        rf_ms, rf_tracks = theirs(path)
        print(f"{name:36} {our_ms:14.3f} {rf_ms:12.3f} {rf_ms / our_ms:8.1f}x")
    print("\naccuracy on TUD-Stadtmitte (same YOLOX detections, every frame):")
    for who, tracks in (("PeriShield ByteTrack", our_tracks), ("Roboflow ByteTrack", rf_tracks)):
        a = accuracy(tracks)
        print(f"  {who:22} MOTA {a['mota']:.3f}  IDF1 {a['idf1']:.3f}  "
              f"ID switches {int(a['num_switches'])}")


if __name__ == "__main__":
    main()
