"""Evaluation against the gold standard: hand-computed measures on tiny masks, the phantom's
truth, and a report written end to end."""

import json
import math
import re

import numpy as np
import pytest
import torch

from annotation_backend.postprocess import conus_tip
from label_config.schema import LONG_AXIS, SHORT_AXIS
from tests.phantom_annotations import TINY_SPEC, constant_network
from training.evaluation import (
    EvaluationFrame,
    evaluate,
    phantom_evaluation_frames,
    write_report,
)
from training.evaluation.depth import skin_to_csf_mm
from training.evaluation.frames import true_conus_tip_px
from training.evaluation.metrics import (
    frame_dice,
    hausdorff95_mm,
    point_distance_mm,
    point_recognised,
)
from training.evaluation.results import Evaluation, FrameRecord, StructureRecord
from training.evaluation.statistics import calibration, error_summary, proportion
from training.phantom import generate_clip
from training.store import SegmentationModel

CHANNEL = {key: i for i, key in enumerate(TINY_SPEC.structures)}


def painting_model(painted: set[str]) -> SegmentationModel:
    """A tiny model that paints every pixel of the structures in ``painted`` and nothing else."""
    network = constant_network(-8.0)
    biases = [p for name, p in network.named_parameters() if name.endswith("bias")]
    with torch.no_grad():
        for key in painted:
            biases[-1][CHANNEL[key]] = 8.0
    network.eval()
    return SegmentationModel("v0042", TINY_SPEC, network, {})


def long_axis_frame(truth: dict[str, np.ndarray], shape=(32, 40)) -> EvaluationFrame:
    masks = np.zeros((len(TINY_SPEC.structures), *shape), bool)
    for key, mask in truth.items():
        masks[CHANNEL[key]] = mask
    return EvaluationFrame(
        "clip-a", 7, LONG_AXIS, 0.5, np.full(shape, 120, np.uint8), masks, {}, ()
    )


def records_by_key(evaluation: Evaluation) -> dict[str, StructureRecord]:
    return {r.structure: r for r in evaluation.structures}


def test_empty_truth_with_a_false_positive_has_no_dice_counts_against_specificity_and_is_wrong():
    square = np.zeros((32, 40), bool)
    square[8:16, 10:20] = True
    frame = long_axis_frame({"csf": square})

    evaluation = evaluate(painting_model({"spinous_process", "csf"}), [frame], progress=False)

    record = records_by_key(evaluation)["spinous_process"]
    assert (record.truth_present, record.predicted_present) == (False, True)
    assert record.dice is None and record.hd95_mm is None
    assert not record.right
    summary = evaluation.structure_summary("spinous_process")
    assert (summary["specificity"].successes, summary["specificity"].trials) == (0, 1)
    assert summary["sensitivity"].trials == 0
    assert summary["dice_n"] == 0 and summary["dice_mean"] is None
    # The painted CSF square (80 px) against a full-frame prediction (1280 px).
    assert records_by_key(evaluation)["csf"].dice == pytest.approx(2 * 80 / (80 + 1280))


def test_structure_absent_from_both_is_recognised_without_a_dice():
    frame = long_axis_frame({})

    evaluation = evaluate(painting_model(set()), [frame], progress=False)

    record = records_by_key(evaluation)["interspinous_window"]
    assert (record.truth_present, record.predicted_present, record.dice) == (False, False, None)
    assert record.right
    summary = evaluation.structure_summary("interspinous_window")
    assert (summary["specificity"].successes, summary["specificity"].trials) == (1, 1)
    assert summary["dice_n"] == 0
    assert evaluation.mean_dice() is None
    assert evaluation.frames[0].mean_dice is None


def test_painted_truth_missed_by_the_model_has_dice_zero_and_is_wrong():
    square = np.zeros((32, 40), bool)
    square[8:16, 10:20] = True

    evaluation = evaluate(painting_model(set()), [long_axis_frame({"csf": square})], progress=False)

    record = records_by_key(evaluation)["csf"]
    assert record.dice == 0.0 and not record.right
    assert evaluation.structure_summary("csf")["sensitivity"].successes == 0


def test_only_structures_of_the_frames_view_are_scored():
    evaluation = evaluate(painting_model(set()), [long_axis_frame({})], progress=False)

    assert "thecal_sac" not in records_by_key(evaluation)
    assert "interspinous_window" in records_by_key(evaluation)


def test_truth_with_the_wrong_number_of_channels_is_refused():
    frame = long_axis_frame({})
    wrong = EvaluationFrame("c", 0, LONG_AXIS, 0.5, frame.image, frame.truth[:3], {})

    with pytest.raises(ValueError, match="one \\(H, W\\) channel per structure"):
        evaluate(painting_model(set()), [wrong], progress=False)


def test_dice_is_undefined_for_an_empty_truth_and_zero_for_an_empty_prediction():
    truth = np.zeros((3, 4, 4), bool)
    predicted = np.zeros((3, 4, 4), bool)
    predicted[0, 0, 0] = True  # empty truth, one false-positive pixel
    truth[1, :2, :2] = True  # painted truth, nothing predicted
    truth[2, :2, :2] = True
    predicted[2, :2, :1] = True  # 2 of 4 pixels found

    assert frame_dice(truth, predicted) == [None, 0.0, pytest.approx(2 * 2 / (4 + 2))]


def test_hd95_of_masks_touching_the_border_matches_the_hand_computed_value():
    truth = np.zeros((6, 10), bool)
    truth[0, :] = True  # the top row: every pixel is an edge pixel on the border
    predicted = truth.copy()
    predicted[3, 0] = True  # one stray pixel 3 px below the top-left corner

    # predicted -> truth: ten distances of 0 and one of 3 px; the 95th percentile of 11 sorted
    # values lies at position 0.95 x 10 = 9.5, halfway between 0 and 3: 1.5 px. truth ->
    # predicted: all 0. Symmetric: 1.5 px x 0.4 mm = 0.6 mm.
    assert hausdorff95_mm(truth, predicted, 0.4) == pytest.approx(0.6, abs=1e-5)
    assert hausdorff95_mm(predicted, truth, 0.4) == pytest.approx(0.6, abs=1e-5)


def test_hd95_needs_two_painted_masks():
    with pytest.raises(ValueError, match="non-empty"):
        hausdorff95_mm(np.zeros((4, 4), bool), np.ones((4, 4), bool), 1.0)


def test_wilson_interval_of_95_in_100_is_the_textbook_value():
    result = proportion(95, 100)

    assert result.value == 0.95
    assert result.low == pytest.approx(0.8883, abs=1e-4)
    assert result.high == pytest.approx(0.9785, abs=1e-4)


def test_proportion_of_nothing_is_undefined():
    assert proportion(0, 0).value is None and proportion(0, 0).low is None


def test_point_two_mm_away_is_recognised_and_just_beyond_is_not():
    at_limit = point_distance_mm((10.0, 5.0), (18.0, 5.0), 0.25)
    beyond = point_distance_mm((10.0, 5.0), (10.0, 13.1), 0.25)

    assert at_limit == 2.0
    assert point_recognised(True, True, at_limit)
    assert beyond == pytest.approx(2.025)
    assert not point_recognised(True, True, beyond)


def test_point_with_unknown_spacing_is_scored_on_presence_alone():
    distance = point_distance_mm((0.0, 0.0), (300.0, 0.0), None)

    assert distance is None
    assert point_recognised(True, True, distance)
    assert not point_recognised(True, False, distance)
    assert point_recognised(False, False, None)


def test_depth_on_a_two_layer_mask_runs_from_skin_line_to_csf_in_the_window_column():
    image = np.zeros((24, 12), np.uint8)
    image[2:, :] = 90  # blanked band above the probe face: the skin line is row 2
    csf = np.zeros((24, 12), bool)
    for column in range(12):
        csf[10 + column // 2 :, column] = True  # CSF top sinks by one row every two columns
    window = np.zeros((24, 12), bool)
    window[4:8, 3:6] = True  # 12 px, mean column 4: CSF from row 12
    window[4:6, 9:11] = True  # a smaller second window, ignored
    masks = {"interspinous_window": window, "csf": csf}

    assert skin_to_csf_mm(image, LONG_AXIS, masks, 0.5) == (12 - 2) * 0.5
    assert skin_to_csf_mm(image, LONG_AXIS, masks, None) is None
    assert skin_to_csf_mm(image, LONG_AXIS, {"csf": csf}, 0.5) is None


def test_depth_in_short_axis_is_taken_at_the_sac_midline():
    image = np.full((24, 12), 90, np.uint8)
    csf = np.zeros((24, 12), bool)
    for column in range(12):
        csf[10 + column // 2 :, column] = True
    sac = np.zeros((24, 12), bool)
    sac[10:20, 6:11] = True  # mean column 8: CSF from row 14

    depth = skin_to_csf_mm(image, SHORT_AXIS, {"thecal_sac": sac, "csf": csf}, 0.25)

    assert depth == 14 * 0.25


def test_error_summary_of_depths():
    summary = error_summary([1.0, -1.0, 2.0, 0.0])

    assert summary.mean_absolute == 1.0 and summary.bias == 0.5
    assert summary.median_absolute == 1.0
    assert summary.p95_absolute == pytest.approx(1.85)


def test_calibration_bins_and_expected_calibration_error():
    result = calibration([0.05, 0.15, 0.95, 0.95, 1.0], [False, True, True, False, True])

    last = result.bins[-1]
    assert (last.count, last.observed_fraction) == (3, pytest.approx(2 / 3))
    assert last.mean_score == pytest.approx(2.9 / 3)
    # (0.05 + 0.85 + 3 x |2/3 - 2.9/3|) / 5
    assert result.expected_calibration_error == pytest.approx((0.05 + 0.85 + 0.9) / 5)


def structure_record(index: int, right: bool) -> StructureRecord:
    return StructureRecord(
        "c", index, LONG_AXIS, "csf", True, True, 0.9 if right else 0.2, 1.0, 1.0
    )


def test_goals_are_computed_from_the_records():
    records = [structure_record(i, right=i < 99) for i in range(100)]
    frames = [FrameRecord("c", i, LONG_AXIS, 0.5, r.dice) for i, r in enumerate(records)]
    evaluation = Evaluation("v0001", 0.5, 30, frames, records, [], [], 0.0)

    accuracy_goal, dice_goal = evaluation.goals()

    assert accuracy_goal.value == 0.99 and accuracy_goal.met
    assert accuracy_goal.lower_bound == pytest.approx(proportion(99, 100).low)
    assert accuracy_goal.met_at_lower_bound is False  # the Wilson lower bound is about 0.946
    assert dice_goal.value == pytest.approx((99 * 0.9 + 0.2) / 100) and dice_goal.met


@pytest.fixture(scope="module")
def long_axis_clip():
    return generate_clip(0, LONG_AXIS)


def test_phantom_frames_alternate_views_and_are_blank_outside_the_imaging_region():
    frames = phantom_evaluation_frames([4, 5], 2)

    assert [(f.clip_id, f.view) for f in frames] == [
        ("phantom-4", LONG_AXIS),
        ("phantom-4", LONG_AXIS),
        ("phantom-5", SHORT_AXIS),
        ("phantom-5", SHORT_AXIS),
    ]
    assert [f.frame_index for f in frames[:2]] == [0, 179]
    clip = generate_clip(4, LONG_AXIS)
    x0, y0, x1, y1 = clip.imaging_region
    image = frames[0].image
    assert not image[:y0].any() and not image[:, :x0].any() and not image[:, x1:].any()
    assert frames[0].truth.dtype == bool and frames[0].truth.shape[0] == len(TINY_SPEC.structures)
    assert frames[2].point_keys() == () and frames[0].point_keys() == ("conus_tip",)


def test_phantom_conus_tip_lies_at_the_end_of_the_truth_cord(long_axis_clip):
    clip = long_axis_clip
    checked = 0
    for index in (0, 60, 120):
        point = true_conus_tip_px(clip, index)
        if point is None:
            continue
        cord = clip.render(index).masks[CHANNEL["cord"]] > 0
        x0, y0, x1, y1 = clip.imaging_region
        region = np.zeros(cord.shape, bool)
        region[y0:y1, x0:x1] = True
        from_mask = conus_tip(cord, region)
        distance_mm = math.dist(point, from_mask) * clip.spacing_mm_per_px
        assert distance_mm < 0.5
        checked += 1
    assert checked, "seed 0 should show its conus tip in long axis"


@pytest.mark.parametrize("seed", [0, 1])
def test_phantom_truth_depth_is_the_phantom_skin_to_csf_depth(seed):
    frame = phantom_evaluation_frames([seed], 1)[0]
    clip = generate_clip(seed, frame.view)
    masks = {key: frame.truth[CHANNEL[key]] for key in CHANNEL}

    depth = skin_to_csf_mm(frame.image, frame.view, masks, frame.spacing_mm_per_px)

    assert 10.0 - 1.5 <= depth <= 15.0 + 1.5
    assert depth == pytest.approx(clip.skin_to_csf_mm, abs=1.5)


LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def test_report_end_to_end_on_two_tiny_phantom_clips(untrained_store, tmp_path):
    model = untrained_store.load_champion()
    frames = phantom_evaluation_frames([0, 1], 2)
    history = [{"epoch": 1, "loss": 1.2, "validation_mean_dice": 0.3}, {"epoch": 2, "loss": 0.9}]

    evaluation = evaluate(model, frames, progress=False)
    report = write_report(evaluation, tmp_path / "report", {**model.metadata, "history": history})

    text = report.read_text()
    links = LINK.findall(text)
    assert set(links) == {"structures.png", "overlays.png", "calibration.png", "learning-curve.png"}
    for link in links:
        assert (report.parent / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Evaluation of model {model.version}" in text
    assert "**Goals.**" in text and "phantom-0" in text and "phantom-1" in text
    metrics = json.loads((report.parent / "metrics.json").read_text())
    for key in evaluation.structure_keys():
        summary = evaluation.structure_summary(key)
        stored = metrics["structures"][key]
        assert stored["dice_n"] == summary["dice_n"]
        assert stored["dice_mean"] == pytest.approx(summary["dice_mean"])
        assert stored["feature_accuracy"]["trials"] == summary["feature_accuracy"].trials
    assert len(metrics["records"]["frames"]) == 4
    assert metrics["split"]["phantom-1"]["frame_indices"] == [0, 179]
    assert metrics["goals"][0]["value"] == pytest.approx(evaluation.feature_accuracy().value)


def test_report_without_training_history_says_why_there_is_no_learning_curve(tmp_path):
    square = np.zeros((32, 40), bool)
    square[8:16, 10:20] = True
    evaluation = evaluate(
        painting_model({"csf"}), [long_axis_frame({"csf": square})], progress=False
    )

    report = write_report(evaluation, tmp_path, {"trained_on": "nothing"})

    text = report.read_text()
    assert "learning-curve.png" not in text and "no training history" in text
    assert not (tmp_path / "learning-curve.png").exists()
