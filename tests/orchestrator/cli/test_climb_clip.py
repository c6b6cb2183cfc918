"""The climb rule on real detections: a wall and two climbers composited into TUD-Stadtmitte
(orchestrator/evaluation/climb.py), through the real CLI, detector, tracker and store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from orchestrator.evaluation.climb import ClimbTruth, climb_clip
from orchestrator.paths import find_data
from tests.orchestrator.cli.test_cli import perishield


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ClimbTruth]:
    out = tmp_path_factory.mktemp("climb") / "climb.mp4"
    truth = climb_clip(find_data("TUD-Stadtmitte.mp4"), find_data("TUD-Stadtmitte.gt.txt"),
                       find_data("TUD-Campus.mp4"), find_data("TUD-Campus.gt.txt"), out)
    return out, truth


@pytest.mark.parametrize("fps", [5, 10])
def test_climbs_over_a_wall_fire_once_each_and_their_drops_are_acknowledged(
        clip: tuple[Path, ClimbTruth], tmp_path: Path, fps: int) -> None:
    video, truth = clip
    config = tmp_path / "wall.yaml"
    config.write_text(yaml.safe_dump({
        "cameras": [{"id": "wall", "source": str(video), "analysis_fps": fps,
                     "rules": {"filter": {"classes": ["person"]}},
                     "climbs": [{"name": "wall", "points": truth.edge, "outside": "a"}]}],
        # The platform is told of each alarm and of each verdict (the outbox keeps them here).
        "alarms": {"platform_url": "http://127.0.0.1:9/alarms"}}))
    out = perishield("analyze", video, "-c", config, "--data-dir", tmp_path, "--json")
    events = sorted((json.loads(line) for line in out.stdout.splitlines()),
                    key=lambda e: e["point"][0])
    # The one walking along the wall's foot raises nothing; each climber raises one alarm
    # when their feet go over the edge.
    assert [(e["rule_kind"], e["direction"]) for e in events] == [("climb", "over")] * 2
    over, back = events
    assert abs(over["video_time"] - truth.over_at) <= 0.5
    assert abs(back["video_time"] - truth.back_over_at) <= 0.5
    with sqlite3.connect(tmp_path / "events.db") as db:
        verdicts = dict(db.execute("select event_id, verdict || ' by ' || operator "
                                   "from acknowledgements").fetchall())
        outbox = db.execute("select event_id, kind from outbox order by id").fetchall()
    assert verdicts == {over["id"]: "confirmed by perishield",
                        back["id"]: "false_alarm by perishield"}
    for ev in events:  # the alarm, then the verdict, for the platform
        kinds = [k for e, k in outbox if e == ev["id"]]
        assert kinds[0] == "alarm" and sum(k.startswith("ack:") for k in kinds) == 1
