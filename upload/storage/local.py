"""Frames in a local folder, served by Label Studio's local-files route."""

import os
from pathlib import Path

from upload.storage.base import InvalidKey, validate_key

LOCAL_FILES_URL = "/data/local-files/?d="


class LocalFrameStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        """The file of ``key``; InvalidKey when a symbolic link would lead it out of the root."""
        path = self.root / validate_key(key)
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise InvalidKey(f"storage key {key!r} leads outside {self.root} through a link")
        return path

    def put(self, key: str, content: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(content)
        os.replace(partial, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def task_url(self, key: str) -> str:
        return LOCAL_FILES_URL + validate_key(key)
