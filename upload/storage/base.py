"""The contract every frame store meets, and the rule for keys."""

import re
from typing import Protocol

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class InvalidKey(ValueError):
    """A storage key that could escape the store: absolute, with '..', or odd characters."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a relative path of plain segments, else raise InvalidKey."""
    if not KEY_PATTERN.fullmatch(key) or any(part in {".", ".."} for part in key.split("/")):
        raise InvalidKey(f"storage key {key!r} is not a relative path of plain segments")
    return key


class FrameStore(Protocol):
    """Keys are relative paths such as ``frames/clip-0123/000010.png``."""

    def put(self, key: str, content: bytes, content_type: str) -> None:
        """Store ``content`` under ``key``, replacing what was there; never half-written."""

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def task_url(self, key: str) -> str:
        """The URL Label Studio resolves to this object, for a task's ``image`` field."""
