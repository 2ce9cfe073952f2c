"""The label schema: what clinicians label, and the Label Studio configs made from it."""

from label_config.schema import (
    KEYPOINTS,
    LEVELS,
    LONG_AXIS,
    QUALITIES,
    SHORT_AXIS,
    STRUCTURES,
    VIEWS,
    Keypoint,
    Structure,
    keypoints_for_view,
    structures_for_view,
)

__all__ = [
    "KEYPOINTS",
    "LEVELS",
    "LONG_AXIS",
    "QUALITIES",
    "SHORT_AXIS",
    "STRUCTURES",
    "VIEWS",
    "Keypoint",
    "Structure",
    "keypoints_for_view",
    "structures_for_view",
]
