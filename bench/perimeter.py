"""The perimeter features on synthetic walkers with what cameras do to them, and their pictures.

    .venv/bin/python bench/perimeter.py                 # every feature's figures
    .venv/bin/python bench/perimeter.py --only routes   # one of them
    .venv/bin/python bench/perimeter.py --plots docs/img

routes: walkers through three zones in order, in reverse, too slowly, along the zones' edges,
with an id switch or an occlusion on the way, at 5 and 10 fps and box jitter of σ 2, 4 and
8 px; routes found and false, against a naive reading (the zone events of one track id, in
order, within the time), and the act error (event time against the true entry into the last
zone). What it includes: the rule engine (continuation across id switches, the zones'
hysteresis). What it leaves out: the detector and the tracker (ids are given), and real video
(`perishield eval` scores routes on the shared clips, examples/rulesets/stadtmitte-routes.yaml).

climb: climbers (over and out of sight, over and staying on top, up and back down, down from
the wall's top seen from the inside) and people who must not fire (along the wall's foot, along
its edge with the feet hidden, standing inside with the head above the edge, a box the tracker
moved over the wall from far outside), same rates and jitter; alarms found and false, outcomes
right, act error, against a tripwire on the same edge (`lines`, direction outside to inside).
Then the composited clip (orchestrator/evaluation/climb.py) through the whole pipeline, real
detector and tracker, at 5 and 10 fps. What it leaves out: real footage of a climb (none is in
the shared data) and a camera's own wall geometry beyond the two views drawn.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.config import CameraConfig
from orchestrator.evaluation.synthetic import Camera, PathWalker, frames
from orchestrator.rules import RuleEngine, RuleHit

SIZE = (1920, 1080)
ZONES = [
    {"name": "gate", "points": [[100, 400], [400, 400], [400, 900], [100, 900]]},
    {"name": "lawn", "points": [[700, 400], [1000, 400], [1000, 900], [700, 900]]},
    {"name": "dorm", "points": [[1300, 400], [1600, 400], [1600, 900], [1300, 900]]},
]
ROUTE = {"name": "gate-dorm", "zones": ["gate", "lawn", "dorm"], "within_s": 20}


def _run(walker: PathWalker, cam: Camera, cooldown_s: float = 30.0
         ) -> tuple[list[RuleHit], list[tuple[float, np.ndarray]]]:
    eng = RuleEngine(CameraConfig.model_validate(
        {"id": "c", "source": "x.mp4", "zones": ZONES, "routes": [ROUTE],
         "rules": {"cooldown_s": cooldown_s}}))
    hits: list[RuleHit] = []
    seq = frames([walker], cam, walker.t1 + 1.0)
    for t, det in seq:
        hits += eng.update(det, t, size=SIZE)
    return hits, [(t, det.xyxy) for t, det in seq]


def _naive(hits: list[RuleHit]) -> int:
    """Routes a reader of zone events would find: one track id entering the zones in order,
    the last within ``within_s`` of the first."""
    found, steps = 0, ROUTE["zones"]
    by_track: dict[int, list[RuleHit]] = {}
    for h in hits:
        if h.kind == "zone":
            by_track.setdefault(h.track_id, []).append(h)
    for zs in by_track.values():
        k, start = 0, 0.0
        for h in zs:
            if h.rule == steps[k]:
                start = h.timestamp if k == 0 else start
                k += 1
                if k == len(steps):
                    found += h.timestamp - start <= ROUTE["within_s"]
                    k = 0
    return found


def _cases() -> dict[str, tuple[PathWalker, dict[str, Any], int]]:
    """name: (walker, what the camera does, routes expected)."""
    straight = PathWalker.through((0, 650), (1800, 650))
    lawn_at = 850 / 120  # on the lawn: the id switch, the occlusion
    return {
        "in order": (straight, {}, 1),
        "in order, id switch on the way": (straight, {"switch_at": ((0, lawn_at),)}, 1),
        "in order, hidden 1.5 s on the way": (
            straight, {"occluded": ((0, lawn_at - 0.75, lawn_at + 0.75),)}, 1),
        "in order, 40 % of boxes missed": (straight, {"miss": 0.4}, 1),
        "in reverse": (PathWalker.through((1800, 650), (0, 650)), {}, 0),
        "along the zones' top edges": (PathWalker.through((0, 400), (1800, 400)), {}, 0),
        "too slowly (28 s)": (PathWalker.through((0, 650), (1800, 650), speed=1200 / 28), {}, 0),
    }


def routes(seeds: int = 10) -> dict[str, dict[str, Any]]:
    out = {}
    for name, (walker, change, expected) in _cases().items():
        found = false = naive_found = naive_false = 0
        errors = []
        true_act = walker.t0 + 1300 / 1800 * (walker.t1 - walker.t0)
        for fps in (5, 10):
            for sigma in (2, 4, 8):
                for seed in range(seeds):
                    cam = Camera(fps=fps, jitter=sigma, seed=seed, **change)
                    hits, _ = _run(walker, cam)
                    got = [h for h in hits if h.kind == "route"]
                    found += min(len(got), expected)
                    false += max(0, len(got) - expected)
                    naive = _naive(hits)
                    naive_found += min(naive, expected)
                    naive_false += max(0, naive - expected)
                    if expected and got:
                        errors.append(abs(got[0].timestamp - true_act))
        runs = 2 * 3 * seeds
        out[name] = {"runs": runs, "expected": expected * runs, "found": found,
                     "false": false, "naive_found": naive_found, "naive_false": naive_false,
                     "act_error_p95_s": round(float(np.percentile(errors, 95)), 3)
                     if errors else None}
    return out


def plot_routes(folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    walks = [("gate → lawn → dorm, an id switch on the lawn",
              PathWalker.through((0, 650), (1800, 650)), {"switch_at": ((0, 850 / 120),)}),
             ("the other way: no route", PathWalker.through((1800, 650), (0, 650)), {})]
    for ax, (title, walker, change) in zip(axes, walks, strict=True):
        hits, seq = _run(walker, Camera(fps=10, jitter=4, seed=1, **change))
        for z in ZONES:
            p = np.array(z["points"] + z["points"][:1])
            ax.fill(p[:, 0], p[:, 1], color="tab:blue", alpha=0.12)
            ax.text(p[0, 0] + 10, p[0, 1] + 40, z["name"], color="tab:blue", fontsize=8)
        feet = np.array([[(b[0] + b[2]) / 2, b[3]] for _, xyxy in seq for b in xyxy])
        ax.plot(feet[:, 0], feet[:, 1], ".", color="0.55", ms=2.5, label="feet per frame")
        for h in hits:
            style = (dict(marker="*", ms=16, color="tab:red", ls="none") if h.kind == "route"
                     else dict(marker="o", ms=7, mfc="none", mew=1.5, color="tab:green",
                               ls="none"))
            label = (f"route fired: act {h.timestamp:.1f} s" if h.kind == "route"
                     else f"{h.rule} entered {h.timestamp:.1f} s (id {h.track_id})")
            ax.plot(*h.point, label=label, **style)
        ax.set_xlim(0, 1800)
        ax.set_ylim(950, 350)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6.5, loc="lower left")
        ax.set_xlabel("x (px)")
    axes[0].set_ylabel("y (px)")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules-route.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


FACING = {"name": "wall", "points": [[0, 400], [1900, 400]], "outside": "a"}
INSIDE = {"name": "wall", "points": [[0, 300], [1900, 300]], "outside": "b"}


def _climb_cases() -> dict[str, tuple[dict[str, Any], PathWalker, int, str | None]]:
    """name: (edge, walker, alarms expected, outcome expected)."""
    up = ((0.0, 900, 800), (3.0, 900, 520), (5.0, 900, 370), (6.0, 900, 370))
    return {
        "over, out of sight": (FACING, PathWalker(up), 1, "confirmed"),
        "over, stays on top": (FACING, PathWalker((*up, (9.0, 910, 365))), 1, "confirmed"),
        "up and back down": (FACING, PathWalker((*up[:3], (6.5, 900, 560))), 1, "retracted"),
        "down inside (inside view)": (INSIDE, PathWalker(
            ((0.0, 900, 280), (1.0, 900, 280), (3.0, 900, 480), (6.0, 900, 480))),
            1, "confirmed"),
        "along the wall's foot": (FACING, PathWalker(((0.0, 100, 525), (14.0, 1800, 525))),
                                  0, None),
        "along the edge, feet hidden": (FACING, PathWalker(
            ((0.0, 1800, 402), (14.0, 100, 402))), 0, None),
        "inside, head above the edge": (INSIDE, PathWalker(
            ((0.0, 100, 400), (14.0, 1800, 410))), 0, None),
        "box moved over from far outside": (FACING, PathWalker(
            ((0.0, 900, 800), (2.0, 900, 800), (2.1, 900, 300), (6.0, 900, 300))), 0, None),
    }


def _climb_run(edge: dict[str, Any], walker: PathWalker, cam: Camera, tripwire: bool
               ) -> list[RuleHit]:
    inward = "a_to_b" if edge["outside"] == "a" else "b_to_a"
    rules = ({"lines": [{"name": "wall", "points": edge["points"], "direction": inward}]}
             if tripwire else {"climbs": [edge]})
    eng = RuleEngine(CameraConfig.model_validate({"id": "c", "source": "x.mp4", **rules}))
    hits: list[RuleHit] = []
    for t, det in frames([walker], cam, walker.t1 + 2.0):
        hits += eng.update(det, t, size=SIZE)
    return hits


def climb(seeds: int = 10) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, (edge, walker, expected, outcome) in _climb_cases().items():
        r = {"runs": 0, "expected": 0, "found": 0, "false": 0, "outcome_right": 0,
             "tripwire_found": 0, "tripwire_false": 0}
        errors = []
        for fps in (5, 10):
            for sigma in (2, 4, 8):
                for seed in range(seeds):
                    cam = Camera(fps=fps, jitter=sigma, seed=seed)
                    hits = _climb_run(edge, walker, cam, tripwire=False)
                    alarms = [h for h in hits if h.outcome is None]
                    outcomes = [h.outcome for h in hits if h.outcome is not None]
                    wire = len(_climb_run(edge, walker, cam, tripwire=True))
                    r["runs"] += 1
                    r["expected"] += expected
                    r["found"] += min(len(alarms), expected)
                    r["false"] += max(0, len(alarms) - expected)
                    r["outcome_right"] += outcome is not None and outcomes == [outcome]
                    r["tripwire_found"] += min(wire, expected)
                    r["tripwire_false"] += max(0, wire - expected)
                    if expected and alarms:
                        errors.append(abs(alarms[0].timestamp - _climb_act(walker, edge)))
        r["act_error_p95_s"] = round(float(np.percentile(errors, 95)), 3) if errors else None
        out[name] = r
    out["composited clip"] = _climb_clip_figures()
    return out


def _climb_act(walker: PathWalker, edge: dict[str, Any]) -> float:
    """When the later of feet and head passes the edge's row (inward)."""
    y_edge = edge["points"][0][1]
    ts = np.linspace(walker.t0, walker.t1, 20001)
    feet = np.array([walker.at(t)[1] for t in ts])
    head = feet - walker.height
    inside = (lambda y: y < y_edge) if edge["outside"] == "a" else (lambda y: y > y_edge)
    both = inside(feet) & inside(head)
    return float(ts[np.argmax(both)])


def _climb_clip_figures() -> dict[str, Any]:
    """The composited clip through `perishield analyze` at 5 and 10 fps."""
    import subprocess
    import sys
    import tempfile

    import yaml

    from orchestrator.evaluation.climb import climb_clip
    from orchestrator.paths import find_data

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "climb.mp4"
        truth = climb_clip(find_data("TUD-Stadtmitte.mp4"), find_data("TUD-Stadtmitte.gt.txt"),
                           find_data("TUD-Campus.mp4"), find_data("TUD-Campus.gt.txt"), video)
        for fps in (5, 10):
            for tripwire in (False, True):
                cfg = Path(tmp) / f"{fps}-{tripwire}.yaml"
                rule = ({"lines": [{"name": "wall", "points": truth.edge,
                                    "direction": "a_to_b"}]} if tripwire else
                        {"climbs": [{"name": "wall", "points": truth.edge, "outside": "a"}]})
                cfg.write_text(yaml.safe_dump({"cameras": [{
                    "id": "wall", "source": str(video), "analysis_fps": fps,
                    "rules": {"filter": {"classes": ["person"]}}, **rule}]}))
                data = Path(tmp) / f"data-{fps}-{tripwire}"
                proc = subprocess.run(
                    [sys.executable, "-m", "orchestrator", "analyze", str(video), "-c",
                     str(cfg), "--data-dir", str(data), "--json"],
                    capture_output=True, text=True, check=True)
                evs = [json.loads(x) for x in proc.stdout.splitlines()]
                key = f"{fps} fps, {'tripwire' if tripwire else 'climb'}"
                out[key] = {"alarms": len(evs), "times": sorted(
                    round(e["video_time"], 2) for e in evs)}
        out["truth"] = {"alarms": 2, "times": [round(truth.over_at, 2),
                                                 round(truth.back_over_at, 2)]}
    return out


def plot_climb(folder: Path) -> Path:
    import subprocess
    import sys
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import yaml

    from orchestrator.evaluation.climb import climb_clip
    from orchestrator.paths import find_data

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), width_ratios=[1, 1, 1.25])
    cases = _climb_cases()
    for ax, name in zip(axes[:2], ("over, out of sight", "up and back down"), strict=True):
        edge, walker, _, _ = cases[name]
        seq = frames([walker], Camera(fps=10, jitter=4, seed=1), walker.t1 + 2.0)
        ts = [t for t, det in seq for _ in det.xyxy]
        boxes = np.array([b for _, det in seq for b in det.xyxy])
        ax.plot(ts, boxes[:, 3], ".", color="tab:blue", ms=3, label="feet (box bottom)")
        ax.plot(ts, boxes[:, 1], ".", color="tab:purple", ms=3, label="head (box top)")
        ax.axhline(edge["points"][0][1], color="0.3", lw=2, label="wall's top edge")
        ax.axhspan(edge["points"][0][1], edge["points"][0][1] + 120, color="0.85",
                   label="wall's face (outside: below)")
        for h in _climb_run(edge, walker, Camera(fps=10, jitter=4, seed=1), False):
            if h.outcome is None:
                ax.axvline(h.timestamp, color="tab:red", lw=2, label=f"over: {h.timestamp:.2f} s")
                ax.axvline(h.detected, color="tab:red", ls=":", label=f"fired {h.detected:.2f} s")
            else:
                ax.axvline(h.timestamp, color="tab:green", lw=2,
                           label=f"{h.outcome} {h.timestamp:.2f} s")
        ax.set_ylim(850, 150)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("image row y (px)")
        ax.set_title(f"synthetic, σ 4 px, 10 fps: {name}", fontsize=9)
        ax.legend(fontsize=6.5, loc="lower right")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "climb.mp4"
        truth = climb_clip(find_data("TUD-Stadtmitte.mp4"), find_data("TUD-Stadtmitte.gt.txt"),
                           find_data("TUD-Campus.mp4"), find_data("TUD-Campus.gt.txt"), video)
        cfg = Path(tmp) / "wall.yaml"
        cfg.write_text(yaml.safe_dump({"cameras": [{
            "id": "wall", "source": str(video), "analysis_fps": 10,
            "rules": {"filter": {"classes": ["person"]}},
            "climbs": [{"name": "wall", "points": truth.edge, "outside": "a"}]}]}))
        proc = subprocess.run([sys.executable, "-m", "orchestrator", "analyze", str(video),
                               "-c", str(cfg), "--data-dir", str(Path(tmp) / "d"), "--json"],
                              capture_output=True, text=True, check=True)
        first = min((json.loads(x) for x in proc.stdout.splitlines()),
                    key=lambda e: e["point"][0])
        import cv2

        img = cv2.imread(first["snapshot"])
        axes[2].imshow(img[:, :, ::-1])
    axes[2].set_title(f"composited clip, real detector: the snapshot at {first['video_time']:.2f}"
                      f" s (true {truth.over_at:.2f} s)", fontsize=9)
    axes[2].axis("off")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules-climb.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


FEATURES = {"routes": (routes, plot_routes), "climb": (climb, plot_climb)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(FEATURES), action="append")
    ap.add_argument("--plots", type=Path, help="write the pictures of docs/rules.md here")
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    for name in args.only or list(FEATURES):
        measure, draw = FEATURES[name]
        print(f"## {name}")
        print(json.dumps(measure(args.seeds), indent=1))
        if args.plots and draw is not None:
            print("wrote", draw(args.plots))


if __name__ == "__main__":
    main()
