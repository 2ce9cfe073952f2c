"""Names of the files in a gold-standard folder, shared by the writer and the reader."""

import re
from pathlib import PurePosixPath

from training.export.errors import ExportError

FOLDER_PREFIX = "gold-standard-"
README = "README.md"
SCHEMA = "schema.json"
MANIFEST = "manifest.csv"
COCO = "coco.json"
AGREEMENT = "agreement.json"
CHECKSUMS = "SHA256SUMS"
MASKS_DIR = "masks"
NIFTI_DIR = "nifti"

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def safe_part(text: str, what: str) -> str:
    """``text`` when it can be one path component (letters, digits, ``._-``); else ExportError."""
    if not _SAFE_PART.match(text) or ".." in text:
        raise ExportError(
            f"{what} {text!r} cannot name a file: use letters, digits, '.', '_' and '-' only"
        )
    return text


def folder_name(version: str) -> str:
    return FOLDER_PREFIX + safe_part(version, "version")


def frame_name(clip_id: str, frame_index: int) -> str:
    """``<clip>/<frame index, 6 digits>``: the frame column of the manifest."""
    return f"{safe_part(clip_id, 'clip id')}/{frame_index:06d}"


def mask_folder(clip_id: str, frame_index: int) -> PurePosixPath:
    return PurePosixPath(MASKS_DIR, frame_name(clip_id, frame_index))


def mask_path(clip_id: str, frame_index: int, structure_key: str) -> PurePosixPath:
    """``masks/<clip>/<frame>/<structure>.png``: (H, W) uint8, 255 inside, 0 outside."""
    return mask_folder(clip_id, frame_index) / f"{structure_key}.png"


def nifti_path(clip_id: str, structure_key: str) -> PurePosixPath:
    """``nifti/<clip>/<structure>.nii.gz``: (W, H, frames) uint8 in {0, 1}."""
    return PurePosixPath(NIFTI_DIR, safe_part(clip_id, "clip id"), f"{structure_key}.nii.gz")
