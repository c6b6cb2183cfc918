"""The reference pair: Roboflow's ``trackers`` ByteTrack + supervision PolygonZone / LineZone.

Runs in its own venv (bench/.venv-roboflow), since ``trackers`` clashes with our package name.
Usage: python roboflow_pair.py SCENE.npz REPEATS OUT_IDS.npz  → prints JSON timings.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import supervision as sv

from trackers import ByteTrackTracker

sys.path.insert(0, str(Path(__file__).parent))
from scenes import LINE, ZONE, per_frame


def main() -> None:
    scene, repeats, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    frames, fps = per_frame(scene)
    dets = [sv.Detections(xyxy=x, confidence=c, class_id=k) for x, c, k in frames]
    best = float("inf")
    ids: list[np.ndarray] = []
    for _ in range(repeats):
        tracker = ByteTrackTracker(frame_rate=fps, lost_track_buffer=int(1.5 * 30))
        zone = sv.PolygonZone(np.array(ZONE, np.int32),
                              triggering_anchors=(sv.Position.BOTTOM_CENTER,))
        line = sv.LineZone(sv.Point(*LINE[0]), sv.Point(*LINE[1]),
                           triggering_anchors=(sv.Position.BOTTOM_CENTER,))
        ids = []
        t0 = time.perf_counter()
        for d in dets:
            tracked = tracker.update(d)
            zone.trigger(tracked)
            line.trigger(tracked)
            ids.append((tracked.xyxy, tracked.tracker_id))
        best = min(best, (time.perf_counter() - t0) / len(dets))
    frame = np.concatenate([np.full(len(i), f) for f, (_, i) in enumerate(ids)])
    np.savez(out, frame=frame, xyxy=np.concatenate([x for x, _ in ids]).reshape(-1, 4),
             tracker_id=np.concatenate([i for _, i in ids]))
    print(json.dumps({"ms_per_frame": best * 1000}))


if __name__ == "__main__":
    main()
