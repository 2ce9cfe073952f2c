"""Loading a task's frame: from the shared media folder when the backend has one, else from
Label Studio over HTTP with its API token. Only Label Studio's own URLs are fetched."""

from pathlib import Path
from urllib.parse import unquote

import cv2
import httpx
import numpy as np

LOCAL_FILES_PREFIX = "/data/local-files/?d="


class FrameUnavailable(ValueError):
    """A task's image cannot be read; the message says which URL and why."""


class FrameLoader:
    def __init__(self, media_root: Path | None, label_studio_url: str, token: str | None):
        self.media_root = media_root.resolve() if media_root else None
        self.label_studio_url = label_studio_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(timeout=30.0)

    def load_gray(self, image_url: str) -> np.ndarray:
        """(H, W) uint8 grayscale frame for a task's ``image`` URL."""
        if self.media_root is not None and image_url.startswith(LOCAL_FILES_PREFIX):
            encoded = self._read_local(unquote(image_url[len(LOCAL_FILES_PREFIX) :]))
        else:
            encoded = self._fetch(image_url)
        gray = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise FrameUnavailable(f"{image_url}: not a decodable image")
        return gray

    def _read_local(self, relative: str) -> bytes:
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
