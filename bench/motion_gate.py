"""What the motion gate saves, and that it loses no event.

    .venv/bin/python bench/motion_gate.py            # quiet stretch + every rule set, 4 ways
    .venv/bin/python bench/motion_gate.py --quick    # quiet stretch + the rule sets at own rate

1. A quiet stretch (orchestrator/evaluation/quiet.py): TUD-Stadtmitte's empty street for
   ``--quiet`` seconds (with the man who stands there all along, as a parked car would), one
   labelled walker (its track 2, 4.8 s), the empty street again; sensor noise, H.264. Rules:
   a tripwire and a zone the walker passes, and a zone around the man standing still. Each
   gate analyses it at 5 fps: analysed frames, detector calls saved, CPU seconds of the whole
   process (decode, gate, detector, tracking, rules, store), and the events, which must be
   the same.
2. Every rule set of the accuracy suite (bench/accuracy.py) at its own rate and, without
   ``--quick``, at 10 and 7 fps and at half size: TP / FP / FN with the gate and without,
   and the frames the gate kept from the detector. The shared clips are crowded from their
   first frame to their last: the gate should save little there and change nothing.

Leaves out: a scene with trees, rain or headlights (none is to hand), and the saving's effect
on a GPU server (bench/capacity.py models it).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import ROOT, VARIANTS, own_jobs, variant_jobs

from orchestrator.config import load_settings
from orchestrator.evaluation.harness import evaluate
from orchestrator.evaluation.quiet import quiet_clip

DATA = ROOT.parent / "shared" / "data"
GATES = ("always", "motion")


def quiet_rules(video: Path, gate: str) -> dict:
    return {"cameras": [{
        "id": "quiet", "source": str(video), "analysis_fps": 5, "detector": {"gate": gate},
        "lines": [{"name": "gate", "points": [[420, 200], [420, 470]]}],
        "zones": [{"name": "yard", "points": [[470, 240], [639, 240], [639, 479], [470, 479]]},
                  {"name": "doorway", "points": [[150, 220], [260, 220], [260, 300],
                                                 [150, 300]]}]}]}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def quiet_stretch(tmp: Path, seconds: float) -> None:
    video, gt = quiet_clip(DATA / "TUD-Stadtmitte.mp4", DATA / "TUD-Stadtmitte.gt.txt",
                           tmp / "quiet.mp4", walker=2, before_s=seconds / 2,
                           after_s=seconds / 2)
    print(f"quiet stretch: {seconds:g} s empty + 4.8 s walker, analysed at 5 fps")
    print("| gate | analysed | detector calls saved | CPU s | true | TP | FP | FN | events |")
    print("|---|---|---|---|---|---|---|---|---|")
    seen = {}
    for gate in GATES:
        cfg = tmp / f"quiet-{gate}.yaml"
        cfg.write_text(yaml.safe_dump(quiet_rules(video, gate)))
        t0 = cpu_s()
        r = evaluate(load_settings(cfg), str(video), str(gt))
        used = cpu_s() - t0
        seen[gate] = [(p["rule"], p["direction"], p["time"]) for p in r["predicted"]]
        n, g = r["analysed_frames"], r["frames_gated"]
        print(f"| {gate} | {n} | {g} ({g / n:.0%}) | {used:.1f} | {r['true_events']} | "
              f"{r['tp']} | {r['fp']} | {r['fn']} | {len(r['predicted'])} |", flush=True)
    print("same events with and without the gate:", seen["always"] == seen["motion"])


def with_gate(jobs: list[tuple[str, str, str]], gate: str, into: Path
              ) -> list[tuple[str, str, str]]:
    out = []
    for path, video, gt in jobs:
        doc = yaml.safe_load(Path(path).read_text())
        for cam in doc["cameras"]:
            cam["detector"] = {"gate": gate}
            src = Path(cam["source"])
            cam["source"] = str(src if src.is_absolute() else (Path(path).parent / src))
        doc.get("outputs", {}).pop("data_dir", None)
        p = into / f"{Path(path).stem}-{gate}.yaml"
        p.write_text(yaml.safe_dump(doc))
        out.append((str(p), video, gt))
    return out


def rule_sets(tmp: Path, quick: bool) -> None:
    conditions = [("own rate", own_jobs())]
    if not quick:
        for label, fps, scale in VARIANTS:
            sub = tmp / label.replace(" ", "-").replace(",", "")
            sub.mkdir()
            conditions.append((label, variant_jobs(fps, scale, sub)))
    print("\nthe accuracy suite's rule sets: totals over the 7 sets")
    print("| condition | gate | TP | FP | FN | frames gated | sets with other events |")
    print("|---|---|---|---|---|---|---|")
    for label, jobs in conditions:
        rows: dict[str, list[dict]] = {}
        for gate in GATES:
            sub = tmp / f"{label.replace(' ', '-').replace(',', '')}-{gate}"
            sub.mkdir()
            rows[gate] = []
            for cfg, video, gt in with_gate(jobs, gate, sub):
                r = evaluate(load_settings(cfg), video, gt)
                rows[gate].append(r)
        differ = sum(a["predicted"] != b["predicted"]
                     for a, b in zip(rows["always"], rows["motion"], strict=True))
        for gate in GATES:
            rs = rows[gate]
            tp, fp, fn = (sum(r[k] for r in rs) for k in ("tp", "fp", "fn"))
            gated = sum(r["frames_gated"] for r in rs)
            frames = sum(r["analysed_frames"] for r in rs)
            print(f"| {label} | {gate} | {tp} | {fp} | {fn} | {gated} of {frames} | "
                  f"{differ if gate == 'motion' else '-'} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the rule sets at their own rate only")
    ap.add_argument("--quiet", type=float, default=120.0,
                    help="seconds of empty street around the walker (default 120)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="perishield-gate-") as tmp:
        quiet_stretch(Path(tmp), args.quiet)
        rule_sets(Path(tmp), args.quick)


if __name__ == "__main__":
    main()
