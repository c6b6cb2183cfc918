"""Alarm messages, signatures and acknowledgements (no broker needed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.alarms.acks import UnknownEvent, acknowledge, acknowledgements_of
from orchestrator.alarms.schema import messages_for, sign_path
from orchestrator.alarms.targets import dingtalk_signed_url
from orchestrator.config import AlarmConfig
from orchestrator.events.store import EventStore
from tests.orchestrator.alarms.test_alarms import SECRET, make_event


def test_dingtalk_signature_matches_the_robot_spec() -> None:
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=x", SECRET,
                              now_ms=1700000000000)
    assert "timestamp=1700000000000&sign=" in url
    assert "%2B" in url or "%2F" in url or "%3D" in url  # base64 is url-encoded


def test_evidence_links_are_time_limited() -> None:
    cfg = AlarmConfig(evidence_base_url="http://site/evidence", evidence_secret="k")
    ev = make_event(1)
    url = messages_for(ev, cfg, "k")[0][2]["evidence"]["snapshot_url"]
    expires = int(url.split("expires=")[1].split("&")[0])
    assert url.endswith(f"sig={sign_path(ev.snapshot, 'k', expires)}")  # type: ignore[arg-type]
    assert expires > time.time() + 3600


def test_acknowledgements(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    ev = make_event(1)
    store.insert(ev)
    acknowledge(store, ev.id, "guard-7", "false_alarm", "a cat")
    acks = acknowledgements_of(store, ev.id)
    assert [(a["operator"], a["verdict"], a["note"]) for a in acks] == [
        ("guard-7", "false_alarm", "a cat")]
    with pytest.raises(UnknownEvent):
        acknowledge(store, "nope", "guard-7", "confirmed")
