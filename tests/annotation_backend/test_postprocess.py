"""Post-processing of predicted masks, and the keypoints derived from them, on tiny masks."""

import numpy as np
import pytest

from annotation_backend.postprocess import TIP_MARGIN_PX, clean_mask, conus_tip, fill_holes
from annotation_backend.predictions import FramePrediction, label_studio_prediction
from training.annotations import LABEL_OF_KEY


def blank(shape=(20, 30)) -> np.ndarray:
    return np.zeros(shape, bool)


def test_islands_smaller_than_the_minimum_are_removed():
    mask = blank()
    mask[2:8, 2:8] = True  # 36 px
    mask[15:17, 20:22] = True  # 4 px

    cleaned = clean_mask("vertebral_body", mask, min_region_px=10)

    assert cleaned.sum() == 36 and not cleaned[15:17, 20:22].any()


def test_a_mask_of_only_islands_becomes_empty():
    mask = blank()
    mask[3, 3] = mask[10, 10] = True

    assert not clean_mask("cord", mask, min_region_px=2).any()


def test_holes_are_filled():
    mask = blank()
    mask[2:12, 2:12] = True
    mask[5:8, 5:8] = False

    assert clean_mask("thecal_sac", mask, min_region_px=10)[2:12, 2:12].all()


def test_csf_keeps_the_large_hole_where_the_cord_lies_but_loses_speckle_holes():
    mask = blank()
    mask[1:19, 1:29] = True
    mask[4:12, 4:14] = False  # 80 px: the cord
    mask[15, 20] = False  # 1 px speckle

    cleaned = clean_mask("csf", mask, min_region_px=10)

    assert not cleaned[4:12, 4:14].any() and cleaned[15, 20]


def test_fill_holes_leaves_background_touching_the_border():
    mask = blank()
    mask[:, 10] = True

    assert np.array_equal(fill_holes(mask), mask)


def two_blocks() -> np.ndarray:
    mask = blank()
    mask[2:8, 2:8] = True  # 36 px
    mask[10:18, 15:25] = True  # 80 px
    return mask


def test_a_single_object_structure_keeps_its_largest_component():
    cleaned = clean_mask("cord", two_blocks(), min_region_px=10)

    assert cleaned.sum() == 80 and cleaned[10:18, 15:25].all()


def test_a_row_of_objects_keeps_every_large_component():
    assert np.array_equal(clean_mask("vertebral_body", two_blocks(), 10), two_blocks())


def tapering_cord(last_column: int) -> np.ndarray:
    """A cord entering from the left (cranial), 9 rows thick, tapering to one row at the end."""
    cord = blank()
    cord[6:15, : last_column - 2] = True
    for step, column in enumerate(range(last_column - 2, last_column + 1)):
        cord[6 + 2 * step : 15 - 2 * step, column] = True
    return cord


def test_the_conus_tip_is_the_caudal_end_of_a_tapering_cord():
    tip = conus_tip(tapering_cord(20), np.ones((20, 30), bool))

    assert tip == (20.5, 10.5)


def test_a_cord_running_out_of_the_imaging_region_has_no_tip():
    region = np.zeros((20, 30), bool)
    region[:, 2 : 20 + TIP_MARGIN_PX] = True

    assert conus_tip(tapering_cord(20), region) is None
    assert conus_tip(blank(), np.ones((20, 30), bool)) is None


def test_derived_keypoints_are_sent_as_predicted_keypoint_regions():
    cord = tapering_cord(20)
    prediction = FramePrediction({"cord": cord}, 0.9, {"conus_tip": (20.5, 10.5)}, (20, 30))

    result = label_studio_prediction(prediction, "v0001", "long_axis")["result"]

    (point,) = [r for r in result if r["type"] == "keypointlabels"]
    assert point["origin"] == "prediction"
    assert point["value"]["keypointlabels"] == [LABEL_OF_KEY["conus_tip"]]
    assert (point["value"]["x"], point["value"]["y"]) == pytest.approx((20.5 / 30 * 100, 52.5))
