"""The label schema: the structures clinicians draw, and the Label Studio config made from it."""

from label_config.schema import (
    LONG_AXIS,
    SHORT_AXIS,
    STRUCTURES,
    VIEWS,
    Structure,
    structures_for_view,
)

__all__ = ["LONG_AXIS", "SHORT_AXIS", "STRUCTURES", "VIEWS", "Structure", "structures_for_view"]
