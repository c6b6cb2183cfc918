"""The motion gate: what it calls motion, what it ignores, and what it saves on real video
without losing an event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import yaml

from orchestrator.config import CameraConfig, MotionConfig, load_settings
from orchestrator.detect.motion import DETECT, HOLD, SKIP, Gate, MotionGate
from orchestrator.evaluation.harness import evaluate
from orchestrator.evaluation.quiet import quiet_clip

SIZE = (640, 480)  # the gate's picture of it is 160x120


def scene(seed: int = 0) -> np.ndarray:
    """A textured still at the gate's size (a wall, a pavement)."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 220, (120, 160)).astype(np.float32)


def shot(base: np.ndarray, rng: np.random.Generator, sigma: float = 2.0) -> np.ndarray:
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


def test_sensor_noise_is_not_motion() -> None:
    gate, base, rng = MotionGate(MotionConfig(), SIZE), scene(), np.random.default_rng(1)
    moved = [gate.moved(shot(base, rng), i / 5) for i in range(100)]
    assert moved[0] and not any(moved[1:])  # the first frame has no background to compare


def test_a_far_person_walking_is_motion() -> None:
    """20 px tall at 480 rows: 5 x 2 pixels of the gate's picture, walking 1 px a frame."""
    gate, base, rng = MotionGate(MotionConfig(), SIZE), scene(), np.random.default_rng(2)
    for i in range(20):
        gate.moved(shot(base, rng), i / 5)
    moved = []
    for k in range(30):
        img = base.copy()
        img[60:65, 20 + k:22 + k] = 25  # dark clothes
        moved.append(gate.moved(shot(img, rng), (20 + k) / 5))
    assert all(moved)


def test_a_change_of_light_is_detected_once_and_learned() -> None:
    gate, base, rng = MotionGate(MotionConfig(), SIZE), scene(), np.random.default_rng(3)
    for i in range(10):
        gate.moved(shot(base, rng), i / 5)
    brighter = np.clip(base + 40, 0, 255)
    assert gate.moved(shot(brighter, rng), 2.0) and gate.lighting_changes == 1
    assert not any(gate.moved(shot(brighter, rng), 2.0 + i / 5) for i in range(1, 20))


def test_masked_motion_is_ignored_and_motion_elsewhere_is_not() -> None:
    mask = [[0, 0], [320, 0], [320, 240], [0, 240]]  # the top-left quarter of 640x480
    gate = MotionGate(MotionConfig(masks=[mask]), SIZE)
    base, rng = scene(), np.random.default_rng(4)
    for i in range(10):
        gate.moved(shot(base, rng), i / 5)
    inside = base.copy()
    inside[10:40, 10:30] = 0  # a flag waving in the masked corner
    assert not gate.moved(shot(inside, rng), 2.0)
    outside = base.copy()
    outside[80:100, 100:110] = 0
    assert gate.moved(shot(outside, rng), 2.2)


def test_a_restless_tree_learns_its_noise_and_a_walker_still_moves() -> None:
    gate, base, rng = MotionGate(MotionConfig(), SIZE), scene(), np.random.default_rng(5)
    tree = np.zeros(base.shape, bool)
    tree[0:50, 100:160] = True

    def frame(walker_at: int | None = None) -> np.ndarray:
        img = base + rng.normal(0, 2, base.shape)
        img[tree] += rng.normal(0, 10, int(tree.sum()))  # leaves in the wind
        if walker_at is not None:
            img[70:90, walker_at:walker_at + 6] = 20
        return np.clip(img, 0, 255).astype(np.uint8)

    learned = [gate.moved(frame(), i / 5) for i in range(150)]  # 30 s of wind
    assert not any(learned[-50:])  # the tree alone no longer opens the gate
    assert all(gate.moved(frame(10 + 2 * k), 30 + k / 5) for k in range(20))


def test_the_gate_detects_holds_or_skips() -> None:
    class Still:
        size = SIZE

        def __init__(self) -> None:
            self.img = np.full((120, 160), 120, np.uint8)
            self.timestamp = 0.0

        def grey(self, size: tuple[int, int]) -> np.ndarray:
            assert size == (160, 120)
            return self.img

    gate, f = Gate(MotionConfig(refresh_s=5)), Still()

    def decide(t: float, alive: bool) -> str:
        f.timestamp = t
        return gate.decide(f, t, alive)

    assert decide(0.0, alive=False) == DETECT  # first frame
    assert decide(0.2, alive=False) == SKIP
    assert decide(0.4, alive=True) == HOLD  # a track stands still: held
    assert decide(5.0, alive=False) == DETECT  # refresh
    f.img = f.img.copy()
    f.img[50:60, 50:54] = 0
    assert decide(5.2, alive=True) == DETECT  # it moved


def test_a_mask_needs_three_points() -> None:
    with pytest.raises(ValueError, match="mask 0 needs >=3 points"):
        CameraConfig(id="c", source="x.mp4",
                     detector={"motion": {"masks": [[[0, 0], [10, 10]]]}})


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory, stadtmitte: Path,
          stadtmitte_gt: Path) -> tuple[Path, Path]:
    """6 s of TUD-Stadtmitte's empty street (and the man who stands there all along), a
    walker crossing it (track 2, 4.8 s), 6 s empty again."""
    out = tmp_path_factory.mktemp("quiet") / "quiet.mp4"
    return quiet_clip(stadtmitte, stadtmitte_gt, out, walker=2, before_s=6, after_s=6)


def test_a_quiet_stretch_skips_the_detector_and_keeps_every_event(
        quiet: tuple[Path, Path], tmp_path: Path) -> None:
    video, gt = quiet
    results = {}
    for gate in ("always", "motion"):
        cfg = tmp_path / f"{gate}.yaml"
        cfg.write_text(yaml.safe_dump({"cameras": [{
            "id": "quiet", "source": str(video), "analysis_fps": 5, "detector": {"gate": gate},
            "lines": [{"name": "gate", "points": [[420, 200], [420, 470]]}],
            "zones": [{"name": "yard", "points": [[470, 240], [639, 240], [639, 479],
                                                  [470, 479]]},
                      # around the man standing still: he never enters it
                      {"name": "doorway", "points": [[150, 220], [260, 220], [260, 300],
                                                     [150, 300]]}]}]}))
        results[gate] = evaluate(load_settings(cfg), str(video), str(gt))
    always, motion = results["always"], results["motion"]
    assert always["frames_gated"] == 0 and always["tp"] == always["true_events"] == 2
    # Most of the quiet frames skip the detector; the standing man's track is held, not
    # detected afresh (a new track in the doorway would be an entry)
    assert motion["frames_gated"] > 0.5 * motion["analysed_frames"]
    key = [(p["rule"], p["direction"], p["time"]) for p in always["predicted"]]
    assert [(p["rule"], p["direction"], p["time"]) for p in motion["predicted"]] == key


def test_a_decoded_source_looks_on_its_own_thread(quiet: tuple[Path, Path]) -> None:
    """The gate's look runs on the decode thread, not on the event loop, and every analysed
    frame comes with its verdict."""
    import threading

    from orchestrator.ingest import VideoSource

    gate, threads = Gate(MotionConfig()), set()

    def look(frame: object) -> bool:
        threads.add(threading.current_thread().name)
        return gate.look(frame)

    async def frames() -> list[bool | None]:
        src = VideoSource(str(quiet[0]), 5.0, look=look)
        return [f.moved async for f in src]

    verdicts = asyncio.run(frames())
    assert len(verdicts) == 84 and None not in verdicts
    assert 0 < sum(verdicts) < 84 / 2  # the walker moves, the empty street does not
    assert threads and all(t.startswith("decode:") for t in threads)
