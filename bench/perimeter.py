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


FEATURES = {"routes": (routes, plot_routes)}


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
        if args.plots:
            print("wrote", draw(args.plots))


if __name__ == "__main__":
    main()
