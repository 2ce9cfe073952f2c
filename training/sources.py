"""Where frame images come from when training or evaluating outside the backend."""

from pathlib import Path

import typer

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


# Command-line options shared by the commands that read frames through ``frame_loader``.
MEDIA_ROOT = typer.Option(None, help="Label Studio's local-files document root.")
LABEL_STUDIO_URL = typer.Option("http://127.0.0.1:8080")
S3_BUCKET = typer.Option(None, help="The bucket s3:// image URLs may name.")
S3_ENDPOINT_URL = typer.Option(None, help="An S3-compatible server, such as MinIO.")
SPLIT_FILE = typer.Option(None, help="Default: STORE/split.json.")
