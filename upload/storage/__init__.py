"""Where de-identified frames are kept: a local folder or an S3 bucket, behind one contract."""

from upload.storage.base import FrameStore, InvalidKey, validate_key
from upload.storage.local import LocalFrameStore

__all__ = ["FrameStore", "InvalidKey", "LocalFrameStore", "validate_key"]
