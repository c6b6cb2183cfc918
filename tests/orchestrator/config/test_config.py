from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import (
    CameraConfig,
    ConfigError,
    DetectorConfig,
    LineConfig,
    load_settings,
)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_example_loads_with_paths_relative_to_the_file(demo_config: Path) -> None:
    s = load_settings(demo_config)
    cam = s.cameras[0]
    assert Path(cam.source).is_file()
    assert [ln.name for ln in cam.lines] == ["gate", "wall"]
    assert s.outputs.data_dir.is_absolute()


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, "detector:\n  score_threshold: 0.3\n")
    monkeypatch.setenv("PERISHIELD_DETECTOR__SCORE_THRESHOLD", "0.55")
    monkeypatch.setenv("PERISHIELD_OUTPUTS__PRE_ROLL_S", "1.5")
    s = load_settings(p)
    assert s.detector.score_threshold == 0.55
    assert s.outputs.pre_roll_s == 1.5


@pytest.mark.parametrize(("text", "expected"), [
    ("cameras:\n  - id: a\n    source: x.mp4\n    zones:\n      - name: z\n"
     "        points: [[0, 0], [1, 1]]\n",
     "cameras.0.zones.0.points: polygon needs >=3 points, got 2"),
    ("cameras:\n  - id: a\n    source: x.mp4\n    colour: red\n", "cameras.0.colour: Extra inputs"),
    ("detector:\n  score_threshold: 2\n", "detector.score_threshold"),
    ("tracker:\n  low_threshold: 0.7\n  high_threshold: 0.5\n", "must be below"),
    ("cameras:\n  - {id: a, source: x.mp4}\n  - {id: a, source: y.mp4}\n", "repeated: ['a']"),
    ("cameras:\n  - id: a\n    source: x.mp4\n    lines:\n      - name: l\n"
     "        points: [[0, 0], [5, 5]]\n        direction: up\n", "cameras.0.lines.0.direction"),
    ("cameras:\n  - id: a\n    source: x.mp4\n    rules:\n      filter:\n"
     "        classes: [unicorn]\n", "unknown class 'unicorn'"),
    ("- just\n- a list\n", "expected a mapping"),
    ("cameras: [\n", "not valid YAML"),
])
def test_bad_config_names_file_field_and_fault(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    assert str(p) in str(e.value)
    assert expected in str(e.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_live_mode_defaults() -> None:
    assert CameraConfig(id="a", source="rtsp://u:p@h/1").is_live
    assert not CameraConfig(id="a", source="/v.mp4").is_live
    assert CameraConfig(id="a", source="/v.mp4", realtime=True).is_live


def test_line_rejects_zero_length_segment() -> None:
    with pytest.raises(ValueError, match="zero-length segment"):
        LineConfig(name="l", points=[(0, 0), (0, 0)])


def test_configuration_reference_is_up_to_date() -> None:
    from orchestrator.configdoc import render
    from orchestrator.paths import PROJECT_ROOT

    committed = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "run: python -m orchestrator.configdoc > docs/configuration.md"


def test_detector_config_default_is_embedded() -> None:
    assert DetectorConfig().backend == "onnxruntime"
