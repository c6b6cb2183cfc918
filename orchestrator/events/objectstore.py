"""Evidence in S3-compatible object storage (an option beside the local evidence folder).

Snapshots and clips are written locally first, then uploaded under the same relative key;
alarms then carry presigned, time-limited GET links.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from orchestrator.config import S3Config

log = logging.getLogger(__name__)


class S3Evidence:
    """One bucket (and key prefix) holding the evidence of a site."""

    def __init__(self, cfg: S3Config) -> None:
        import boto3  # noqa: PLC0415 - optional until configured
        from botocore.config import Config  # noqa: PLC0415

        self.cfg = cfg
        self.client: Any = boto3.client(
            "s3", endpoint_url=cfg.endpoint_url, region_name=cfg.region,
            aws_access_key_id=cfg.access_key, aws_secret_access_key=cfg.secret_key,
            config=Config(signature_version="s3v4", connect_timeout=5, read_timeout=30,
                          retries={"max_attempts": 3}))

    def key(self, rel: str) -> str:
        return f"{self.cfg.prefix}{rel}"

    def upload(self, root: Path, rel: str) -> None:
        """Blocking: put ``root/rel`` at its key."""
        content = "image/jpeg" if rel.endswith(".jpg") else "video/mp4"
        self.client.upload_file(str(root / rel), self.cfg.bucket, self.key(rel),
                                ExtraArgs={"ContentType": content})

    def url(self, rel: str | None) -> str | None:
        """A presigned GET link, valid for ``link_ttl_s``."""
        if not rel:
            return None
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.cfg.bucket, "Key": self.key(rel)},
            ExpiresIn=int(self.cfg.link_ttl_s)))

    def delete(self, rel: str) -> None:
        self.client.delete_object(Bucket=self.cfg.bucket, Key=self.key(rel))
