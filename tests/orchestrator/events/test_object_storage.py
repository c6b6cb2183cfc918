"""Evidence in S3-compatible storage, against a real local S3 server (moto in server mode)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa

from orchestrator.config import Settings
from orchestrator.events.objectstore import S3Evidence
from orchestrator.events.retention import apply_retention
from orchestrator.events.store import EventStore, outbox
from orchestrator.service import Service
from orchestrator.triton.server import free_port
from tests.control_helpers import wait_for


@pytest.fixture
def s3_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_for(up, 30, what="moto server")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_evidence_uploaded_and_linked_with_presigned_urls(tmp_path: Path, s3_url: str,
                                                          stadtmitte: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket="evidence")
    s = Settings.model_validate({
        "cameras": [{"id": "gate", "source": str(stadtmitte), "analysis_fps": 10,
                     "lines": [{"name": "gate", "points": [[320, 200], [320, 460]]}]}],
        "outputs": {"data_dir": str(tmp_path), "pre_roll_s": 1, "post_roll_s": 1,
                    "s3": {"endpoint_url": s3_url, "bucket": "evidence", "prefix": "site-a/",
                           "access_key": "test", "secret_key": "test", "link_ttl_s": 600}}})
    service = Service(s)
    asyncio.run(service.run(restart_failed=False))
    assert len(service.events) == 2
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="evidence")["Contents"]}
    for ev in service.events:
        assert {f"site-a/{ev.snapshot}", f"site-a/{ev.clip}"} <= keys
    with EventStore(s.outputs.store_url).engine.connect() as c:
        ready = [p for k, p in c.execute(sa.select(outbox.c.kind, outbox.c.payload))
                 if k == "clip_ready"]
    for p in ready:
        ev = next(e for e in service.events if e.id == p["event_id"])
        for url, rel in ((p["evidence"]["snapshot_url"], ev.snapshot),
                         (p["evidence"]["clip_url"], ev.clip)):
            assert "X-Amz-Expires=600" in url and "X-Amz-Signature=" in url
            with urllib.request.urlopen(url, timeout=10) as r:
                assert r.read() == (tmp_path / "evidence" / rel).read_bytes()  # type: ignore[operator]
    # Retention takes the objects with the rows and the local files.
    report = apply_retention(EventStore(s.outputs.store_url), s.outputs.evidence_dir, 1,
                             now=datetime.now(UTC) + timedelta(days=2),
                             s3=S3Evidence(s.outputs.s3))  # type: ignore[arg-type]
    assert report.events == 2 and report.objects == 4
    assert "Contents" not in s3.list_objects_v2(Bucket="evidence")
