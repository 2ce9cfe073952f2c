"""Agreement and consensus on tiny hand-computed masks, points and choice tables."""

import math

import numpy as np
import pytest

from training.agreement import (
    CONSENSUS_ANNOTATOR,
    choice_kappas,
    consensus_annotation,
    dice,
    frame_agreement,
    majority_choice,
    point_distance_mm,
    rank_for_adjudication,
    staple_mask,
    structure_dice,
)
from training.annotations import FrameAnnotation

SHAPE = (4, 5)


def box(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    """(4, 5) bool mask, True on rows top..bottom-1 and columns left..right-1."""
    painted = np.zeros(SHAPE, bool)
    painted[top:bottom, left:right] = True
    return painted


def labels(annotator: str, task_id: int = 1, **fields) -> FrameAnnotation:
    return FrameAnnotation(task_id=task_id, annotator=annotator, frame_shape_px=SHAPE, **fields)


def test_dice_of_a_2x2_and_a_2x3_box_sharing_2_pixels_is_0_4():
    # A: rows 0-1, columns 0-1; B: rows 0-1, columns 1-3; they share column 1: 2 * 2 / (4 + 6)
    assert dice(box(0, 0, 2, 2), box(0, 1, 2, 4)) == pytest.approx(0.4)


def test_dice_of_two_empty_masks_is_nan():
    assert math.isnan(dice(box(0, 0, 0, 0), box(0, 0, 0, 0)))


def test_masks_touching_every_border_agree_by_their_overlap():
    # A: the whole first row and first column (5 + 3 = 8 px); B: the whole first row (5 px).
    first = box(0, 0, 1, 5) | box(0, 0, 4, 1)
    second = box(0, 0, 1, 5)

    assert dice(first, second) == pytest.approx(2 * 5 / 13)
    assert dice(box(0, 0, 4, 5), box(0, 0, 4, 5)) == 1.0


def test_structure_both_marked_not_visible_counts_as_agreement():
    first = labels("a", not_visible=frozenset({"csf"}))
    second = labels("b", not_visible=frozenset({"csf"}))

    assert structure_dice("csf", first, second) == 1.0


def test_structure_painted_by_one_only_scores_zero():
    first = labels("a", masks={"csf": box(0, 0, 2, 2)})
    second = labels("b", not_visible=frozenset({"csf"}))

    assert structure_dice("csf", first, second) == 0.0


def test_structure_neither_painted_nor_marked_is_not_judged():
    first = labels("a", not_visible=frozenset({"csf"}))

    assert math.isnan(structure_dice("csf", first, labels("b")))


def test_point_distance_is_pixel_distance_times_spacing():
    first = labels("a", points={"conus_tip": (1.0, 2.0)})
    second = labels("b", points={"conus_tip": (4.0, 6.0)})

    assert point_distance_mm("conus_tip", first, second, 0.1) == pytest.approx(0.5)
    assert math.isnan(point_distance_mm("conus_tip", first, second, None))
    assert math.isnan(point_distance_mm("conus_tip", first, labels("b"), 0.1))


def test_kappa_of_a_3x3_quality_table_matches_the_hand_computation():
    # a: d d d l l n; b: d d l l n n. Observed 4/6; chance (3*2 + 2*2 + 1*2) / 36 = 1/3;
    # kappa = (2/3 - 1/3) / (1 - 1/3) = 0.5.
    grades = {"d": "diagnostic", "l": "limited", "n": "non-diagnostic"}
    frames = [
        [labels("a", task, quality=grades[x]), labels("b", task, quality=grades[y])]
        for task, (x, y) in enumerate(zip("dddlln", "ddllnn"))
    ]

    (kappa,) = choice_kappas(frames)

    assert (kappa.choice, kappa.first, kappa.second, kappa.n_frames) == ("quality", "a", "b", 6)
    assert kappa.kappa == pytest.approx(0.5)


def test_kappa_is_nan_when_both_always_chose_the_same_value():
    frames = [[labels("a", t, view="long_axis"), labels("b", t, view="long_axis")] for t in (1, 2)]

    (kappa,) = choice_kappas(frames)

    assert kappa.n_frames == 2 and math.isnan(kappa.kappa)


def test_staple_of_three_identical_masks_is_that_mask():
    painted = box(0, 1, 2, 4)

    assert np.array_equal(staple_mask([painted, painted.copy(), painted.copy()]), painted)


def test_staple_of_empty_masks_is_empty():
    assert not staple_mask([box(0, 0, 0, 0), box(0, 0, 0, 0)]).any()


def test_staple_keeps_what_two_of_three_raters_painted_at_the_border():
    core = box(0, 0, 2, 5)
    extra = box(0, 0, 3, 5)

    assert np.array_equal(staple_mask([core, core, extra]), core)


def test_majority_tie_goes_to_the_value_listed_last():
    order = ("diagnostic", "limited", "non-diagnostic")

    assert majority_choice(["diagnostic", "limited"], order) == ("limited", True)
    assert majority_choice(["limited", "limited", "diagnostic"], order) == ("limited", False)
    assert majority_choice([None, None], order) == (None, False)


def test_consensus_of_two_averages_points_and_reports_ties():
    first = labels("a", points={"conus_tip": (1.0, 1.0)}, quality="diagnostic", view="long_axis")
    second = labels("b", points={"conus_tip": (3.0, 2.0)}, quality="limited", view="long_axis")

    consensus = consensus_annotation([first, second], ["csf"], SHAPE)

    gold = consensus.annotation
    assert gold.annotator == CONSENSUS_ANNOTATOR
    assert gold.points == {"conus_tip": (2.0, 1.5)}
    assert (gold.view, gold.quality) == ("long_axis", "limited")
    assert consensus.tied_choices == ("quality",)
    assert not gold.masks["csf"].any()


def test_consensus_drops_a_point_placed_by_one_of_three_and_marks_it_not_visible():
    first = labels("a", points={"conus_tip": (1.0, 1.0)})
    second = labels("b", not_visible=frozenset({"conus_tip"}))

    gold = consensus_annotation([first, second, labels("c")], [], SHAPE).annotation

    assert gold.points == {}
    assert gold.not_visible == {"conus_tip"}


def test_single_annotation_is_its_own_gold_with_every_view_structure():
    single = labels("a", masks={"csf": box(0, 0, 1, 1)}, level="L3/4")

    gold = consensus_annotation([single], ["csf", "cord"], SHAPE).annotation

    assert gold.annotator == "a" and gold.level == "L3/4"
    assert np.array_equal(gold.masks["csf"], box(0, 0, 1, 1))
    assert not gold.masks["cord"].any()


def test_frame_mean_dice_leaves_out_structures_nobody_judged():
    first = labels("a", masks={"csf": box(0, 0, 2, 2)}, not_visible=frozenset({"cord"}))
    second = labels("b", masks={"csf": box(0, 1, 2, 4)}, not_visible=frozenset({"cord"}))

    agreement = frame_agreement([second, first], ["csf", "cord", "cauda_equina"], [], 0.1)

    assert agreement.annotators == ("a", "b")
    assert agreement.dice["csf"] == pytest.approx(0.4)
    assert agreement.dice["cord"] == 1.0
    assert math.isnan(agreement.dice["cauda_equina"])
    assert agreement.mean_dice == pytest.approx(0.7)


def test_adjudication_lists_the_lowest_mean_dice_first_and_unjudged_last():
    def pair(task_id, first_mask, second_mask):
        masks = [{"csf": first_mask}, {"csf": second_mask}]
        frame = [labels(name, task_id, masks=m) for name, m in zip("ab", masks)]
        return frame_agreement(frame, ["csf"], [], None)

    agreeing = pair(1, box(0, 0, 2, 2), box(0, 0, 2, 2))
    disagreeing = pair(2, box(0, 0, 2, 2), box(0, 1, 2, 4))
    unjudged = frame_agreement([labels("a", 3), labels("b", 3)], ["csf"], [], None)
    single = frame_agreement([labels("a", 4)], ["csf"], [], None)

    ranked = rank_for_adjudication([agreeing, unjudged, single, disagreeing])

    assert [a.task_id for a in ranked] == [2, 1, 3]
