"""Where de-identified frames are kept: a local folder or an S3 bucket, behind one contract."""

from upload.storage.base import FrameStore, InvalidKey, validate_key
from upload.storage.local import LocalFrameStore
from upload.storage.s3 import S3FrameStore, parse_s3_uri, s3_client

__all__ = [
    "FrameStore",
    "InvalidKey",
    "LocalFrameStore",
    "S3FrameStore",
    "parse_s3_uri",
    "s3_client",
    "validate_key",
]
