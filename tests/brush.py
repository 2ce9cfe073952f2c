"""Checks on Label Studio brush regions shared by the backend and end-to-end tests."""

import numpy as np
from label_studio_sdk.converter.brush import decode_rle

from label_config.xml import BRUSH_NAME, IMAGE_NAME
from training.annotations import LABEL_OF_KEY as LABEL_OF


def decode_region(region: dict) -> np.ndarray:
    """(H, W) bool mask of one brush region."""
    shape = (region["original_height"], region["original_width"])
    return decode_rle(region["value"]["rle"]).reshape(*shape, 4)[:, :, 3] > 0


def assert_regions_equal(results: list[dict], masks: dict, shape: tuple[int, int]) -> None:
    """The brush regions in ``results`` hold exactly ``masks`` (structure key -> (H, W) bool),
    on the frame's grid."""
    regions = [r for r in results if r["type"] == "brushlabels"]
    assert len(regions) == len(masks)
    for region in regions:
        assert (region["from_name"], region["to_name"]) == (BRUSH_NAME, IMAGE_NAME)
        assert (region["original_height"], region["original_width"]) == shape
        key = next(k for k, label in LABEL_OF.items() if region["value"]["brushlabels"] == [label])
        assert np.array_equal(decode_region(region), masks[key])
