"""Errors of the upload step. Each names the clip and the reason, never the clip's content."""

from pathlib import Path


class ClipError(Exception):
    """A clip that cannot be ingested; the rest of the batch goes on."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
