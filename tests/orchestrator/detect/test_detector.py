from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DetectorConfig
from orchestrator.detect import DetectorError, create_detector
from orchestrator.detect.onnx_detector import OnnxDetector
from orchestrator.detect.postprocess import letterbox, nms
from orchestrator.evaluation.groundtruth import GroundTruth
from orchestrator.paths import MissingAssetError
from trackers.matching import iou_matrix


@pytest.fixture(scope="module")
def yolox() -> object:
    return create_detector(DetectorConfig(classes=["person"]))


def test_yolox_finds_the_labelled_people(yolox: object, stadtmitte_frames: list[np.ndarray],
                                         stadtmitte_gt: Path) -> None:
    gt = GroundTruth.load(stadtmitte_gt)
    det = yolox.detect(stadtmitte_frames[:1])[0]  # type: ignore[attr-defined]
    _, gt_boxes = gt.frames[1]
    iou = iou_matrix(gt_boxes, det.xyxy)
    matched = (iou.max(axis=1) >= 0.5).sum()
    assert matched >= len(gt_boxes) - 2, f"found {matched} of {len(gt_boxes)} labelled people"
    assert set(det.class_id.tolist()) == {0}
    assert (det.confidence >= 0.3).all()


def test_batch_of_eight_equals_one_by_one(yolox: object,
                                          stadtmitte_frames: list[np.ndarray]) -> None:
    frames = stadtmitte_frames[:8]
    batched = yolox.detect(frames)  # type: ignore[attr-defined]
    assert yolox.batched  # type: ignore[attr-defined]
    for f, b in zip(frames, batched, strict=True):
        single = yolox.detect([f])[0]  # type: ignore[attr-defined]
        np.testing.assert_allclose(single.xyxy, b.xyxy, atol=0.05)


def test_fixed_batch_model_runs_frame_by_frame(stadtmitte_frames: list[np.ndarray]) -> None:
    det = create_detector(DetectorConfig(model="fastestdet.onnx", format="fastestdet"))
    assert not det.batched  # type: ignore[attr-defined]  # its graph has literal batch-1 reshapes
    out = det.detect(stadtmitte_frames[:3])
    assert len(out) == 3 and all(len(d) >= 3 for d in out)


def test_missing_model_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(MissingAssetError, match="looked in: .*models"):
        create_detector(DetectorConfig(model="night_finetune.onnx"))
    with pytest.raises(MissingAssetError, match="not found at"):
        create_detector(DetectorConfig(model=str(tmp_path / "x.onnx")))


def test_wrong_format_is_a_clear_error() -> None:
    with pytest.raises(DetectorError, match="does not match detector.format='yolox'"):
        create_detector(DetectorConfig(model="fastestdet.onnx", format="yolox"))


def test_an_input_size_the_model_cannot_take_is_a_clear_error() -> None:
    with pytest.raises(DetectorError, match=r"takes 416x416 images: detector.input_size"):
        create_detector(DetectorConfig(input_size=(640, 640)))


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load ONNX model"):
        create_detector(DetectorConfig(model=str(bad)))


def test_letterbox_keeps_aspect_and_pads() -> None:
    img = np.full((480, 640, 3), 7, np.uint8)
    out, t = letterbox(img, (416, 416))
    assert out.shape == (416, 416, 3) and out.dtype == np.uint8
    assert t.scale_x == pytest.approx(0.65)
    assert (out[312:, :] == 114).all() and (out[:312, :] == 7).all()


def test_nms_keeps_best_of_overlapping() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.8], np.float32), 0.5)
    assert keep.tolist() == [1, 2]



def test_decoded_pictures_give_the_boxes_of_bgr_frames(yolox: object, stadtmitte: Path,
                                                      stadtmitte_frames: list[np.ndarray]
                                                      ) -> None:
    """Frames handed over as the decoder's pictures are detected exactly as BGR arrays."""
    import asyncio

    from orchestrator.ingest import VideoSource

    async def first(n: int) -> list:
        out = []
        async for f in VideoSource(str(stadtmitte), analysis_fps=25):
            out.append(f)
            if len(out) == n:
                break
        return out

    from_pictures = yolox.detect(asyncio.run(first(4)))  # type: ignore[attr-defined]
    from_bgr = yolox.detect(stadtmitte_frames[:4])  # type: ignore[attr-defined]
    for a, b in zip(from_pictures, from_bgr, strict=True):
        assert len(b) >= 3
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.class_id, b.class_id)


def test_a_graph_with_nms_inside_runs_in_process_within_its_limits(
        tmp_path: Path, yolox_model: Path, stadtmitte_frames: list[np.ndarray]) -> None:
    from orchestrator.detect.graph import served_graph

    graph = tmp_path / "people.onnx"
    graph.write_bytes(served_graph(yolox_model, "onnx", classes=[0], score_floor=0.1))
    det = OnnxDetector(DetectorConfig(model=str(graph), classes=["person"]))
    assert det.packed and det.input_size == (416, 416)
    got = det.detect(stadtmitte_frames[:4])
    want = OnnxDetector(DetectorConfig(classes=["person"])).detect(stadtmitte_frames[:4])
    for a, b in zip(want, got, strict=True):
        assert len(a) >= 4 and a.class_id.tolist() == b.class_id.tolist()
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.01)
    # What the graph cannot do is refused at load, with what to change.
    with pytest.raises(DetectorError, match=r"detector.classes \['car'\] are not among"):
        OnnxDetector(DetectorConfig(model=str(graph), classes=["person", "car"]))
    with pytest.raises(DetectorError, match="score_threshold 0.05 is below the 0.1"):
        OnnxDetector(DetectorConfig(model=str(graph), classes=["person"], score_threshold=0.05))
    with pytest.raises(DetectorError, match="nms_iou 0.6 cannot apply"):
        OnnxDetector(DetectorConfig(model=str(graph), classes=["person"], nms_iou=0.6))
