"""Clips read from an S3 prefix: copied one by one into a private local folder, then ingested
like any folder. The copies live only as long as the upload."""

import os
from pathlib import Path

from upload.storage.s3 import parse_s3_uri, s3_client


def download_clips(uri: str, target: Path, endpoint_url: str | None = None) -> Path:
    """Copy every object under ``s3://bucket/prefix`` to ``target``, keeping relative paths
    (so ``long_axis/`` folders still give the view). Returns ``target``."""
    bucket, prefix = parse_s3_uri(uri)
    client = s3_client(endpoint_url)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :].lstrip("/")
            if not relative or relative.endswith("/"):
                continue
            destination = (target / relative).resolve()
            if not destination.is_relative_to(target.resolve()):
                raise ValueError(f"object key {item['Key']!r} would land outside {target}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, item["Key"], str(destination))
            os.chmod(destination, 0o600)
    return target
