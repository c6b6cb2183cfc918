"""Writes docs/configuration.md from the configuration models.

Run ``python -m orchestrator.configdoc > docs/configuration.md``.

A test checks the committed file against this output, so the reference never drifts.
"""

from __future__ import annotations

import re
import typing

from pydantic import BaseModel

from orchestrator import config as c

MODELS: list[tuple[str, type[BaseModel]]] = [
    ("cameras[]", c.CameraConfig), ("cameras[].nvr", c.NvrConfig),
    ("cameras[].ground", c.GroundConfig),
    ("cameras[].rules", c.RuleDefaults),
    ("…filter", c.ObjectFilter), ("cameras[].zones[]", c.ZoneConfig),
    ("cameras[].lines[]", c.LineConfig), ("cameras[].climbs[]", c.ClimbConfig),
    ("cameras[].routes[]", c.RouteConfig),
    ("…schedule[]", c.TimeWindow),
    ("cameras[].detector", c.CameraDetectorConfig),
    ("cameras[].detector.motion", c.MotionConfig),
    ("cameras[].night", c.NightConfig),
    ("cameras[].perspective", c.PerspectiveConfig),
    ("detector", c.DetectorConfig),
    ("detector.triton", c.TritonConfig),
    ("tracker", c.TrackerConfig), ("outputs", c.OutputConfig), ("outputs.s3", c.S3Config),
    ("control", c.ControlConfig),
    ("alarms", c.AlarmConfig), ("process", c.ProcessConfig),
]


def _type(ann: object) -> str:
    text = re.sub(r"<class '([\w.]+)'>", r"\1", str(ann))
    text = re.sub(r"\b(?:typing|orchestrator\.config(?:\.\w+)?|pathlib)\.", "", text)
    return text.replace("|", "\\|")


def _bounds(meta: list[object]) -> str:
    out = []
    for m in meta:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return ", ".join(out)


def render() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `orchestrator/config.py` by `python -m orchestrator.configdoc`.",
             "A YAML file (`-c CONFIG`) plus `PERISHIELD_*` environment variables, nested with",
             "`__` (`PERISHIELD_DETECTOR__SCORE_THRESHOLD=0.4`); the environment wins. Unknown",
             "keys are errors. Lists are given as JSON (`PERISHIELD_CAMERAS='[{\"id\": \"gate\",",
             "\"source\": \"rtsp://…\"}]'`; it replaces the file's list), so a service can run",
             "from the environment alone (`perishield run` without `-c`).",
             "Relative paths in the file are taken from the file's folder.",
             "See `examples/demo.yaml` for a complete example."]
    for where, model in MODELS:
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += ["", f"## `{where}` ({model.__name__})", "", doc, "",
                  "| field | type | default | bounds | meaning |", "|---|---|---|---|---|"]
        hints = typing.get_type_hints(model)
        for name, f in model.model_fields.items():
            if f.is_required():
                default = "required"
            elif f.default_factory is not None:
                default = repr(f.get_default(call_default_factory=True))
                default = default if len(default) < 40 else "see its section"
            else:
                default = repr(f.default)
            desc = (f.description or "").replace("|", "\\|")
            lines.append(f"| `{name}` | {_type(hints[name])} | {default.replace('|', '/')} | "
                         f"{_bounds(f.metadata)} | {desc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
