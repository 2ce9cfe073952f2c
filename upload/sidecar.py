"""What a clip's sidecar file (``<clip>.json``) and folder say about it.

Example sidecar: ``{"view": "long_axis", "depth_mm": 30, "patient_id": "MRN123"}``. Every key is
optional; the patient ID is only used to make a keyed pseudonym and is never stored.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from label_config import VIEWS
from upload.errors import ClipError

UNKNOWN_VIEW = "unknown"
KNOWN_KEYS = frozenset({"view", "depth_mm", "patient_id"})


@dataclass(frozen=True)
class ClipSidecar:
    view: str = UNKNOWN_VIEW
    depth_mm: float | None = None
    """Imaging depth shown from the top to the bottom of the imaging region."""
    patient_id: str | None = None


def read_sidecar(clip_path: Path) -> ClipSidecar:
    """The sidecar beside ``clip_path`` if any; the view falls back to a parent folder's name."""
    fields = _sidecar_fields(clip_path.with_suffix(".json"))
    view = fields.get("view") or _view_from_folders(clip_path)
    depth_mm = fields.get("depth_mm")
    if view not in (*VIEWS, UNKNOWN_VIEW):
        raise ClipError(clip_path, f"view must be one of {VIEWS}, got {view!r}")
    if depth_mm is not None and not (isinstance(depth_mm, int | float) and 0 < depth_mm < 500):
        raise ClipError(clip_path, f"depth_mm must be a number of millimetres, got {depth_mm!r}")
    patient_id = fields.get("patient_id")
    return ClipSidecar(
        view, float(depth_mm) if depth_mm else None, str(patient_id) if patient_id else None
    )


def _sidecar_fields(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        fields = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ClipError(path, f"sidecar is not valid JSON: {error}") from error
    if not isinstance(fields, dict):
        raise ClipError(path, "sidecar must be a JSON object")
    unknown = set(fields) - KNOWN_KEYS
    if unknown:
        raise ClipError(
            path, f"unknown sidecar keys {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}"
        )
    return fields


def _view_from_folders(clip_path: Path) -> str:
    for folder in clip_path.parents:
        if folder.name in VIEWS:
            return folder.name
    return UNKNOWN_VIEW
