"""Credentials generated on first start and kept in one owner-only file; never defaults."""

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackSecrets:
    label_studio_username: str
    label_studio_password: str
    label_studio_token: str
    backend_username: str
    backend_password: str
    webhook_secret: str
    site_key_hex: str
    """Key of the clip pseudonyms; whoever holds it can link a pseudonym to a file."""

    @property
    def site_key(self) -> bytes:
        return bytes.fromhex(self.site_key_hex)


def generate() -> StackSecrets:
    return StackSecrets(
        label_studio_username="admin@spine.local",
        label_studio_password=secrets.token_urlsafe(18),
        label_studio_token=secrets.token_hex(20),
        backend_username="label-studio",
        backend_password=secrets.token_urlsafe(24),
        webhook_secret=secrets.token_urlsafe(24),
        site_key_hex=secrets.token_hex(32),
    )


def load_or_create(path: Path) -> tuple[StackSecrets, bool]:
    """The stored secrets, or new ones written with mode 0600; the flag says they are new."""
    if path.is_file():
        return StackSecrets(**json.loads(path.read_text())), False
    path.parent.mkdir(parents=True, exist_ok=True)
    created = generate()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        json.dump(asdict(created), stream, indent=2)
    return created, True
