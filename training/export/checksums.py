"""SHA-256 of every file of an export, in ``sha256sum`` format, and its verification.

``SHA256SUMS`` lists ``<hex digest>  <path relative to the folder>`` for every other file,
sorted by path, so ``sha256sum -c SHA256SUMS`` run inside the folder checks it too.
"""

import hashlib
from pathlib import Path

from training.export.errors import ChecksumError
from training.export.layout import CHECKSUMS


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def listed_files(folder: Path) -> list[str]:
    """Relative POSIX paths of every file under ``folder`` but SHA256SUMS, sorted."""
    paths = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return sorted(p for p in paths if p != CHECKSUMS)


def write_checksums(folder: Path) -> None:
    lines = [f"{sha256_of(folder / path)}  {path}\n" for path in listed_files(folder)]
    (folder / CHECKSUMS).write_text("".join(lines), encoding="utf-8")


def read_checksums(folder: Path) -> dict[str, str]:
    """Relative path -> hex digest, as listed in ``folder``'s SHA256SUMS."""
    sums_path = folder / CHECKSUMS
    if not sums_path.is_file():
        raise ChecksumError(f"{sums_path} is missing: this is not a complete gold-standard export")
    expected = {}
    for number, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), 1):
        digest, separator, path = line.partition("  ")
        if not separator or len(digest) != 64:
            raise ChecksumError(f"{sums_path} line {number} is not '<sha256>  <path>': {line!r}")
        expected[path] = digest
    return expected


def verify_checksums(folder: Path) -> None:
    """Raises ChecksumError naming the first file that was changed, removed or added."""
    expected = read_checksums(folder)
    present = listed_files(folder)
    added = sorted(set(present) - set(expected))
    if added:
        raise ChecksumError(
            f"{added[0]} is not listed in {CHECKSUMS}: it was added after the export"
        )
    for path, digest in sorted(expected.items()):
        if path not in present:
            raise ChecksumError(f"{path} is listed in {CHECKSUMS} but missing from {folder}")
        actual = sha256_of(folder / path)
        if actual != digest:
            raise ChecksumError(
                f"{path} has SHA-256 {actual}, but {CHECKSUMS} says {digest}: the file was "
                "changed after the export; restore it or export again"
            )
