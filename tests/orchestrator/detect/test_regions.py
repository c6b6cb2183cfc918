"""Far-target regions: cut at the source's resolution, boxes merged back, each object once."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from orchestrator.config import CameraConfig
from orchestrator.detect import regions
from orchestrator.detections import Detections


def dets(*boxes: tuple[float, float, float, float, float, int]) -> Detections:
    a = np.array(boxes, np.float32).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int64))


SIZE = (640, 480)
CROP = ((200, 40), (216, 168))  # top-left, (width, height) of the region in the frame


def test_a_far_person_only_the_region_sees_is_kept_in_frame_pixels() -> None:
    got = regions.merge(dets(), [dets((10, 20, 30, 80, 0.8, 0))], [CROP], SIZE)
    assert got.xyxy.tolist() == [[210, 60, 230, 120]] and got.class_id.tolist() == [0]


def test_one_object_seen_by_frame_and_region_is_one_box() -> None:
    frame = dets((210, 60, 231, 121, 0.5, 0), (400, 300, 450, 420, 0.9, 0))
    region = dets((10, 20, 30, 80, 0.85, 0), (10, 20, 30, 80, 0.6, 2))  # and a car there
    got = regions.merge(frame, [region], [CROP], SIZE)
    assert sorted(got.class_id.tolist()) == [0, 0, 2]  # other classes are other objects
    person = got.xyxy[(got.class_id == 0) & (got.xyxy[:, 0] < 300)]
    assert person.tolist() == [[210, 60, 230, 120]]  # the region's sharper, better box


def test_a_box_cut_by_the_regions_edge_yields_to_the_whole_box() -> None:
    # Standing across the region's bottom edge (y = 208): the region sees the top half with a
    # higher score; the frame sees the whole person.
    frame = dets((300, 150, 330, 260, 0.6, 0))
    region = dets((100, 110, 130, 167, 0.9, 0))
    got = regions.merge(frame, [region], [CROP], SIZE)
    assert got.xyxy.tolist() == [[300, 150, 330, 260]]
    # At the frame's own edge, a region's edge cuts nothing: its box is the whole view.
    edge = ((0, 0), (216, 168))
    got = regions.merge(dets((0, 100, 28, 150, 0.5, 0)), [dets((0, 100, 30, 150, 0.9, 0))],
                        [edge], SIZE)
    assert got.confidence.tolist() == [pytest.approx(0.9)]


def test_cut_clips_regions_to_the_frame() -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    [(crop, at)] = regions.cut(img, [(600, 400, 700, 520)])
    assert crop.shape == (80, 40, 3) and at == (600, 400)
    assert regions.cut(img, [(636, 0, 700, 100)]) == []  # less than 8 px left inside


def test_a_region_is_a_clear_config_error_when_inside_out() -> None:
    with pytest.raises(ValidationError, match=r"detect_regions\[0\]"):
        CameraConfig.model_validate({"id": "c", "source": "x.mp4",
                                     "detect_regions": [[100, 100, 50, 200]]})
