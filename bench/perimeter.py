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

site: two cameras on one pavement (TUD-Stadtmitte and the same clip mirrored, as seen from the
other side), both calibrated to one site plan, with examples/rulesets/stadtmitte-gates.yaml's
two gates (mirrored on the second): the whole service (real detector, tracker, rules, store),
at 10 and 25 fps, with the second camera's site points off by σ 0, 0.3 and 0.6 m (a
calibration error); events, incidents, events alone in an incident, and how far apart in time
and on the ground the two cameras put one act. What it leaves out: cameras with different
viewpoints (the mirror sees the same pixels), and more than two cameras.

far: each shared clip shrunk 3x and 5x inside a frame of its own size (orchestrator/evaluation/
far.py; people 43-77 and 26-46 px tall in TUD-Stadtmitte, 60-96 and 36-58 in TUD-Campus), with
its gates rule set moved along; with and without `detect_regions` (the far scene's rectangle):
person boxes found (IoU >= 0.5 with the truth, per analysed frame), the detector's CPU ms per
frame (YOLOX-Nano, ONNX Runtime, 2 threads: the frame, and its region as one more input of the
same batch; medians of 3 interleaved rounds), and `perishield eval`'s events and tracking. What
it leaves out: the gate (every frame is detected), other detectors, GPUs (where a second input
of a batch costs far less than here).

night: TUD-Stadtmitte with its colour gone from 2 s on (as when a camera's IR lamps take over),
looped to 60 s, and the same clip with the colour going and coming back every 6 s (lamps
flickering); the mode per analysed frame at 10 fps with hold_s 1, 5 and 10: when it switched,
and how often. What it leaves out: real IR footage (none is shared) and the night model's
accuracy on it.

perspective: every accuracy rule set through `perishield eval` with `perspective.enabled` and
without: boxes screened (false ones removed, true ones lost: IoU >= 0.5 with a labelled person),
events and MOTA; the picture is TUD-Stadtmitte's learned model over its boxes. What it leaves out:
a camera whose ground is not one plane (stairs, a slope), where the linear model fits worse.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import av
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


SITE_IMG = [(0, 480), (640, 480), (520, 240), (120, 240)]
SITE_M = [(0.0, 0.0), (8.0, 0.0), (7.0, 12.0), (1.0, 12.0)]


def _two_cameras(tmp: Path, fps: float, error_m: float, seed: int = 0
                 ) -> tuple[list[Any], Any]:
    """Both cameras through the service; returns the stored events and the settings."""
    import asyncio

    import yaml

    from orchestrator.config import Settings
    from orchestrator.events.store import EventStore
    from orchestrator.paths import PROJECT_ROOT, find_data
    from orchestrator.service import Service

    video = find_data("TUD-Stadtmitte.mp4")
    mirrored = tmp / "mirrored.mp4"
    if not mirrored.exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-vf", "hflip",
                        "-c:v", "libx264", "-crf", "18", str(mirrored)], check=True)
    base = yaml.safe_load((PROJECT_ROOT / "examples/rulesets/stadtmitte-gates.yaml")
                          .read_text())["cameras"][0]
    rng = np.random.default_rng(seed)
    cams = []
    for cid, src, flip in (("east", video, False), ("west", mirrored, True)):
        off = rng.normal(0, error_m, (4, 2)) if flip else np.zeros((4, 2))
        pairs = [[640 - x if flip else x, y, sx + dx, sy + dy]
                 for (x, y), (sx, sy), (dx, dy) in zip(SITE_IMG, SITE_M, off, strict=True)]
        lines = [{**ln, "points": [[640 - x, y] for x, y in ln["points"]] if flip
                  else ln["points"]} for ln in base["lines"]]
        # Played in real time, as cameras: a file read faster stamps its frames as read.
        cams.append({**base, "id": cid, "source": str(src), "analysis_fps": fps,
                     "realtime": True,
                     "lines": lines, "ground": {"pairs": pairs, "max_error_m": 5.0}})
    data = tmp / f"data-{fps}-{error_m}-{seed}"
    s = Settings.model_validate({"cameras": cams, "outputs": {"data_dir": str(data)},
                                 "detector": base.get("detector", {})})
    service = Service(s)

    async def play() -> None:  # live cameras do not end: stopped once both showed the clip
        task = asyncio.create_task(service.run(restart_failed=False))
        while not (len(service.stats) == 2
                   and all(st.last_video_time >= 6.9 for st in service.stats.values())):
            if task.done():
                break
            await asyncio.sleep(0.1)
        service.request_stop()
        await task

    asyncio.run(play())
    return EventStore(s.outputs.store_url).query(limit=1000), s


def site(seeds: int = 10) -> dict[str, dict[str, Any]]:
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fps in (10, 25):
            for error_m in (0.0, 0.3, 0.6):
                events, _ = _two_cameras(Path(tmp), fps, error_m)
                by: dict[str, list[Any]] = {}
                for e in events:
                    by.setdefault(e.incident, []).append(e)
                # Each act as the two cameras saw it: an east event and the west event of the
                # same rule nearest in time.
                east = [e for e in events if e.camera == "east"]
                west = [e for e in events if e.camera == "west"]
                acts = []
                for a in east:
                    same = [b for b in west if b.rule == a.rule]
                    if same:
                        b = min(same, key=lambda b: abs((b.capture_time - a.capture_time)
                                                        .total_seconds()))
                        acts.append((a, b))
                dt = [abs((a.capture_time - b.capture_time).total_seconds()) for a, b in acts]
                dm = [float(np.hypot(a.site[0] - b.site[0], a.site[1] - b.site[1]))
                      for a, b in acts]
                out[f"{fps} fps, calibration off by σ {error_m} m"] = {
                    "events": len(events), "east": len(east), "west": len(west),
                    "acts_seen_by_both": len(acts),
                    "acts_in_one_incident": sum(a.incident == b.incident for a, b in acts),
                    "incidents": len(by),
                    "apart_s_p50_max": [round(float(np.median(dt)), 3), round(max(dt), 3)]
                    if dt else None,
                    "apart_m_p50_max": [round(float(np.median(dm)), 2), round(max(dm), 2)]
                    if dm else None}
    return out


def plot_site(folder: Path) -> Path:
    import tempfile

    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from orchestrator.rules.site import Homography

    with tempfile.TemporaryDirectory() as tmp:
        events, s = _two_cameras(Path(tmp), 25, 0.3)
        frames = {}
        for cam in s.cameras:
            with av.open(cam.source) as c:
                frames[cam.id] = next(c.decode(video=0)).to_ndarray(format="rgb24")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), width_ratios=[1, 1, 0.9])
    colours = {"east": "tab:blue", "west": "tab:orange"}
    for ax, cam in zip(axes[:2], s.cameras, strict=True):
        img = frames[cam.id].copy()
        h = Homography.fit(cam.ground.pairs)
        inv = np.linalg.inv(h.matrix)
        for v in range(0, 13):  # the site plan's metre grid, drawn on the image
            for a, b in (((0, v), (8, v)), ((v * 8 / 12, 0), (v * 8 / 12, 12))):
                p = np.c_[np.array([a, b], float), np.ones(2)] @ inv.T
                p = p[:, :2] / p[:, 2:3]
                cv2.line(img, tuple(int(c) for c in p[0]), tuple(int(c) for c in p[1]),
                         (255, 255, 255), 1, cv2.LINE_AA)
        ax.imshow(img)
        for x, y, _, _ in cam.ground.pairs:
            ax.plot(x, y, "D", color="white", mec="black", ms=7)
        for e in events:
            if e.camera == cam.id:
                ax.plot(*e.point, "o", color=colours[cam.id], ms=8, mec="black")
        ax.set_title(f"camera {cam.id}: the site grid (1 m) and its events", fontsize=9)
        ax.axis("off")
    ax = axes[2]
    by: dict[str, list[Any]] = {}
    for e in events:
        by.setdefault(e.incident, []).append(e)
    for k, evs in enumerate(sorted(by.values(), key=lambda v: v[0].capture_time)):
        xs = [e.site[0] for e in evs]
        ys = [e.site[1] for e in evs]
        for e in evs:
            ax.plot(e.site[0], e.site[1], "o", color=colours[e.camera], ms=8, mec="black")
        r = max(0.5, 0.5 + float(np.hypot(np.ptp(xs), np.ptp(ys))) / 2)
        ax.add_patch(plt.Circle((np.mean(xs), np.mean(ys)), r, fill=False, color="0.3"))
        v0 = min(e.video_time for e in evs)
        ax.text(np.mean(xs) + r + 0.3, np.mean(ys), f"incident {k + 1}: {len(evs)} events "
                f"({', '.join(sorted({e.camera for e in evs}))}), from {v0:.1f} s",
                fontsize=7, va="center")
    for cam, c in colours.items():
        ax.plot([], [], "o", color=c, mec="black", label=f"events of {cam}")
    ax.set_xlim(0, 16)
    ax.set_ylim(0, 14)
    ax.set_aspect("equal")
    ax.set_xlabel("site X (m)")
    ax.set_ylabel("site Y (m)")
    ax.set_title("the site plan: incidents (acts within 2 s and 2 m of one another)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules-site.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


FAR_AT = (200, 40)
FAR_SETS = (("TUD-Stadtmitte", "stadtmitte-gates"), ("TUD-Campus", "campus-gates"))


def _box_recall(found: list[Any], truth: Any, frames: int) -> float:
    hit = total = 0
    for k in range(frames):
        _, gxyxy = truth.frames.get(k + 1, (np.zeros(0), np.zeros((0, 4))))
        total += len(gxyxy)
        det = found[k]
        persons = det.xyxy[det.class_id == 0]
        for g in gxyxy:
            if len(persons):
                lt = np.maximum(persons[:, :2], g[:2])
                rb = np.minimum(persons[:, 2:], g[2:])
                inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
                union = ((persons[:, 2] - persons[:, 0]) * (persons[:, 3] - persons[:, 1])
                         + (g[2] - g[0]) * (g[3] - g[1]) - inter)
                hit += bool(np.max(inter / union) >= 0.5)
    return hit / max(total, 1)


def far(seeds: int = 3) -> dict[str, dict[str, Any]]:
    import statistics
    import sys
    import tempfile
    import time

    import yaml

    from orchestrator.config import DetectorConfig
    from orchestrator.detect import create_detector
    from orchestrator.detect import regions as rg
    from orchestrator.evaluation.far import far_clip, moved_rules
    from orchestrator.evaluation.groundtruth import GroundTruth
    from orchestrator.paths import PROJECT_ROOT, find_data

    out: dict[str, dict[str, Any]] = {}
    detector = create_detector(DetectorConfig(score_threshold=0.3))
    with tempfile.TemporaryDirectory() as tmp:
        for seq, rules in FAR_SETS:
            for factor in (3, 5):
                video, gt, rect = far_clip(find_data(f"{seq}.mp4"), find_data(f"{seq}.gt.txt"),
                                           Path(tmp) / f"{seq}-{factor}.mp4", factor, FAR_AT)
                region = [rect[0] - 8, rect[1] - 8, rect[2] + 8, rect[3] + 8]
                with av.open(str(video)) as c:
                    imgs = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
                truth = GroundTruth.load(gt)
                ms: dict[bool, list[float]] = {False: [], True: []}
                found: dict[bool, list[Any]] = {}
                for _ in range(seeds):  # interleaved rounds, like against like
                    for with_regions in (False, True):
                        got = []
                        t0 = time.process_time()
                        for img in imgs:
                            if not with_regions:
                                got.append(detector.detect([img])[0])
                                continue
                            crops = rg.cut(img, [region])
                            dets = detector.detect([img] + [cr for cr, _ in crops])
                            got.append(rg.merge(dets[0], dets[1:], [
                                (xy, (cr.shape[1], cr.shape[0])) for cr, xy in crops],
                                (img.shape[1], img.shape[0])))
                        ms[with_regions].append(1000 * (time.process_time() - t0) / len(imgs))
                        found[with_regions] = got
                base = yaml.safe_load((PROJECT_ROOT / f"examples/rulesets/{rules}.yaml")
                                      .read_text())
                for with_regions in (False, True):
                    cam = dict(moved_rules(base["cameras"][0], factor, FAR_AT),
                               source=str(video))
                    if with_regions:
                        cam["detect_regions"] = [region]
                    cfg = Path(tmp) / f"{seq}-{factor}-{with_regions}.yaml"
                    cfg.write_text(yaml.safe_dump({**base, "cameras": [cam]}))
                    proc = subprocess.run(
                        [sys.executable, "-m", "orchestrator", "eval", str(video), "--gt",
                         str(gt), "-c", str(cfg), "--json", "--data-dir", str(Path(tmp) / "d")],
                        capture_output=True, text=True, check=True)
                    r = json.loads(proc.stdout)
                    out[f"{seq} shrunk {factor}x, {'with' if with_regions else 'without'} "
                        "regions"] = {
                        "box_recall": round(_box_recall(found[with_regions], truth, len(imgs)),
                                            3),
                        "detector_cpu_ms_per_frame": round(statistics.median(ms[with_regions]),
                                                           1),
                        "events_true": r["true_events"], "tp": r["tp"], "fp": r["fp"],
                        "fn": r["fn"], "mota": r["tracking"]["mota"],
                        "idf1": r["tracking"]["idf1"]}
    detector.close()
    return out


def plot_far(folder: Path) -> Path:
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from orchestrator.config import DetectorConfig
    from orchestrator.detect import create_detector
    from orchestrator.detect import regions as rg
    from orchestrator.evaluation.far import far_clip
    from orchestrator.paths import find_data

    detector = create_detector(DetectorConfig(score_threshold=0.3))
    with tempfile.TemporaryDirectory() as tmp:
        video, _, rect = far_clip(find_data("TUD-Stadtmitte.mp4"),
                                  find_data("TUD-Stadtmitte.gt.txt"), Path(tmp) / "far.mp4", 5,
                                  FAR_AT)
        with av.open(str(video)) as c:
            img = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)][60]
    region = [rect[0] - 8, rect[1] - 8, rect[2] + 8, rect[3] + 8]
    plain = detector.detect([img])[0]
    crops = rg.cut(img, [region])
    dets = detector.detect([img] + [cr for cr, _ in crops])
    merged = rg.merge(dets[0], dets[1:], [(xy, (cr.shape[1], cr.shape[0])) for cr, xy in crops],
                      (img.shape[1], img.shape[0]))
    detector.close()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), width_ratios=[1.1, 1])
    for ax, zoom in zip(axes, (False, True), strict=True):
        ax.imshow(img[:, :, ::-1])
        x0, y0, x1, y1 = region
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="white",
                                   ls="--", lw=1.5, label="detect_regions[0]"))
        for det, colour, label in ((plain, "tab:red", f"the frame alone: {len(plain)} boxes"),
                                   (merged, "tab:green",
                                    f"with the region: {len(merged)} boxes")):
            for k, (a, b, c, d) in enumerate(det.xyxy.tolist()):
                ax.add_patch(plt.Rectangle((a, b), c - a, d - b, fill=False, color=colour,
                                           lw=1.2 if colour == "tab:green" else 2.2,
                                           label=label if k == 0 else None))
        if zoom:
            ax.set_xlim(x0, x1)
            ax.set_ylim(y1, y0)
            ax.set_title("the far scene, enlarged", fontsize=9)
        else:
            ax.set_title("TUD-Stadtmitte shrunk 5x in a 640x480 frame (people 26-46 px)",
                         fontsize=9)
            ax.legend(fontsize=7, loc="lower left")
        ax.axis("off")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules-far.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _night_frames(tmp: Path, flicker: bool) -> list[Any]:
    from orchestrator.paths import find_data

    out = tmp / f"ir-{flicker}.mp4"
    when = "gte(mod(t,12),6)" if flicker else "gte(t,2)"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "8", "-i",
                    str(find_data("TUD-Stadtmitte.mp4")), "-t", "60", "-vf",
                    f"fps=10,hue=s=0:enable='{when}'", "-c:v", "libx264", "-crf", "20",
                    str(out)], check=True)
    with av.open(str(out)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def night(seeds: int = 1) -> dict[str, dict[str, Any]]:
    import tempfile

    from orchestrator.config import NightConfig
    from orchestrator.detect.night import NIGHT, NightSwitch

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for flicker in (False, True):
            imgs = _night_frames(Path(tmp), flicker)
            for hold in (1.0, 5.0, 10.0):
                sw = NightSwitch(NightConfig(hold_s=hold), "UTC")
                modes = [sw.update(k / 10, 0.0, img) for k, img in enumerate(imgs)]
                first = next((k / 10 for k, m in enumerate(modes) if m == NIGHT), None)
                out[f"{'flickering every 6 s' if flicker else 'grey from 2 s'}, hold {hold} s"] \
                    = {"switches": sw.switches, "night_from_s": first,
                       "night_share": round(modes.count(NIGHT) / len(modes), 2)}
    return out


def plot_night(folder: Path) -> Path:
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from orchestrator.config import NightConfig
    from orchestrator.detect.night import NIGHT, NightSwitch

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4), width_ratios=[0.8, 0.8, 1.6])
    with tempfile.TemporaryDirectory() as tmp:
        for flicker, ax in ((False, axes[2]),):
            imgs = _night_frames(Path(tmp), flicker)
            axes[0].imshow(imgs[10][:, :, ::-1])
            axes[1].imshow(imgs[40][:, :, ::-1])
            for hold, style in ((1.0, "-"), (10.0, "--")):
                sw = NightSwitch(NightConfig(hold_s=hold), "UTC")
                ts, grey, sat, mode = [], [], [], []
                for k, img in enumerate(imgs[:300]):
                    m = sw.update(k / 10, 0.0, img)
                    ts.append(k / 10)
                    grey.append(sw.grey)
                    sat.append(sw.saturation)
                    mode.append(1 if m == NIGHT else 0)
                ax.step(ts, np.array(mode) * 40, style, color="tab:purple",
                        label=f"night (hold_s {hold:g})")
            ax.plot(ts, sat, color="tab:orange", label="saturation (0-255)")
            ax.plot(ts, np.array(grey) / 4, color="0.4", label="grey level / 4")
            ax.axhline(6, color="tab:orange", ls=":", label="grey: 6")
            ax.set_xlabel("time (s)")
            ax.legend(fontsize=7, loc="center right")
            ax.set_title("the look, a sample a second, and the mode", fontsize=9)
    axes[0].set_title("1.0 s: colour (day)", fontsize=9)
    axes[1].set_title("4.0 s: colourless, as under IR lamps", fontsize=9)
    for ax in axes[:2]:
        ax.axis("off")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules-night.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def perspective(seeds: int = 1) -> dict[str, dict[str, Any]]:
    import sys
    import tempfile

    import yaml

    from orchestrator.paths import PROJECT_ROOT, find_data

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((PROJECT_ROOT / "examples/rulesets").glob("*.yaml")):
            seq = "TUD-Campus" if path.name.startswith("campus") else "TUD-Stadtmitte"
            got = {}
            for on in (False, True):
                doc = yaml.safe_load(path.read_text())
                doc["cameras"][0].update(source=str(find_data(f"{seq}.mp4")),
                                         perspective={"enabled": on})
                cfg = Path(tmp) / f"{path.stem}-{on}.yaml"
                cfg.write_text(yaml.safe_dump(doc))
                proc = subprocess.run(
                    [sys.executable, "-m", "orchestrator", "eval", str(find_data(f"{seq}.mp4")),
                     "--gt", str(find_data(f"{seq}.gt.txt")), "-c", str(cfg), "--json",
                     "--data-dir", str(Path(tmp) / "d")], capture_output=True, text=True,
                    check=True)
                got[on] = json.loads(proc.stdout)
            off, on_ = got[False], got[True]
            out[path.stem] = {
                **on_["perspective"],
                "events_tp_fp_fn_off_on": [[off["tp"], off["fp"], off["fn"]],
                                           [on_["tp"], on_["fp"], on_["fn"]]],
                "mota_off_on": [off["tracking"]["mota"], on_["tracking"]["mota"]]}
    return out


def plot_perspective(folder: Path) -> Path:
    import asyncio
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from orchestrator.config import Settings
    from orchestrator.paths import find_data
    from orchestrator.service import Service

    boxes: list[tuple[float, float, bool]] = []  # foot y, height, screened
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings.model_validate({"cameras": [{
            "id": "street", "source": str(find_data("TUD-Stadtmitte.mp4")), "analysis_fps": 25,
            "perspective": {"enabled": True}}], "outputs": {"data_dir": tmp}})
        service = Service(s)

        def on_frame(cam: str, frame: Any, det: Any) -> None:
            persp = service.pipelines[cam].state.perspective
            odd = set(persp.last.tolist()) if persp is not None else set()
            for k, (_, y1, _, y2) in enumerate(det.xyxy.tolist()):
                boxes.append((y2, y2 - y1, k in odd))

        service.on_frame = on_frame
        asyncio.run(service.run(restart_failed=False))
        model = service.pipelines["street"].state.perspective.models[0]  # type: ignore[union-attr]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    arr = np.array(boxes)
    ok, odd = arr[arr[:, 2] == 0], arr[arr[:, 2] == 1]
    ax.plot(ok[:, 0], ok[:, 1], ".", color="tab:blue", ms=3, label="boxes kept")
    ax.plot(odd[:, 0], odd[:, 1], "x", color="tab:red", ms=5,
            label=f"boxes screened ({len(odd)}, none a labelled person)")
    ys = np.linspace(arr[:, 0].min(), arr[:, 0].max(), 50)
    a, b, c = model.coef  # type: ignore[misc]
    exp = a + b * ys + c * 320
    ax.plot(ys, exp, color="0.2", label="expected height (x = 320)")
    ax.fill_between(ys, exp / 2, exp * 2, color="0.85", label="plausible (tolerance 2)")
    ax.set_xlabel("foot row y (px)")
    ax.set_ylabel("box height (px)")
    lo, hi = model.rows
    ax.axvspan(lo, hi, color="tab:green", alpha=0.06, label="rows judged (learned)")
    ax.set_title("TUD-Stadtmitte: heights learned from its confirmed tracks", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules-perspective.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


FEATURES = {"routes": (routes, plot_routes), "climb": (climb, plot_climb),
            "site": (site, plot_site), "far": (far, plot_far), "night": (night, plot_night),
            "perspective": (perspective, plot_perspective)}


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
