"""Loading a task's frame, chosen by the form of the task's ``image`` URL:

- ``/data/local-files/?d=<path>``: read from the shared media folder, when the backend has one;
- ``s3://<bucket>/<key>``: read from S3 with boto3. Label Studio 1.23 sends task data to
  ``/predict`` as stored, so this is what arrives for tasks whose frames live in S3;
- ``<host>/tasks/<id>/resolve/?fileuri=<base64 s3 URI>`` (what Label Studio's task API hands
  out) and presigned links to the S3 endpoint: the S3 object they name is read with boto3, the
  link itself is never followed;
- any other URL on Label Studio's own origin: fetched from Label Studio with its API token.

S3 objects are read only from the one allowed bucket.
"""

import base64
import binascii
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import cv2
import httpx
import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from annotation_backend.settings import BackendSettings
from upload.storage.base import validate_key
from upload.storage.s3 import S3_SCHEME, parse_s3_uri, s3_client

LOCAL_FILES_PREFIX = "/data/local-files/?d="
RESOLVE_PATH = re.compile(r"^/(tasks|projects)/\d+/resolve/?$")
AWS_S3_HOST = re.compile(r"^(?:(?P<bucket>.+)\.)?s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com$")


class FrameUnavailable(ValueError):
    """A task's image cannot be read; the message says which URL and why."""


class S3Frames:
    """Reads frame objects from ``bucket`` only; with no bucket set, every S3 URL is refused."""

    def __init__(self, bucket: str | None, endpoint_url: str | None, client):
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.client = client

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> "S3Frames":
        client = s3_client(settings.s3_endpoint_url) if settings.s3_bucket else None
        return cls(settings.s3_bucket, settings.s3_endpoint_url, client)

    def read(self, uri: str) -> bytes:
        """The bytes of the object at ``s3://<bucket>/<key>``."""
        bucket, key = self._allowed(uri)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            with response["Body"] as body:
                return body.read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "an error")
            raise FrameUnavailable(f"{uri}: S3 answered {code}") from error
        except BotoCoreError as error:
            raise FrameUnavailable(f"{uri}: {error}") from error

    def _allowed(self, uri: str) -> tuple[str, str]:
        """Bucket and key of ``uri`` when it names an object the frame store could have written
        to the allowed bucket; FrameUnavailable otherwise."""
        if self.bucket is None or self.client is None:
            raise FrameUnavailable(f"{uri}: no S3 bucket is allowed; set BACKEND_S3_BUCKET")
        try:
            bucket, key = parse_s3_uri(uri)
            validate_key(key)
        except ValueError as error:
            raise FrameUnavailable(f"{uri}: {error}") from error
        if bucket != self.bucket:
            raise FrameUnavailable(f"{uri}: only objects in bucket {self.bucket!r} are read")
        return bucket, key

    def uri_of(self, image_url: str) -> str | None:
        """The ``s3://`` URI that ``image_url`` names, or None when it names no S3 object."""
        if image_url.startswith(S3_SCHEME):
            return image_url
        return resolve_link_target(image_url) or presigned_target(image_url, self.endpoint_url)


def resolve_link_target(url: str) -> str | None:
    """The ``s3://`` URI inside Label Studio's ``.../resolve/?fileuri=`` link, if it holds one."""
    parts = urlsplit(url)
    fileuri = parse_qs(parts.query).get("fileuri")
    if not RESOLVE_PATH.match(parts.path) or not fileuri:
        return None
    for target in (_base64_text(fileuri[0]), fileuri[0]):
        if target.startswith(S3_SCHEME):
            return target
    return None


def _base64_text(encoded: str) -> str:
    """Label Studio encodes ``fileuri`` as URL-safe base64; older links carry the URI itself."""
    try:
        return base64.urlsafe_b64decode(encoded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def presigned_target(url: str, endpoint_url: str | None) -> str | None:
    """The ``s3://`` URI of a presigned link: path style on ``endpoint_url`` when one is set,
    else path or virtual-hosted style on an ``amazonaws.com`` host."""
    parts = urlsplit(url)
    if "X-Amz-Signature=" not in parts.query:
        return None
    path = unquote(parts.path).lstrip("/")
    if endpoint_url:
        endpoint = urlsplit(endpoint_url)
        same_origin = (parts.scheme, parts.netloc) == (endpoint.scheme, endpoint.netloc)
        return S3_SCHEME + path if same_origin else None
    aws_host = AWS_S3_HOST.match(parts.hostname or "")
    if aws_host is None:
        return None
    bucket = aws_host.group("bucket")
    return f"{S3_SCHEME}{bucket}/{path}" if bucket else S3_SCHEME + path


class FrameLoader:
    def __init__(
        self,
        media_root: Path | None,
        label_studio_url: str,
        token: str | None,
        s3: S3Frames | None = None,
    ):
        self.media_root = media_root.resolve() if media_root else None
        self.label_studio_url = label_studio_url.rstrip("/")
        self.token = token
        self.s3 = s3 or S3Frames(None, None, None)
        self._http = httpx.Client(timeout=30.0)

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> "FrameLoader":
        token = settings.label_studio_token
        return cls(
            settings.media_root,
            settings.label_studio_url,
            token.get_secret_value() if token else None,
            S3Frames.from_settings(settings),
        )

    def load_gray(self, image_url: str) -> np.ndarray:
        """(H, W) uint8 grayscale frame for a task's ``image`` URL."""
        gray = cv2.imdecode(np.frombuffer(self._read(image_url), np.uint8), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise FrameUnavailable(f"{image_url}: not a decodable image")
        return gray

    def _read(self, image_url: str) -> bytes:
        if self.media_root is not None and image_url.startswith(LOCAL_FILES_PREFIX):
            return self._read_local(unquote(image_url[len(LOCAL_FILES_PREFIX) :]))
        s3_uri = self.s3.uri_of(image_url)
        if s3_uri is not None:
            return self.s3.read(s3_uri)
        return self._fetch(image_url)

    def _read_local(self, relative: str) -> bytes:
        if "\x00" in relative:
            raise FrameUnavailable(f"{relative!r}: a path cannot hold a NUL byte")
        path = (self.media_root / relative).resolve()
        if not path.is_relative_to(self.media_root):
            raise FrameUnavailable(f"{relative}: outside the media root")
        try:
            return path.read_bytes()
        except OSError as error:
            raise FrameUnavailable(f"{relative}: {error.strerror}") from error

    def _fetch(self, image_url: str) -> bytes:
        url = self.label_studio_url + image_url if image_url.startswith("/") else image_url
        if not url.startswith(self.label_studio_url + "/"):
            raise FrameUnavailable(f"{image_url}: only Label Studio's own URLs are fetched")
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        try:
            response = self._http.get(url, headers=headers)
        except httpx.HTTPError as error:
            raise FrameUnavailable(f"{image_url}: {error}") from error
        if response.status_code != 200:
            raise FrameUnavailable(f"{image_url}: Label Studio answered {response.status_code}")
        return response.content

    def close(self) -> None:
        self._http.close()
