"""Event accuracy of the rules, before and after a change, on every shared rule set and on
synthetic trajectories; draws the pictures of docs/accuracy.md.

    .venv/bin/python bench/accuracy.py                  # this checkout only
    .venv/bin/python bench/accuracy.py --before 0d56539 # and that commit, side by side
    .venv/bin/python bench/accuracy.py --plots docs/img # the trajectory plots (matplotlib)

What it includes: the real detector (YOLOX-Nano, ONNX Runtime) on the shared clips at their own
frame rate (the demo at its 10 fps), ByteTrack, the rules, and `perishield eval`'s scoring
(same rule and direction, act within 0.5 s and 40 px, one-to-one, don't-care for repeats,
grazes and the last 0.5 s). What it leaves out: speed (see bench/tracking.py), and scenes
that are not in this repository. The "before" side runs the older commit's pipeline in a git
worktree, scored by this checkout's evaluation code (its events have no `point`: the bottom
centre of the event's box, at the frame that fired, stands for it).

The synthetic suite walks people past a line and through a zone with what cameras do to
them (jitter, an occlusion with an id switch, a shallow crossing, a crossing as the track
appears) and counts events; ``--plots`` draws each case.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETS = sorted((ROOT / "examples" / "rulesets").glob("*.yaml")) + [ROOT / "examples" / "demo.yaml"]

# Runs in a child process so that another commit's `orchestrator` can be imported.
_EVAL = """
import json, sys
from orchestrator.config import load_settings
from orchestrator.evaluation.harness import evaluate
for path, video, gt in json.loads(sys.argv[1]):
    r = evaluate(load_settings(path), video, gt)
    r.pop("truth"); r.pop("predicted")
    print(json.dumps({"set": path, **r}), flush=True)
"""

_ORACLE = """
import json, sys
import numpy as np
from orchestrator.config import load_settings
from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.evaluation.harness import video_fps
from orchestrator.evaluation.metrics import PredictedEvent, match_events
from orchestrator.evaluation.truth import truth_events
from orchestrator.rules import RuleEngine
from trackers import ByteTrack
for path, video, gt_path in json.loads(sys.argv[1]):
    cam, gt, fps = load_settings(path).cameras[0], GroundTruth.load(gt_path), video_fps(video)
    engine, tracker, predicted = RuleEngine(cam), ByteTrack(), []
    last = max(gt.frames)
    for k in range(1, last + 1, max(1, round(fps / cam.analysis_fps))):
        det, t = gt.detections(k), (k - 1) / fps
        det.tracker_id = tracker.update(det.xyxy, det.confidence, det.class_id, t)
        for h in engine.update(det, t, size=(640, 480), births=tracker.births):
            predicted.append(PredictedEvent(h.rule, h.direction, h.timestamp, h.point,
                                            h.detected))
    s = match_events(truth_events(gt, cam, fps, (640, 480)), predicted, 0.5, last / fps)
    print(json.dumps({"set": path, **s.as_dict()}), flush=True)
"""

_SYNTHETIC = """
import json, sys
sys.path.insert(0, sys.argv[2])
from accuracy_cases import run_cases
print(json.dumps(run_cases()))
"""


def clip_of(path: Path) -> str:
    return "TUD-Campus" if path.name.startswith("campus") else "TUD-Stadtmitte"


def worktree(rev: str, into: Path) -> Path:
    """A checkout of ``rev`` with this checkout's evaluation code (the same scoring) and
    geometry (the truth's distances)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), rev],
                   check=True, capture_output=True)
    shutil.rmtree(into / "orchestrator" / "evaluation")
    shutil.copytree(ROOT / "orchestrator" / "evaluation", into / "orchestrator" / "evaluation")
    # the truth measures distances with this checkout's geometry (it only added functions)
    shutil.copy(ROOT / "orchestrator" / "rules" / "geometry.py",
                into / "orchestrator" / "rules" / "geometry.py")
    harness = into / "orchestrator" / "evaluation" / "harness.py"
    # its events have no point: take the feet of the event's box (bottom centre)
    text = harness.read_text().replace(
        "None if e.point is None else (e.point[0], e.point[1])",
        "((e.box[0] + e.box[2]) / 2, e.box[3]) if getattr(e, 'point', None) is None "
        "else (e.point[0], e.point[1])")
    harness.write_text(text)
    return into


def _run(tree: Path, *args: str) -> str:
    shared = ROOT.parent / "shared"
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin",
           "PERISHIELD_MODELS_DIR": str(shared / "models")}
    out = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{tree}: {out.stderr}")
    return out.stdout


def evaluate_sets(tree: Path) -> list[dict]:
    data = ROOT.parent / "shared" / "data"
    jobs = [(str(p), str(data / f"{clip_of(p)}.mp4"), str(data / f"{clip_of(p)}.gt.txt"))
            for p in SETS]
    return [json.loads(line) for line in _run(tree, "-c", _EVAL, json.dumps(jobs)).splitlines()]


def oracle(tree: Path) -> list[dict]:
    data = ROOT.parent / "shared" / "data"
    jobs = [(str(p), str(data / f"{clip_of(p)}.mp4"), str(data / f"{clip_of(p)}.gt.txt"))
            for p in SETS]
    return [json.loads(line) for line in _run(tree, "-c", _ORACLE, json.dumps(jobs)).splitlines()]


def synthetic(tree: Path) -> dict:
    return json.loads(_run(tree, "-c", _SYNTHETIC, "", str(Path(__file__).parent)))


def _stress() -> dict[str, dict[str, float]]:
    from accuracy_cases import stress

    return stress()


def table(results: dict[str, list[dict]]) -> None:
    print("| rule set | version | true | P | R | F1 | FA/h | delay p50 | delay p95 | chance P |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    names = [Path(r["set"]).stem for r in next(iter(results.values()))]
    for i, name in enumerate(names):
        for version, rows in results.items():
            r = rows[i]
            d50 = "-" if r["delay_median_s"] is None else f"{r['delay_median_s']:.2f}"
            d95 = "-" if r["delay_p95_s"] is None else f"{r['delay_p95_s']:.2f}"
            print(f"| {name} | {version} | {r['true_events']} | {r['precision']:.2f} | "
                  f"{r['recall']:.2f} | {r['f1']:.2f} | {r['false_alarms_per_hour']:.0f} | "
                  f"{d50} | {d95} | {r['chance']['precision']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", help="an older commit to compare with")
    ap.add_argument("--plots", type=Path, help="write the trajectory plots into this folder")
    args = ap.parse_args()
    trees = {"now": ROOT}
    with tempfile.TemporaryDirectory(prefix="perishield-before-") as tmp:
        if args.before:
            trees = {"before": worktree(args.before, Path(tmp) / "tree"), **trees}
        try:
            table({v: evaluate_sets(t) for v, t in trees.items()})
            print("\nrules on the labelled boxes (ByteTrack, no detector): what the detector "
                  "and the tracker in crowds leave out")
            for r in oracle(ROOT):
                print(f"  {Path(r['set']).stem:20} P {r['precision']:.2f}  R {r['recall']:.2f}"
                      f"  TP {r['tp']} FP {r['fp']} FN {r['fn']}")
            print("\nsynthetic stress (now): 20 walkers per cell")
            for cell, r in _stress().items():
                print(f"  {cell:16} walking along: {r['walk_along_false']:2} false; crossings "
                      f"missed {r['crossings_missed']}; act error p50 {r['act_error_p50_s']} s, "
                      f"max {r['act_error_max_s']} s; delay p50 {r['delay_p50_s']} s, "
                      f"p95 {r['delay_p95_s']} s")
            cases = {v: synthetic(t) for v, t in trees.items()}
            print("\nsynthetic cases: events fired (expected)")
            for name, now in cases["now"].items():
                cells = "  ".join(f"{v} {c[name]['fired']}" for v, c in cases.items())
                print(f"  {name:34} {cells}  (expected {now['expected']})")
            if args.plots:
                from accuracy_cases import plot

                plot(cases, args.plots)
        finally:
            if args.before:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(Path(tmp) / "tree")], check=False, capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
