"""Where frame images come from when training or evaluating outside the backend."""

from pathlib import Path

from annotation_backend.frames import FrameLoader, S3Frames
from upload.storage.s3 import s3_client


def frame_loader(
    media_root: Path | None,
    label_studio_url: str,
    label_studio_token: str | None,
    s3_bucket: str | None,
    s3_endpoint_url: str | None,
) -> FrameLoader:
    """The backend's loader for task image URLs: local files under ``media_root``, objects of
    ``s3_bucket`` only, or Label Studio's own uploads with the token."""
    client = s3_client(s3_endpoint_url) if s3_bucket else None
    return FrameLoader(
        media_root,
        label_studio_url,
        label_studio_token,
        S3Frames(s3_bucket, s3_endpoint_url, client),
    )
