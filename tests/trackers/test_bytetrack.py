from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import load_settings
from orchestrator.evaluation.harness import evaluate
from trackers import ByteTrack, ByteTrackConfig, kalman


def step(bt: ByteTrack, boxes: list[list[float]], t: float, scores: list[float] | None = None,
         classes: list[int] | None = None) -> list[int]:
    n = len(boxes)
    return bt.update(np.array(boxes, np.float32).reshape(-1, 4),
                     np.array(scores or [0.9] * n, np.float32),
                     np.array(classes or [0] * n, np.int64), t).tolist()


def test_two_walkers_crossing_keep_their_ids() -> None:
    bt = ByteTrack()
    ids = []
    for i in range(30):
        a = [10 + 8 * i, 100, 50 + 8 * i, 200]
        b = [250 - 8 * i, 105, 290 - 8 * i, 205]
        ids.append(step(bt, [a, b], i / 10))
    assert ids[0] == [-1, -1]  # tentative until min_hits
    assert all(r == [1, 2] for r in ids[1:])


def test_lost_track_is_regained_with_its_id_within_lost_s() -> None:
    bt = ByteTrack(ByteTrackConfig(lost_s=1.0))
    for i in range(5):
        ids = step(bt, [[10 + 5 * i, 10, 50 + 5 * i, 100]], i / 10)
    assert ids == [1]
    for i in range(5, 10):  # occluded for 0.5 s
        step(bt, [], i / 10)
    assert step(bt, [[10 + 5 * 10, 10, 50 + 5 * 10, 100]], 1.0) == [1]
    for i in range(11, 40):  # gone for 2.9 s: forgotten
        step(bt, [], i / 10)
    step(bt, [[60, 10, 100, 100]], 4.0)
    assert step(bt, [[60, 10, 100, 100]], 4.1) == [2]


def test_low_score_boxes_extend_tracks_but_never_start_them() -> None:
    bt = ByteTrack()
    for i in range(3):
        step(bt, [[10, 10, 50, 100]], i / 10)
    assert step(bt, [[11, 10, 51, 100]], 0.3, scores=[0.2]) == [1]
    bt2 = ByteTrack()
    assert [step(bt2, [[10, 10, 50, 100]], i / 10, scores=[0.2]) for i in range(3)] == [[-1]] * 3


def test_class_change_is_not_matched() -> None:
    bt = ByteTrack()
    for i in range(3):
        step(bt, [[10, 10, 50, 100]], i / 10, classes=[0])
    ids = [step(bt, [[10, 10, 50, 100]], 0.3 + i / 10, classes=[2]) for i in range(2)]
    assert ids[-1] == [2]


def test_ids_are_per_instance() -> None:
    a, b = ByteTrack(), ByteTrack()
    for i in range(3):
        ra = step(a, [[10, 10, 50, 100]], i / 10)
        rb = step(b, [[200, 10, 250, 100]], i / 10)
    assert ra == rb == [1]


def test_kalman_blocks_equal_the_full_filter() -> None:
    """The 2x2-block filter gives the same states as ByteTrack's full 8x8 formulation."""
    rng = np.random.default_rng(0)
    z = np.abs(rng.normal([100, 200, 0.4, 120], [30, 30, 0.05, 20], size=(3, 4)))
    kf = kalman.KalmanState.initiate(z)
    f, h = np.eye(8), np.eye(4, 8)
    f[:4, 4:] = np.eye(4)
    mean = np.concatenate([z, np.zeros_like(z)], 1)
    cov = np.stack([np.diag(np.concatenate([kf.pp[i], kf.vv[i]])) for i in range(3)])
    for step in range(6):
        hh = mean[:, 3]
        q = np.stack([np.diag(np.concatenate([
            (np.array([hh[i] / 20, hh[i] / 20, 1e-2, hh[i] / 20])) ** 2,
            (np.array([hh[i] / 160, hh[i] / 160, 1e-5, hh[i] / 160])) ** 2])) for i in range(3)])
        mean, cov = mean @ f.T, f @ cov @ f.T + q
        kf.predict()
        meas = z + step * np.array([3.0, -1.0, 0.0, 0.5]) + rng.normal(0, 1, (3, 4))
        hh = mean[:, 3]
        r = np.stack([np.diag(np.array([hh[i] / 20, hh[i] / 20, 1e-1, hh[i] / 20]) ** 2)
                      for i in range(3)])
        s = h @ cov @ h.T + r
        k = cov @ h.T @ np.linalg.inv(s)
        mean = mean + np.einsum("nij,nj->ni", k, meas - mean[:, :4])
        cov = cov - k @ s @ k.transpose(0, 2, 1)
        kf.update(np.arange(3), meas)
        np.testing.assert_allclose(kf.pos, mean[:, :4], rtol=1e-9)
        np.testing.assert_allclose(kf.vel, mean[:, 4:], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(kf.pp, cov[:, range(4), range(4)], rtol=1e-9)
        np.testing.assert_allclose(kf.pv, cov[:, range(4), range(4, 8)], rtol=1e-9, atol=1e-12)


# Stated accuracy on TUD-Stadtmitte with the real YOLOX-Nano detector at 25 fps (every frame):
MIN_MOTA, MIN_IDF1 = 0.75, 0.75  # measured 0.789, 0.782 (IDF1 0.732 before 4bd4d2e)


def test_tracker_accuracy_on_labelled_sequence(tmp_path: Path, stadtmitte: Path,
                                               stadtmitte_gt: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cameras:\n  - id: s\n    source: x\n    analysis_fps: 25\n"
                   f"outputs:\n  data_dir: {tmp_path}\n")
    report = evaluate(load_settings(cfg), str(stadtmitte), str(stadtmitte_gt))
    t = report["tracking"]
    print("MOTA", t["mota"], "IDF1", t["idf1"], "switches", t["num_switches"])
    assert t["mota"] >= MIN_MOTA
    assert t["idf1"] >= MIN_IDF1


@pytest.mark.parametrize("hidden_s", [1.0, 2.0, 2.5])
def test_lost_track_found_again_after_an_occlusion(hidden_s: float) -> None:
    # A person walks behind a post and slows down there: the prediction (constant velocity)
    # runs off the real box, so IoU alone starts a new track; the reach stage finds the lost
    # one again.
    rng = np.random.default_rng(0)
    bt = ByteTrack()
    seen: set[int] = set()
    for k in range(80):
        t = k / 10
        if 2.0 <= t < 2.0 + hidden_s:
            continue
        x = 100 + 60 * t if t < 2 else 220 + 30 * (t - 2)
        box = np.array([[x - 24, 280, x + 24, 400]], np.float32) + rng.normal(0, 2, 4)
        ids = bt.update(box.astype(np.float32), np.array([0.9], np.float32), np.array([0]), t)
        seen |= {int(i) for i in ids if i >= 0}
    assert seen == {1}


def test_a_lost_track_does_not_take_the_box_of_a_track_seen_last_frame() -> None:
    # B stands still, then is hidden for 1 s behind A, who walks past with a wide box (a
    # person with a pushchair). When B is seen again, a step left of where it stood, A's box
    # is where B was predicted, and A's own box still overlaps B's new one enough to match
    # while B's prediction does not. Matched all at once (as many pairs as possible), A would
    # take B's box and B A's: an id swap. Tracks seen last frame are matched first; B is then
    # found again by reach.
    def box(x: float, bottom: float, w: float, h: float) -> list[float]:
        return [x - w / 2, bottom - h, x + w / 2, bottom]

    bt = ByteTrack()
    rows = []
    for k in range(30):
        boxes = [box(380 + 6 * k, 320, 100, 230)]
        if k < 10:
            boxes.append(box(500, 300, 60, 190))
        elif k >= 20:
            boxes.append(box(455 - (k - 20), 300, 60, 190))
        rows.append(step(bt, boxes, k / 10))
    assert rows[9] == [1, 2]
    assert rows[19] == [1]
    assert all(r == [1, 2] for r in rows[20:])


def test_walkers_keep_their_ids_at_five_frames_a_second() -> None:
    # 100 scenes of five people walking at up to 110 px/s, analysed at 5 fps (the default
    # rate): 22 px a frame, half a box width. A track that started at rest lagged its walker
    # for frames after it was confirmed (4 px a frame of velocity after its second box), and
    # the boxes it lagged onto were others': 16 id changes. Its second box's move from the
    # first is its velocity now: 4.
    changes = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        start = rng.uniform([50, 250], [590, 400], (5, 2))
        velocity = rng.uniform(-1, 1, (5, 2)) * [110, 25]
        h = rng.uniform(100, 160, 5)
        bt, walker_id = ByteTrack(), {}
        for k in range(25):
            p = start + velocity * k / 5
            boxes = np.stack([p[:, 0] - 0.2 * h, p[:, 1] - h, p[:, 0] + 0.2 * h, p[:, 1]], 1)
            ids = step(bt, (boxes + rng.normal(0, 2, (5, 4))).tolist(), k / 5)
            for walker, tid in enumerate(ids):
                if tid >= 0:
                    changes += walker_id.setdefault(walker, tid) != tid
                    walker_id[walker] = tid
    assert changes <= 6


def test_a_runner_at_five_frames_a_second_is_tracked() -> None:
    # 200 px/s, 120 px tall, analysed at 5 fps: 40 px a frame, nearly a box width. Its second
    # box barely overlaps its first, so a new track (whose one box says nothing of its
    # velocity) never matched by IoU and was born again on every frame; it is found by
    # reach, as a lost track is.
    bt = ByteTrack()
    ids = [step(bt, [[100 + 40 * k - 24, 200, 100 + 40 * k + 24, 320]], k / 5)
           for k in range(10)]
    assert ids[0] == [-1]
    assert all(i == [1] for i in ids[1:])
