"""Run a model over hold-out frames as the annotation backend serves it, and score every frame."""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from annotation_backend.predictions import FramePrediction, masked_probabilities, predict_frame
from label_config.schema import structures_for_view
from training.evaluation.depth import skin_to_csf_mm
from training.evaluation.frames import EvaluationFrame
from training.evaluation.metrics import frame_dice, hausdorff95_mm, point_distance_mm
from training.evaluation.results import (
    DepthRecord,
    Evaluation,
    FrameRecord,
    OverlayFrame,
    PointRecord,
    StructureRecord,
)
from training.store import SegmentationModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _FrameOutcome:
    frame: FrameRecord
    structures: list[StructureRecord]
    points: list[PointRecord]
    depth: DepthRecord


def evaluate(
    model: SegmentationModel,
    frames: Iterable[EvaluationFrame],
    *,
    threshold: float = 0.5,
    min_region_px: int = 30,
    progress: bool = True,
) -> Evaluation:
    """Score ``model`` on ``frames`` against their gold standard.

    The masks and points scored are those the backend serves: ``predict_frame`` with plain
    confidence (no dropout passes), post-processed. The presence scores for calibration come
    from ``model.predict_probabilities``. Raises ValueError when a frame's truth does not have
    one channel per structure of the model.
    """
    frames = list(frames)
    started = time.monotonic()
    outcomes = [
        _evaluate_frame(model, frame, threshold, min_region_px)
        for frame in tqdm(frames, desc="evaluating", unit="frame", disable=not progress)
    ]
    evaluation = Evaluation(
        model_version=model.version,
        threshold=threshold,
        min_region_px=min_region_px,
        frames=[o.frame for o in outcomes],
        structures=[r for o in outcomes for r in o.structures],
        points=[r for o in outcomes for r in o.points],
        depths=[o.depth for o in outcomes],
        elapsed_s=0.0,
    )
    evaluation.overlays = _overlays(model, frames, evaluation.frames, threshold, min_region_px)
    evaluation.elapsed_s = round(time.monotonic() - started, 1)
    logger.info(
        "evaluated model %s on %d frames of %d clips in %.1f s",
        model.version,
        len(frames),
        len(evaluation.clips()),
        evaluation.elapsed_s,
    )
    return evaluation


def _evaluate_frame(
    model: SegmentationModel, frame: EvaluationFrame, threshold: float, min_region_px: int
) -> _FrameOutcome:
    _check_truth(model, frame)
    probabilities = masked_probabilities(model, frame.image)
    prediction = predict_frame(
        model,
        frame.image,
        frame.view,
        threshold,
        min_region_px,
        uncertainty_passes=0,
        probabilities=probabilities,
    )
    truth, predicted = _view_masks(model, frame, prediction)
    structures = _structure_records(model, frame, truth, predicted, probabilities)
    judged = [r.dice for r in structures if r.dice is not None]
    mean_dice = float(np.mean(judged)) if judged else None
    spacing = frame.spacing_mm_per_px
    return _FrameOutcome(
        FrameRecord(frame.clip_id, frame.frame_index, frame.view, spacing, mean_dice),
        structures,
        _point_records(frame, prediction),
        DepthRecord(
            frame.clip_id,
            frame.frame_index,
            frame.view,
            skin_to_csf_mm(frame.image, frame.view, truth, spacing),
            skin_to_csf_mm(frame.image, frame.view, predicted, spacing),
        ),
    )


def _view_masks(
    model: SegmentationModel, frame: EvaluationFrame, prediction: FramePrediction
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Key -> (H, W) bool truth and served masks (empty when predicted absent), for the
    structures of the frame's view that the model segments."""
    channel = {key: i for i, key in enumerate(model.spec.structures)}
    keys = [s.key for s in structures_for_view(frame.view) if s.key in channel]
    empty = np.zeros(frame.image.shape, bool)
    truth = {key: frame.truth[channel[key]] for key in keys}
    return truth, {key: prediction.masks.get(key, empty) for key in keys}


def _structure_records(
    model: SegmentationModel,
    frame: EvaluationFrame,
    truth: dict[str, np.ndarray],
    predicted: dict[str, np.ndarray],
    scores: np.ndarray,
) -> list[StructureRecord]:
    if not truth:
        return []
    keys = list(truth)
    dice = frame_dice(np.stack(list(truth.values())), np.stack([predicted[k] for k in keys]))
    channel = {key: i for i, key in enumerate(model.spec.structures)}
    return [
        _structure_record(frame, key, truth[key], predicted[key], d, scores[channel[key]].max())
        for key, d in zip(keys, dice)
    ]


def _check_truth(model: SegmentationModel, frame: EvaluationFrame) -> None:
    expected = (len(model.spec.structures), *frame.image.shape)
    if frame.truth.shape != expected:
        raise ValueError(
            f"truth of {frame.clip_id} frame {frame.frame_index} has shape {frame.truth.shape}; "
            f"expected {expected}: one (H, W) channel per structure of the model, in the order "
            f"{model.spec.structures}"
        )


def _structure_record(
    frame: EvaluationFrame,
    key: str,
    truth: np.ndarray,
    predicted: np.ndarray,
    dice: float | None,
    confidence: float,
) -> StructureRecord:
    """``confidence``: the highest probability of the structure inside the imaging region."""
    truth_present, predicted_present = bool(truth.any()), bool(predicted.any())
    measurable = truth_present and predicted_present and frame.spacing_mm_per_px is not None
    hd95 = hausdorff95_mm(truth, predicted, frame.spacing_mm_per_px) if measurable else None
    return StructureRecord(
        frame.clip_id,
        frame.frame_index,
        frame.view,
        key,
        truth_present,
        predicted_present,
        dice,
        hd95,
        float(confidence),
    )


def _point_records(frame: EvaluationFrame, prediction: FramePrediction) -> list[PointRecord]:
    records = []
    for key in frame.point_keys():
        truth, predicted = frame.truth_points.get(key), prediction.points.get(key)
        both = truth is not None and predicted is not None
        distance = point_distance_mm(truth, predicted, frame.spacing_mm_per_px) if both else None
        records.append(
            PointRecord(
                frame.clip_id,
                frame.frame_index,
                frame.view,
                key,
                truth is not None,
                predicted is not None,
                distance,
            )
        )
    return records


def _overlays(
    model: SegmentationModel,
    frames: list[EvaluationFrame],
    records: list[FrameRecord],
    threshold: float,
    min_region_px: int,
) -> list[OverlayFrame]:
    """The best, median and worst frames by mean Dice (frames with a painted structure only),
    predicted again: the prediction is deterministic, and keeping every mask costs memory."""
    ranked = sorted(
        (i for i, r in enumerate(records) if r.mean_dice is not None),
        key=lambda i: records[i].mean_dice,
    )
    if not ranked:
        return []
    picks = {"best": ranked[-1], "median": ranked[len(ranked) // 2], "worst": ranked[0]}
    channel = {key: i for i, key in enumerate(model.spec.structures)}
    overlays = []
    for label, index in picks.items():
        frame = frames[index]
        prediction = predict_frame(
            model, frame.image, frame.view, threshold, min_region_px, uncertainty_passes=0
        )
        keys = [s.key for s in structures_for_view(frame.view) if s.key in channel]
        overlays.append(
            OverlayFrame(
                label,
                frame.clip_id,
                frame.frame_index,
                frame.view,
                records[index].mean_dice,
                frame.image,
                {k: frame.truth[channel[k]] for k in keys},
                {k: m for k, m in prediction.masks.items() if k in keys},
                dict(frame.truth_points),
                dict(prediction.points),
            )
        )
    return overlays
