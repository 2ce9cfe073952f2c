"""Byte-for-byte reproducible encodings of masks, volumes and JSON.

Nothing variable goes into a file: PNGs are written by OpenCV at a fixed compression level with
no metadata chunks, NIfTI volumes are gzipped with mtime 0 and no file name, JSON has sorted
keys and a fixed indent.
"""

import gzip
import json
import math
from collections.abc import Sequence
from dataclasses import asdict

import cv2
import nibabel as nib
import numpy as np
from pycocotools import mask as coco_mask

from label_config.schema import (
    KEYPOINTS,
    LEVELS,
    QUALITIES,
    QUALITY_DEFINITIONS,
    STRUCTURES,
    VIEWS,
)
from label_config.xml import (
    BRUSH_NAME,
    CONFIG_VIEWS,
    IMAGE_NAME,
    KEYPOINT_NAME,
    LEVEL_NAME,
    NOT_VISIBLE_NAME,
    QUALITY_NAME,
    VIEW_NAME,
    labeling_config,
)
from training.export.errors import ExportError

PNG_COMPRESSION = 9
GZIP_LEVEL = 9
MASK_VALUE = 255


def png_bytes(mask: np.ndarray) -> bytes:
    """An (H, W) bool mask as a grayscale PNG: 255 inside, 0 outside; an empty mask is all 0."""
    pixels = mask.astype(np.uint8) * MASK_VALUE
    ok, encoded = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ExportError(f"PNG encoding failed for a mask of shape {mask.shape}")
    return encoded.tobytes()


def mask_from_png(content: bytes, name: str) -> np.ndarray:
    """(H, W) bool mask from PNG bytes written by ``png_bytes``; ``name`` is used in errors."""
    pixels = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.ndim != 2:
        raise ExportError(f"{name} is not a one-channel PNG mask")
    return pixels > 0


def nifti_bytes(masks: Sequence[np.ndarray], spacing_mm_per_px: float | None, note: str) -> bytes:
    """Gzipped NIfTI-1 of F (H, W) bool masks as a (W, H, F) uint8 volume in {0, 1}.

    Voxel size is (spacing, spacing, 1) in mm, with spacing in mm per pixel; the third axis
    counts frames, not millimetres. An unknown spacing (None) gives voxel size 1 and units
    "unknown". ``note`` (up to 80 characters) goes into the header's description.
    """
    volume = np.stack([m.T for m in masks], axis=-1).astype(np.uint8)
    spacing = 1.0 if spacing_mm_per_px is None else float(spacing_mm_per_px)
    image = nib.Nifti1Image(volume, np.diag([spacing, spacing, 1.0, 1.0]))
    image.header.set_xyzt_units("unknown" if spacing_mm_per_px is None else "mm")
    image.header["descrip"] = note.encode("ascii")[:80]
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=GZIP_LEVEL, mtime=0)


def coco_rle(mask: np.ndarray) -> dict:
    """COCO RLE of an (H, W) bool mask: ``{"size": [H, W], "counts": str}``."""
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def coco_annotation(annotation_id: int, image_id: int, category_id: int, mask: np.ndarray):
    """One COCO annotation of a non-empty mask; bbox is [x, y, width, height] in pixels."""
    rle = coco_rle(mask)
    as_bytes = {**rle, "counts": rle["counts"].encode("ascii")}
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": rle,
        "area": int(coco_mask.area(as_bytes)),
        "bbox": [float(v) for v in coco_mask.toBbox(as_bytes)],
        "iscrowd": 1,
    }


def coco_categories() -> list[dict]:
    """One category per structure; its id is the structure's position in STRUCTURES + 1."""
    return [
        {"id": i + 1, "name": s.key, "label": s.label, "supercategory": "structure"}
        for i, s in enumerate(STRUCTURES)
    ]


def schema_document() -> dict:
    """The label schema and the Label Studio configs the annotations were made with."""
    return {
        "structures": [asdict(s) for s in STRUCTURES],
        "keypoints": [asdict(k) for k in KEYPOINTS],
        "views": list(VIEWS),
        "levels": list(LEVELS),
        "qualities": list(QUALITIES),
        "quality_definitions": dict(QUALITY_DEFINITIONS),
        "control_tags": {
            "image": IMAGE_NAME,
            "brush": BRUSH_NAME,
            "keypoint": KEYPOINT_NAME,
            "not_visible": NOT_VISIBLE_NAME,
            "view": VIEW_NAME,
            "level": LEVEL_NAME,
            "quality": QUALITY_NAME,
        },
        "labeling_configs": {view: labeling_config(view) for view in CONFIG_VIEWS},
    }


def json_bytes(document) -> bytes:
    """Sorted keys, indent 2, a final newline; NaN becomes null (JSON has no NaN)."""
    return (json.dumps(_without_nan(document), sort_keys=True, indent=2) + "\n").encode("utf-8")


def _without_nan(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(v) for v in value]
    return value
