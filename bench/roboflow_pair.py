"""The reference pair: Roboflow's ``trackers`` ByteTrack + supervision PolygonZone / LineZone.

Runs in its own venv (bench/.venv-roboflow), since ``trackers`` clashes with our package name.
One warm-up pass, then one timed pass over the scene (the caller interleaves rounds of both
sides and takes medians):

    python roboflow_pair.py SCENE.npz RULES OUT_IDS.npz  → prints JSON {ms_per_frame, events}

RULES is ``gate`` (one zone, one line) or ``perimeter`` (scenes.PERIMETER_*: a LineZone per
straight line and per polyline segment, a PolygonZone per zone; supervision has no dwell).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import supervision as sv

from trackers import ByteTrackTracker

sys.path.insert(0, str(Path(__file__).parent))
from scenes import LINE, PERIMETER_LINES, PERIMETER_ZONES, ZONE, per_frame

ANCHOR = (sv.Position.BOTTOM_CENTER,)


def rules(kind: str) -> tuple[list[sv.LineZone], list[sv.PolygonZone]]:
    if kind == "gate":
        lines = [LINE]
        zones = [ZONE]
    else:
        lines = [seg for pl in PERIMETER_LINES for seg in itertools.pairwise(pl)]
        zones = [pts for pts, _ in PERIMETER_ZONES]
    return ([sv.LineZone(sv.Point(*a), sv.Point(*b), triggering_anchors=ANCHOR)
             for a, b in lines],
            [sv.PolygonZone(np.array(z, np.int32), triggering_anchors=ANCHOR) for z in zones])


def run(dets: list[sv.Detections], fps: float, kind: str
        ) -> tuple[float, int, list[tuple[np.ndarray, np.ndarray]]]:
    tracker = ByteTrackTracker(frame_rate=fps, lost_track_buffer=int(1.5 * 30))
    lines, zones = rules(kind)
    ids = []
    events = 0
    t0 = time.perf_counter()
    for d in dets:
        tracked = tracker.update(d)
        for z in zones:
            z.trigger(tracked)
        for ln in lines:
            crossed_in, crossed_out = ln.trigger(tracked)
            events += int(crossed_in.sum() + crossed_out.sum())
        ids.append((tracked.xyxy, tracked.tracker_id))
    return (time.perf_counter() - t0) / len(dets) * 1000, events, ids


def main() -> None:
    scene, kind, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    frames, fps = per_frame(scene)
    dets = [sv.Detections(xyxy=x, confidence=c, class_id=k) for x, c, k in frames]
    run(dets, fps, kind)  # warm-up: first calls, caches
    ms, events, ids = run(dets, fps, kind)
    frame = np.concatenate([np.full(len(i), f) for f, (_, i) in enumerate(ids)])
    np.savez(out, frame=frame, xyxy=np.concatenate([x for x, _ in ids]).reshape(-1, 4),
             tracker_id=np.concatenate([i for _, i in ids]))
    print(json.dumps({"ms_per_frame": ms, "events": events}))


if __name__ == "__main__":
    main()
