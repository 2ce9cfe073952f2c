"""Keyed pseudonyms for clips: the same file always gets the same name, and only the site that
holds the key can link a name back to a file."""

import hashlib
import hmac
from pathlib import Path

CHUNK_BYTES = 1 << 20


def content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def clip_pseudonym(site_key: bytes, content_digest: str) -> str:
    """``clip-`` and 16 hex digits of HMAC-SHA256 over the clip's content digest."""
    tag = hmac.new(site_key, content_digest.encode("ascii"), hashlib.sha256).hexdigest()
    return f"clip-{tag[:16]}"
