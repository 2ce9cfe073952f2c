"""The project's S3 import storage: lets Label Studio resolve the ``s3://`` URLs of frame tasks.

The storage is never synced: tasks are imported by the upload step, one per frame, with their
clip metadata; a sync would add a second, bare task per object, so the storage is saved as
not synchronizable and Label Studio refuses sync requests for it.
"""

import logging

from label_studio_sdk import LabelStudio

logger = logging.getLogger(__name__)

STORAGE_TITLE = "De-identified frames (S3)"
PRESIGN_TTL_MIN = 15
"""Lifetime of the links Label Studio gives the browser, in minutes."""


def register_s3_storage(
    client: LabelStudio,
    project_id: int,
    bucket: str,
    prefix: str,
    endpoint_url: str | None,
    access_key_id: str,
    secret_access_key: str,
    region: str | None,
) -> int:
    """The id of the project's storage for ``s3://<bucket>/<prefix>``, created when missing.

    An existing storage for the same bucket and prefix gets the given endpoint and credentials,
    so a second run after a key rotation repairs it. Label Studio checks the connection when it
    saves the storage and, for a non-empty prefix, wants at least one object under it: store the
    frames first. Links handed to the browser are presigned (``PRESIGN_TTL_MIN``); the browser
    must reach ``endpoint_url``.
    """
    settings = dict(
        bucket=bucket,
        prefix=prefix,
        s3endpoint=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
        presign=True,
        presign_ttl=PRESIGN_TTL_MIN,
        use_blob_urls=False,
        synchronizable=False,
        title=STORAGE_TITLE,
    )
    existing = _find_storage(client, project_id, bucket, prefix)
    if existing is not None:
        client.import_storage.s3.update(existing, project=project_id, **settings)
        return existing
    storage = client.import_storage.s3.create(project=project_id, **settings)
    logger.info("registered S3 storage %d for project %d", storage.id, project_id)
    return storage.id


def _find_storage(client: LabelStudio, project_id: int, bucket: str, prefix: str) -> int | None:
    for storage in client.import_storage.s3.list(project=project_id):
        if storage.bucket == bucket and (storage.prefix or "") == prefix:
            return storage.id
    return None
