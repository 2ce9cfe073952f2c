"""Label Studio results to FrameAnnotation and back, on tiny hand-made frames."""

import numpy as np
import pytest

from label_config.xml import LEVEL_NAME, NOT_VISIBLE_NAME, QUALITY_NAME, VIEW_NAME
from training.annotations import (
    AnnotationError,
    FrameAnnotation,
    annotator_name,
    brush_region,
    choices_region,
    keypoint_region,
    parse_annotation,
    parse_task_annotations,
    to_label_studio_result,
)

SHAPE = (4, 6)


def mask(*cells: tuple[int, int]) -> np.ndarray:
    painted = np.zeros(SHAPE, bool)
    for row, column in cells:
        painted[row, column] = True
    return painted


def annotation(result: list[dict], user: int = 3, **extra) -> dict:
    return {"id": extra.pop("id", 1), "result": result, "completed_by": user, **extra}


def test_two_strokes_of_one_label_become_their_union():
    strokes = [
        brush_region("csf", mask((0, 0), (0, 1)), "stroke-1"),
        brush_region("csf", mask((3, 5)), "stroke-2"),
    ]

    parsed = parse_annotation(7, annotation(strokes))

    assert np.array_equal(parsed.masks["csf"], mask((0, 0), (0, 1), (3, 5)))
    assert parsed.frame_shape_px == SHAPE


def test_keypoint_percent_becomes_pixels_of_the_frame():
    region = keypoint_region("conus_tip", (0.0, 0.0), SHAPE)
    region["value"] |= {"x": 50.0, "y": 25.0}

    parsed = parse_annotation(7, annotation([region]))

    assert parsed.points == {"conus_tip": (3.0, 1.0)}


def test_choices_map_labels_to_schema_keys_and_values():
    result = [
        choices_region(NOT_VISIBLE_NAME, ["Subarachnoid CSF", "Conus tip"]),
        choices_region(VIEW_NAME, ["long_axis"]),
        choices_region(LEVEL_NAME, ["L3/4"]),
        choices_region(QUALITY_NAME, ["limited"]),
    ]

    parsed = parse_annotation(7, annotation(result))

    assert parsed.not_visible == {"csf", "conus_tip"}
    assert (parsed.view, parsed.level, parsed.quality) == ("long_axis", "L3/4", "limited")
    assert parsed.frame_shape_px is None and parsed.masks == {}


def test_unknown_brush_label_raises_naming_the_label_and_the_fix():
    region = brush_region("csf", mask((1, 1)))
    region["value"]["brushlabels"] = ["Spleen"]

    with pytest.raises(AnnotationError, match="'Spleen'.*label_config.schema"):
        parse_annotation(7, annotation([region]))


def test_unknown_control_tag_raises():
    region = choices_region("comments", ["fine"])

    with pytest.raises(AnnotationError, match="'comments'"):
        parse_annotation(7, annotation([region]))


def test_view_outside_the_schema_raises():
    with pytest.raises(AnnotationError, match="'oblique'"):
        parse_annotation(7, annotation([choices_region(VIEW_NAME, ["oblique"])]))


def test_keypoint_placed_twice_raises():
    point = keypoint_region("conus_tip", (1.0, 1.0), SHAPE)

    with pytest.raises(AnnotationError, match="placed twice"):
        parse_annotation(7, annotation([point, point | {"id": "again"}]))


def test_regions_of_different_frame_sizes_raise():
    small = brush_region("csf", mask((0, 0)))
    large = brush_region("cord", np.ones((5, 6), bool))

    with pytest.raises(AnnotationError, match="frame size"):
        parse_annotation(7, annotation([small, large]))


def test_annotator_name_reads_an_id_or_an_expanded_user():
    assert annotator_name(4) == "user-4"
    assert annotator_name({"id": 4, "email": "someone@example.org"}) == "user-4"


def test_cancelled_annotations_are_skipped_and_the_newest_per_user_kept():
    annotations = [
        annotation([choices_region(QUALITY_NAME, ["limited"])], user=2, id=5),
        annotation([choices_region(QUALITY_NAME, ["diagnostic"])], user=2, id=9),
        annotation([], user=1, id=6, was_cancelled=True),
    ]

    parsed = parse_task_annotations(7, annotations)

    assert [(a.annotator, a.quality) for a in parsed] == [("user-2", "diagnostic")]


def test_result_parses_back_to_the_same_annotation():
    original = FrameAnnotation(
        task_id=7,
        annotator="user-3",
        masks={"csf": mask((0, 0), (3, 5)), "cord": mask((2, 2))},
        points={"needle_entry": (1.25, 3.5)},
        not_visible=frozenset({"conus_tip", "thecal_sac"}),
        view="long_axis",
        level="L4/5",
        quality="diagnostic",
        frame_shape_px=SHAPE,
    )

    parsed = parse_annotation(7, annotation(to_label_studio_result(original)))

    assert parsed.masks.keys() == original.masks.keys()
    for key in original.masks:
        assert np.array_equal(parsed.masks[key], original.masks[key])
    assert parsed.points["needle_entry"] == pytest.approx(original.points["needle_entry"])
    assert parsed.not_visible == original.not_visible
    assert (parsed.view, parsed.level, parsed.quality) == ("long_axis", "L4/5", "diagnostic")


def test_keypoints_without_a_known_frame_size_cannot_be_written():
    points_only = FrameAnnotation(7, "user-3", points={"conus_tip": (1.0, 1.0)})

    with pytest.raises(AnnotationError, match="frame size"):
        to_label_studio_result(points_only)
