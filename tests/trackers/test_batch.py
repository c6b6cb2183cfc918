"""Tracking many cameras in one batch gives each camera exactly the tracks it gets alone."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from orchestrator.config import DetectorConfig
from orchestrator.detect import create_detector
from trackers import ByteTrack, ByteTrackBatch, ByteTrackConfig, CameraFrame, bytetrack

Frame = tuple[float, np.ndarray, np.ndarray, np.ndarray]  # t, xyxy, confidence, class_id


@pytest.fixture(scope="module")
def real_detections(stadtmitte: Path, campus: Path) -> dict[str, list[Frame]]:
    """YOLOX-Nano's people and cars on every frame of both shared sequences (25 fps)."""
    det = create_detector(DetectorConfig(classes=["person", "car"]))
    out = {}
    for name, path in (("stadtmitte", stadtmitte), ("campus", campus)):
        with av.open(str(path)) as c:
            images = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        dets = [d for i in range(0, len(images), 8) for d in det.detect(images[i:i + 8])]
        out[name] = [(i / 25, d.xyxy, d.confidence, d.class_id) for i, d in enumerate(dets)]
    return out


def crowd(seed: int, n: int = 120) -> list[Frame]:
    """Walkers crossing each other close together, with misses and a second class: boxes
    wanted by two tracks at once (the assignment's Hungarian path)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        boxes, scores, classes = [], [], []
        for j in range(6):
            x = 200 + (j - 3) * 15 + (4 if j % 2 else -4) * k % 300
            if rng.random() < 0.1:
                continue
            boxes.append([x, 200 + 3 * j, x + 40, 300 + 3 * j] + rng.normal(0, 3, 4))
            scores.append(rng.uniform(0.05, 0.95))
            classes.append(2 if j == 5 else 0)
        frames.append((k / 10, np.array(boxes, np.float32).reshape(-1, 4),
                       np.array(scores, np.float32), np.array(classes, np.int64)))
    return frames


def cameras(real: dict[str, list[Frame]]) -> dict[str, list[Frame]]:
    st, ca = real["stadtmitte"], real["campus"]
    return {
        "stadtmitte": st,
        "campus": ca,
        "stadtmitte-10fps": st[::2] + [],  # a slower camera: every other frame
        "campus-blind": ca[:25] + ca[45:],  # 0.8 s without frames: a reconnect (bridged)
        "stadtmitte-late": [(t + 1000.0, *rest) for t, *rest in st[60:]],  # another clock
        "crowd-a": crowd(1),
        "crowd-b": crowd(2),
        "empty": [(k / 5, np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.int64)) for k in range(40)],
    }


def alone(frames: list[Frame], config: ByteTrackConfig) -> list[tuple[list[int], dict]]:
    bt, out, last = ByteTrack(config), [], None
    for t, xyxy, conf, cls in frames:
        if last is not None and t - last > 0.5:
            bt.bridge(last, t)
        last = t
        ids = bt.update(xyxy, conf, cls, t)
        out.append((ids.tolist(), {k: [(s, b.tolist()) for s, b in v]
                                   for k, v in bt.births.items()}))
    return out


def batched(streams: dict[str, list[Frame]], config: ByteTrackConfig, seed: int
            ) -> dict[str, list[tuple[list[int], dict]]]:
    """All cameras through one ByteTrackBatch, each batch a random subset of the cameras
    (cameras are not in step with each other: some wait a batch or two)."""
    rng = np.random.default_rng(seed)
    bt = ByteTrackBatch(config)
    handle = {name: bt.add_camera() for name in streams}
    pos = dict.fromkeys(streams, 0)
    last: dict[str, float] = {}
    out: dict[str, list[tuple[list[int], dict]]] = {name: [] for name in streams}
    while any(pos[n] < len(f) for n, f in streams.items()):
        names = [n for n, f in streams.items() if pos[n] < len(f) and rng.random() < 0.7]
        batch = []
        for n in names:
            t, xyxy, conf, cls = streams[n][pos[n]]
            if n in last and t - last[n] > 0.5:
                bt.bridge(handle[n], last[n], t)
            last[n] = t
            batch.append(CameraFrame(handle[n], xyxy, conf, cls, t))
        for n, ids in zip(names, bt.update(batch), strict=True):
            births = {k: [(s, b.tolist()) for s, b in v]
                      for k, v in bt.births(handle[n]).items()}
            out[n].append((ids.tolist(), births))
            pos[n] += 1
    return out


@pytest.mark.parametrize("config", [ByteTrackConfig(), ByteTrackConfig(min_hits=1, lost_s=1.0)],
                         ids=["default", "min_hits1"])
def test_batched_tracks_equal_tracking_each_camera_alone(
        real_detections: dict[str, list[Frame]], config: ByteTrackConfig,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hungarian = []
    real_assignment = bytetrack.linear_assignment

    def counting(cost: np.ndarray, max_cost: float) -> tuple:
        hungarian.append(cost.shape)
        return real_assignment(cost, max_cost)

    monkeypatch.setattr(bytetrack, "linear_assignment", counting)
    streams = cameras(real_detections)
    want = {name: alone(frames, config) for name, frames in streams.items()}
    hungarian.clear()
    for seed in range(3):
        got = batched(streams, config, seed)
        for name in streams:
            assert got[name] == want[name], name
    assert hungarian, "no batch had two tracks wanting one box: the test misses that path"
    assert sum(len({i for ids, _ in want[n] for i in ids if i >= 0})
               for n in streams) > 40  # plenty of tracks


def test_cameras_are_independent() -> None:
    """The same boxes on two cameras are two objects; ids count per camera; a reset or a
    removed camera leaves the others alone."""
    bt = ByteTrackBatch()
    a, b = bt.add_camera(), bt.add_camera()
    box = np.array([[10, 10, 50, 120]], np.float32)
    one, cls = np.array([0.9], np.float32), np.array([0])
    for k in range(3):
        ids = bt.update([CameraFrame(a, box, one, cls, k / 10),
                         CameraFrame(b, box, one, cls, k / 10)])
    assert [i.tolist() for i in ids] == [[1], [1]]
    bt.reset(a)
    ids = bt.update([CameraFrame(a, box, one, cls, 0.3), CameraFrame(b, box, one, cls, 0.3)])
    assert [i.tolist() for i in ids] == [[-1], [1]]
    bt.remove_camera(a)
    assert bt.update([CameraFrame(b, box, one, cls, 0.4)])[0].tolist() == [1]
    with pytest.raises(ValueError, match="one frame per camera"):
        bt.update([CameraFrame(b, box, one, cls, 0.5), CameraFrame(b, box, one, cls, 0.5)])


def test_a_camera_leaves_a_shared_batch_with_its_tracker() -> None:
    import gc

    from trackers import ByteTrack

    shared = ByteTrackBatch()
    kept, gone = ByteTrack(batch=shared), ByteTrack(batch=shared)
    box = np.array([[10, 10, 50, 120]], np.float32)
    one, cls = np.array([0.9], np.float32), np.array([0])
    for k in range(3):
        shared.update([kept.frame(box, one, cls, k / 10), gone.frame(box + 200, one, cls, k / 10)])
    assert (shared.cameras, shared.tracks) == (2, 2)
    del gone
    gc.collect()
    assert (shared.cameras, shared.tracks) == (1, 1)
    assert kept.update(box, one, cls, 0.3).tolist() == [1]
    with pytest.raises(ValueError, match="batch's settings"):
        ByteTrack(ByteTrackConfig(min_hits=5), batch=shared)
