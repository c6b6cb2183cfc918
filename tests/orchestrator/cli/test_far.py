"""Far targets on real video: TUD-Stadtmitte shrunk 5x inside a frame of its size (people
26-46 px tall), its gates moved along; detected with and without a region on the far scene."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from orchestrator.evaluation.far import far_clip, moved_rules
from orchestrator.paths import PROJECT_ROOT, find_data
from tests.orchestrator.cli.test_cli import perishield

AT = (200, 40)


def test_a_region_on_the_far_scene_finds_the_crossings_the_frame_misses(tmp_path: Path) -> None:
    video, gt, rect = far_clip(find_data("TUD-Stadtmitte.mp4"),
                               find_data("TUD-Stadtmitte.gt.txt"), tmp_path / "far.mp4", 5, AT)
    base = yaml.safe_load((PROJECT_ROOT / "examples/rulesets/stadtmitte-gates.yaml").read_text())
    cam = dict(moved_rules(base["cameras"][0], 5, AT), source=str(video))
    got = {}
    for name, extra in (("frame", {}),
                        ("regions", {"detect_regions": [[rect[0] - 8, rect[1] - 8,
                                                         rect[2] + 8, rect[3] + 8]]})):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump({**base, "cameras": [{**cam, **extra}]}))
        out = perishield("eval", video, "--gt", gt, "-c", cfg, "--json", "--data-dir", tmp_path)
        got[name] = json.loads(out.stdout)
    assert got["regions"]["true_events"] == 5
    # One false crossing since the tracker's cascade (4bd4d2e): a person unseen for 3.2 s in
    # the far crowd comes back under a new id that takes up another person's lost track, and
    # its crossing is stamped 1 s late (before, two crossings there matched by luck).
    assert got["regions"]["tp"] >= 4 and got["regions"]["fp"] <= 1
    assert got["regions"]["tp"] > got["frame"]["tp"]  # the frame alone misses some (2 of 5)
    assert got["regions"]["tracking"]["mota"] > got["frame"]["tracking"]["mota"] + 0.3
