"""Frames in a private S3 bucket (or an S3-compatible server such as MinIO).

Label Studio reads them through an S3 import storage registered for the project; tasks carry
``s3://<bucket>/<prefix><key>`` and Label Studio turns that into a short-lived link for the
browser. Objects are written without an ACL, so they stay as private as the bucket.
"""

import re

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from upload.storage.base import validate_key

S3_SCHEME = "s3://"
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MISSING_OBJECT_CODES = {"404", "NoSuchKey", "NotFound"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/path/to/object`` -> ("bucket", "path/to/object"); the path may be empty.

    Raises ValueError for another scheme or a bucket name S3 would refuse.
    """
    if not uri.startswith(S3_SCHEME):
        raise ValueError(f"expected an s3://<bucket>/<path> URI, got {uri!r}")
    bucket, _, path = uri[len(S3_SCHEME) :].partition("/")
    return validate_bucket(bucket), path


def validate_bucket(bucket: str) -> str:
    """Return ``bucket`` if S3 would accept it as a bucket name, else raise ValueError."""
    if not BUCKET_PATTERN.match(bucket):
        raise ValueError(f"{bucket!r} is not a valid S3 bucket name: 3-63 of a-z, 0-9, '.', '-'")
    return bucket


def normalise_prefix(prefix: str) -> str:
    """'' stays ''; 'frames/v1' and 'frames/v1/' become 'frames/v1/'. Refuses '..' and the like."""
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    return validate_key(stripped) + "/"


def s3_client(endpoint_url: str | None = None, region: str | None = None):
    """A boto3 S3 client; credentials come from the standard AWS chain (environment variables,
    ``~/.aws``, instance or container role). ``endpoint_url`` selects an S3-compatible server."""
    config = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"})
    session = boto3.session.Session(region_name=region)
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3FrameStore:
    """Keys are stored as objects ``<prefix><key>`` in ``bucket``."""

    def __init__(self, bucket: str, prefix: str, client):
        self.bucket = validate_bucket(bucket)
        self.prefix = normalise_prefix(prefix)
        self.client = client

    @classmethod
    def from_uri(
        cls, uri: str, endpoint_url: str | None = None, region: str | None = None
    ) -> "S3FrameStore":
        """A store for ``s3://bucket/prefix``, with credentials from the standard AWS chain."""
        bucket, prefix = parse_s3_uri(uri)
        return cls(bucket, prefix, s3_client(endpoint_url, region))

    def _object_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put(self, key: str, content: bytes, content_type: str) -> None:
        """One PUT: S3 never shows a partly written object. No ACL is sent, so it stays private."""
        self.client.put_object(
            Bucket=self.bucket, Key=self._object_key(key), Body=content, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none, as for a local store."""
        object_key = self._object_key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
        except ClientError as error:
            if _error_code(error) in MISSING_OBJECT_CODES:
                raise FileNotFoundError(
                    f"s3://{self.bucket}/{object_key}: no such object"
                ) from error
            raise
        with response["Body"] as body:
            return body.read()

    def exists(self, key: str) -> bool:
        """False only for a missing object; access errors are raised, not reported as absent."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as error:
            if _error_code(error) in MISSING_OBJECT_CODES:
                return False
            raise
        return True

    def task_url(self, key: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self._object_key(key)}"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
