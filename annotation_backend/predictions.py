"""From a frame to Label Studio brush and keypoint predictions."""

import uuid
from dataclasses import dataclass, field

import numpy as np

from annotation_backend.postprocess import clean_mask, conus_tip
from label_config import LONG_AXIS, VIEWS, structures_for_view
from label_config.xml import IMAGE_NAME, VIEW_NAME
from training.annotations import brush_region, keypoint_region
from training.store import SegmentationModel
from training.uncertainty import (
    DEFAULT_PASSES,
    confidence_score,
    mc_dropout_probabilities,
    on_network_grid,
    uncertainty_score,
)


@dataclass(frozen=True)
class FramePrediction:
    masks: dict[str, np.ndarray]
    """Structure key -> (H, W) bool mask, post-processed; structures predicted absent are left
    out."""
    score: float
    """Certainty in [0, 1], higher = more certain: ``training.uncertainty.uncertainty_score`` of
    Monte Carlo dropout passes, or with no passes the mean per-pixel confidence max(p, 1 - p)."""
    points: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Keypoint key -> (x_px, y_px) derived from the masks, continuous pixel coordinates."""
    frame_shape_px: tuple[int, int] = (0, 0)
    """(H, W) of the frame."""


def predict_frame(
    model: SegmentationModel,
    gray: np.ndarray,
    view: str,
    threshold: float,
    min_region_px: int,
    uncertainty_passes: int = DEFAULT_PASSES,
    probabilities: np.ndarray | None = None,
) -> FramePrediction:
    """Masks for the structures of ``view`` (all structures when the view is unknown).

    Nothing is predicted outside the box around the frame's non-black pixels: upload blanks
    everything but the imaging region, so no structure can lie there. Masks come from the
    deterministic (dropout off) network and are cleaned by ``postprocess.clean_mask``; in long
    axis the conus tip is placed at the caudal end of the cord when it ends inside the frame.
    ``uncertainty_passes`` dropout passes score the frame; 0 scores by plain confidence.
    Deterministic: the same arguments give the same prediction. ``probabilities``: the
    frame's ``masked_probabilities``, when the caller has them already.
    """
    box = content_box(gray)
    if probabilities is None:
        probabilities = masked_probabilities(model, gray)
    channel = {key: i for i, key in enumerate(model.spec.structures)}
    keys = [s.key for s in structures_for_view(view) if s.key in channel]
    masks = {}
    for key in keys:
        mask = clean_mask(key, probabilities[channel[key]] > threshold, min_region_px)
        if mask.any():
            masks[key] = mask
    indices = [channel[k] for k in keys]
    if uncertainty_passes > 0:
        samples = mc_dropout_probabilities(model, gray, uncertainty_passes, indices)
        samples *= on_network_grid(box, model.spec.input_size)
        score = uncertainty_score(samples, threshold)
    else:
        score = confidence_score(probabilities[indices])
    return FramePrediction(masks, score, _points(masks, view, box > 0), gray.shape)


def _points(masks: dict[str, np.ndarray], view: str, region: np.ndarray) -> dict:
    """Keypoint key -> (x_px, y_px) derivable from ``masks``: the conus tip, in long axis."""
    tip = conus_tip(masks["cord"], region) if view == LONG_AXIS and "cord" in masks else None
    return {} if tip is None else {"conus_tip": tip}


def masked_probabilities(model: SegmentationModel, gray: np.ndarray) -> np.ndarray:
    """(S, H, W) probabilities of the deterministic pass, zero outside the ``content_box``."""
    return model.predict_probabilities(gray) * content_box(gray)


def content_box(gray: np.ndarray) -> np.ndarray:
    """(H, W) float32: 1 inside the bounding box of the non-zero pixels, 0 elsewhere."""
    box = np.zeros(gray.shape, np.float32)
    rows, columns = np.flatnonzero(gray.max(axis=1)), np.flatnonzero(gray.max(axis=0))
    if rows.size:
        box[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1] = 1.0
    return box


def brush_result(key: str, mask: np.ndarray) -> dict:
    """One BrushLabels region in Label Studio's RLE, sized to the frame, marked as predicted."""
    return {**brush_region(key, mask, uuid.uuid4().hex[:10]), "origin": "prediction"}


def view_result(view: str) -> dict:
    """The frame's view, known from upload, pre-filled so that annotators only confirm it."""
    return {
        "from_name": VIEW_NAME,
        "to_name": IMAGE_NAME,
        "type": "choices",
        "origin": "prediction",
        "value": {"choices": [view]},
    }


def label_studio_prediction(
    prediction: FramePrediction, model_version: str, view: str | None = None
) -> dict:
    """Brush regions for the predicted structures, keypoints derived from them, and the view
    choice when it is known."""
    result = [brush_result(key, mask) for key, mask in prediction.masks.items()]
    result += [
        {**keypoint_region(key, point, prediction.frame_shape_px), "origin": "prediction"}
        for key, point in prediction.points.items()
    ]
    if view in VIEWS:
        result.append(view_result(view))
    return {
        "result": result,
        "score": round(prediction.score, 6),
        "model_version": model_version,
    }
