"""Event accuracy of the rules, before and after a change, on every shared rule set and on
synthetic trajectories; draws the pictures of docs/accuracy.md.

    .venv/bin/python bench/accuracy.py                  # this checkout only
    .venv/bin/python bench/accuracy.py --before 0d56539 # and that commit, side by side
    .venv/bin/python bench/accuracy.py --plots docs/img # the trajectory plots (matplotlib)
    .venv/bin/python bench/accuracy.py --variants       # and at 10 / 7 / 5 fps, at half size

What it includes: the real detector (YOLOX-Nano, ONNX Runtime) on the shared clips at their own
frame rate (the demo at its 10 fps), ByteTrack, the rules, and `perishield eval`'s scoring
(same rule and direction, act within 0.5 s and 40 px, one-to-one, don't-care for repeats,
grazes and the last 0.5 s). With ``--variants``, the same rule sets at analysis rates and
sizes they were not drawn for (a rule set that only holds at 25 fps on full-size people fits
its clip, not the product). What it leaves out: speed (see bench/tracking.py), and scenes
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
    try:
        settings = load_settings(path)
    except Exception as e:  # a rule set with rules this version does not have (routes)
        print(json.dumps({"set": path, "unsupported": str(e).splitlines()[0]}), flush=True)
        continue
    r = evaluate(settings, video, gt)
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
    # frames before AnalysisFrame.size: the size of the image
    text = text.replace("size.append(f.size)",
                        "size.append(getattr(f, 'size', None) "
                        "or (f.image.shape[1], f.image.shape[0]))")
    # pipelines before the motion gate count no gated frames
    text = text.replace("stats.frames_gated", "getattr(stats, 'frames_gated', 0)")
    # pipelines before perspective screening and configurations before routes
    text = text.replace("pipe.state.perspective if pipe is not None else None",
                        "getattr(getattr(pipe, 'state', None), 'perspective', None)")
    text = text.replace("stats.screened", "getattr(stats, 'screened', 0)")
    text = text.replace("*cam.routes]", "*getattr(cam, 'routes', [])]")
    harness.write_text(text)
    truth = into / "orchestrator" / "evaluation" / "truth.py"
    text = truth.read_text().replace(
        "from orchestrator.config import CameraConfig, LineConfig, RouteConfig, ZoneConfig",
        "from orchestrator.config import CameraConfig, LineConfig, ZoneConfig")
    truth.write_text(text.replace("in camera.routes:", "in getattr(camera, 'routes', []):"))
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


def _shared_clip(name: str) -> tuple[str, str]:
    """A shared clip and its ground truth."""
    data = ROOT.parent / "shared" / "data"
    return str(data / f"{name}.mp4"), str(data / f"{name}.gt.txt")


def own_jobs() -> list[tuple[str, str, str]]:
    """Every rule set on the clip it was drawn on, at its own rate."""
    return [(str(p), *_shared_clip(clip_of(p))) for p in SETS]


def _evaluate(tree: Path, jobs: list[tuple[str, str, str]], script: str = _EVAL) -> list[dict]:
    """``script`` (``perishield eval``, or the oracle) on each (config, video, ground truth)
    with ``tree``'s pipeline."""
    return [json.loads(line) for line in _run(tree, "-c", script, json.dumps(jobs)).splitlines()]


def evaluate_sets(tree: Path) -> list[dict]:
    return _evaluate(tree, own_jobs())


# The same rule sets where they were not drawn: other analysis rates, and the clips at half
# size (people 60–120 px tall, as on a wide perimeter view).
VARIANTS = (("10 fps", 10.0, 1.0), ("7 fps", 7.0, 1.0), ("5 fps (the default rate)", 5.0, 1.0),
            ("half size, 7 fps", 7.0, 0.5))


def _scaled_clip(name: str, scale: float, into: Path) -> tuple[str, str]:
    """The shared clip and its ground truth at ``scale`` (H.264, boxes scaled)."""
    if scale == 1.0:
        return _shared_clip(name)
    data = ROOT.parent / "shared" / "data"
    video, gt = into / f"{name}-{scale}.mp4", into / f"{name}-{scale}.gt.txt"
    if not video.exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(data / f"{name}.mp4"),
                        "-vf", f"scale=iw*{scale}:-2", "-c:v", "libx264", "-crf", "18",
                        str(video)], check=True)
        rows = []
        for line in (data / f"{name}.gt.txt").read_text().splitlines():
            f = line.split(",")
            f[2:6] = [f"{float(v) * scale:.2f}" for v in f[2:6]]
            rows.append(",".join(f))
        gt.write_text("\n".join(rows) + "\n")
    return str(video), str(gt)


def variant_jobs(fps: float, scale: float, into: Path) -> list[tuple[str, str, str]]:
    """Every rule set as a config analysed at ``fps`` on the clip at ``scale``."""
    import yaml

    jobs = []
    for p in SETS:
        video, gt = _scaled_clip(clip_of(p), scale, into)
        doc = yaml.safe_load(p.read_text())
        for cam in doc["cameras"]:
            cam["source"], cam["analysis_fps"] = video, fps
            for rule in [*cam.get("zones", []), *cam.get("lines", [])]:
                rule["points"] = [[x * scale, y * scale] for x, y in rule["points"]]
        doc.get("outputs", {}).pop("data_dir", None)
        path = into / f"{p.stem}-{fps:g}-{scale:g}.yaml"
        path.write_text(yaml.safe_dump(doc))
        jobs.append((str(path), video, gt))
    return jobs


def variants(trees: dict[str, Path], into: Path) -> None:
    print("\nthe same rule sets elsewhere: totals over the sets every version runs "
          "(TP / FP / FN), worst set")
    print("| condition | version | sets | TP | FP | FN | P | R | worst P | worst R |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, fps, scale in VARIANTS:
        jobs = variant_jobs(fps, scale, into)
        runs = {version: _evaluate(tree, jobs) for version, tree in trees.items()}
        both = [i for i in range(len(jobs))
                if not any("unsupported" in rows[i] for rows in runs.values())]
        for version, all_rows in runs.items():
            rows = [all_rows[i] for i in both]
            tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
            print(f"| {label} | {version} | {len(rows)} | {tp} | {fp} | {fn} | "
                  f"{tp / max(tp + fp, 1):.2f} | "
                  f"{tp / max(tp + fn, 1):.2f} | {min(r['precision'] for r in rows):.2f} | "
                  f"{min(r['recall'] for r in rows):.2f} |", flush=True)


def oracle(tree: Path) -> list[dict]:
    return _evaluate(tree, own_jobs(), _ORACLE)


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
            if "unsupported" in r:
                print(f"| {name} | {version} | rules this version does not have |")
                continue
            d50 = "-" if r["delay_median_s"] is None else f"{r['delay_median_s']:.2f}"
            d95 = "-" if r["delay_p95_s"] is None else f"{r['delay_p95_s']:.2f}"
            print(f"| {name} | {version} | {r['true_events']} | {r['precision']:.2f} | "
                  f"{r['recall']:.2f} | {r['f1']:.2f} | {r['false_alarms_per_hour']:.0f} | "
                  f"{d50} | {d95} | {r['chance']['precision']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", help="an older commit to compare with")
    ap.add_argument("--plots", type=Path, help="write the trajectory plots into this folder")
    ap.add_argument("--variants", action="store_true",
                    help="also run every set at 10, 7 and 5 fps and at half size (7 fps)")
    args = ap.parse_args()
    trees = {"now": ROOT}
    with tempfile.TemporaryDirectory(prefix="perishield-before-") as tmp:
        if args.before:
            trees = {"before": worktree(args.before, Path(tmp) / "tree"), **trees}
        try:
            table({v: evaluate_sets(t) for v, t in trees.items()})
            if args.variants:
                variants(trees, Path(tmp))
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
