"""Synthetic cases of bench/accuracy.py, run against whichever `orchestrator` is importable
(this checkout or an older commit's), and their plots."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.config import CameraConfig
from orchestrator.detections import Detections, box_anchors
from orchestrator.rules import RuleEngine
from trackers import ByteTrack


def _this_checkouts_synthetic() -> Any:
    """This checkout's synthetic trajectories, whichever ``orchestrator`` (this checkout's or
    an older commit's) judges them: the same cases for every version."""
    path = Path(__file__).resolve().parents[1] / "orchestrator" / "evaluation" / "synthetic.py"
    spec = importlib.util.spec_from_file_location("perishield_synthetic_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_syn = _this_checkouts_synthetic()
Camera, Walker, frames = _syn.Camera, _syn.Walker, _syn.frames

LINE = {"name": "wall", "points": [[0, 500], [1900, 500]], "direction": "any"}
ZONE = {"name": "yard", "points": [[400, 300], [1400, 300], [1400, 900], [400, 900]]}


def _engine(lines: list | None = None, zones: list | None = None, **rules: Any) -> RuleEngine:
    return RuleEngine(CameraConfig.model_validate(
        {"id": "c", "source": "x.mp4", "lines": lines or [], "zones": zones or [],
         "rules": rules}))


def _update(eng: RuleEngine, det: Detections, t: float, births: Any = None) -> list[Any]:
    try:
        return eng.update(det, t, size=(1920, 1080), births=births)
    except TypeError:  # an older engine: update(det, t, wall)
        return eng.update(det, t)


def _judge(eng: RuleEngine, seq: list[tuple[float, Detections]], tracker: ByteTrack | None = None
           ) -> dict[str, Any]:
    events, track = [], []
    for t, det in seq:
        if tracker is not None:
            det.tracker_id = tracker.update(det.xyxy, det.confidence, det.class_id, t)
        anchors = box_anchors(det.xyxy, "bottom_center") if len(det) else np.zeros((0, 2))
        track += [[t, float(x), float(y)] for x, y in anchors]
        for h in _update(eng, det, t, getattr(tracker, "births", None)):
            point = getattr(h, "point", None) or tuple(anchors[h.index].tolist())
            events.append([h.timestamp, point[0], point[1], h.direction,
                           getattr(h, "detected", h.timestamp)])
    return {"fired": len(events), "events": events, "track": track}


def _crossing(angle: float, at: float = 3.0, speed: float = 100.0) -> Walker:
    a = math.radians(angle)
    v = (speed * math.cos(a), speed * math.sin(a))
    return Walker((300 - v[0] * at, 500 - v[1] * at), v, 0.0, at + 4.0, 120)


def _back_and_forth() -> list[tuple[float, Detections]]:
    out = []
    for k in range(70):
        t = k / 10
        y = 700 - 100 * t if t < 3.5 else 350 + 100 * (t - 3.5)
        box = np.array([[276, y - 120, 324, y]], np.float32)
        out.append((t, Detections(box, np.array([0.9], np.float32), np.array([0]),
                                  np.array([1]))))
    return out


def _appearing() -> list[tuple[float, Detections]]:
    out = []
    for k in range(12):
        y = 510 - 40 * k
        box = np.array([[276, y - 120, 324, y]], np.float32)
        out.append((k / 10, Detections(box, np.array([0.9], np.float32), np.array([0]))))
    return out


def run_cases() -> dict[str, dict[str, Any]]:
    """Each case: events fired, their (t, x, y, direction, detected), the anchors seen."""
    walker = Walker((200, 600), (100, 0), 0, 10, 120)
    occluded = Camera(fps=10, jitter=2, occluded=((0, 3.0, 5.0),), switch_at=((0, 3.0),))
    along = Walker((100, 501), (120, 0), 0, 12)
    cases = {
        "act: 45° crossing at t = 3 s": (
            _judge(_engine([LINE], cooldown_s=0),
                   frames([_crossing(45)], Camera(fps=10, jitter=3, seed=1), 8)), 1),
        "cooldown: crosses, comes back": (
            _judge(_engine([LINE]), _back_and_forth()), 2),
        "id switch behind a post in a zone": (
            _judge(_engine(zones=[ZONE]), frames([walker], occluded, 10)), 1),
        "shallow: 10° crossing, jitter 4 px": (
            _judge(_engine([LINE], cooldown_s=0),
                   frames([_crossing(10)], Camera(fps=10, jitter=4, seed=3), 8)), 1),
        "walks along the line, jitter 4 px": (
            _judge(_engine([LINE], cooldown_s=0),
                   frames([along], Camera(fps=10, jitter=4, seed=3), 12)), 0),
        "crosses as the tracker confirms it": (
            _judge(_engine([LINE], cooldown_s=0, confirm_frames=2), _appearing(), ByteTrack()),
            1),
        "stands on the line, steps off it": (
            _judge(_engine([LINE], cooldown_s=0), _syn.standing_on_line(500, seed=0)), 0),
        "two people swapped by the tracker": (
            _judge(_engine([LINE], cooldown_s=0), _syn.swapped_pair(500, fps=10)), 0),
        "one odd box, hidden, then crosses": (
            _judge(_engine([LINE], cooldown_s=0), _syn.odd_box_then_hidden(500)), 1),
        "swapped by the tracker as one crosses": (
            _judge(_engine([LINE], cooldown_s=0), _syn.swapped_while_crossing(500, fps=10)), 1),
        "an id left in a zone, found again": (
            _judge(_engine(zones=[ZONE], cooldown_s=0), _syn.left_and_found(300, 900)), 1),
        "stands on a zone's edge, walks in at 4 s": (
            _judge(_engine(zones=[ZONE], cooldown_s=0),
                   frames([_syn.PathWalker(((0.0, 800, 250), (1.0, 800, 304),
                                            (4.0, 800, 304), (6.0, 800, 424)))],
                          Camera(fps=10, jitter=2, seed=0), 6)), 1),
    }
    return {name: {**r, "expected": n} for name, (r, n) in cases.items()}


def plot(cases: dict[str, dict[str, dict[str, Any]]], folder: Path) -> None:
    """One PNG per case: the anchors, the line or zone, and each version's events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    colours = {"before": "tab:red", "now": "tab:green"}
    for k, name in enumerate(cases["now"]):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        track = np.array(cases["now"][name]["track"])
        ax.plot(track[:, 1], track[:, 2], ".", color="0.6", ms=3, label="anchor per frame")
        if "zone" in name:
            z = np.array(ZONE["points"] + ZONE["points"][:1])
            ax.plot(z[:, 0], z[:, 1], "-", color="tab:blue", label="zone")
        else:
            ax.axhline(500, color="tab:blue", label="line")
        for version, by_case in cases.items():
            for i, (t, x, y, d, det) in enumerate(by_case[name]["events"]):
                ax.plot(x, y, "o", color=colours[version], ms=9, mfc="none", mew=2,
                        label=f"{version}: {d} at {t:.2f} s (fired {det:.2f} s)"
                        if i < 3 else None)
        ax.invert_yaxis()
        ax.set_title(f"{name}: expected {cases['now'][name]['expected']}", fontsize=9)
        ax.legend(fontsize=7, loc="best")
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
        fig.tight_layout()
        fig.savefig(folder / f"accuracy-case-{k + 1}.png", dpi=90)
        plt.close(fig)


def stress(seeds: int = 20) -> dict[str, dict[str, float]]:
    """Per fps and jitter: false crossings while walking along a line (12 s, 0–6 px from it)
    and missed crossings at 10°, 20°, 45° and 90°, over ``seeds`` walkers each; the act time
    error and the act → detection delay of the crossings found."""
    line_rules = {"cooldown_s": 0}
    out = {}
    for fps in (5, 10, 25):
        for sigma in (2, 4, 8):
            fp = miss = 0
            errors, delays = [], []
            for seed in range(seeds):
                cam = Camera(fps=fps, jitter=sigma, seed=seed)
                offset = float(np.random.default_rng(seed).normal(0, 3))
                along = Walker((100, 500 + offset), (120, 0), 0, 12, 120)
                fp += _judge(_engine([LINE], **line_rules), frames([along], cam, 12))["fired"]
                for angle in (10, 20, 45, 90):
                    got = _judge(_engine([LINE], **line_rules),
                                 frames([_crossing(angle)], cam, 8))["events"]
                    if len(got) != 1:
                        miss += 1
                        fp += max(0, len(got) - 1)
                        continue
                    errors.append(abs(got[0][0] - 3.0))
                    delays.append(got[0][4] - 3.0)
            out[f"{fps} fps, σ {sigma} px"] = {
                "walk_along_false": fp, "crossings_missed": miss,
                "act_error_p50_s": round(float(np.median(errors)), 3),
                "act_error_max_s": round(float(np.max(errors)), 3),
                "delay_p50_s": round(float(np.median(delays)), 2),
                "delay_p95_s": round(float(np.percentile(delays, 95)), 2)}
    return out
