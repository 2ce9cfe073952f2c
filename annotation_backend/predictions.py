"""From a frame to Label Studio brush predictions."""

import uuid
from dataclasses import dataclass

import numpy as np

from label_config import VIEWS, structures_for_view
from label_config.xml import IMAGE_NAME, VIEW_NAME
from training.annotations import brush_region
from training.store import SegmentationModel


@dataclass(frozen=True)
class FramePrediction:
    masks: dict[str, np.ndarray]
    """Structure key -> (H, W) bool mask; structures predicted absent are left out."""
    score: float
    """Mean per-pixel confidence max(p, 1 - p) over the view's structures, in [0.5, 1]."""


def predict_frame(
    model: SegmentationModel, gray: np.ndarray, view: str, threshold: float, min_region_px: int
) -> FramePrediction:
    """Masks for the structures of ``view`` (all structures when the view is unknown).

    Nothing is predicted outside the box around the frame's non-black pixels: upload blanks
    everything but the imaging region, so no structure can lie there.
    """
    probabilities = model.predict_probabilities(gray) * content_box(gray)
    channel = {key: i for i, key in enumerate(model.spec.structures)}
    keys = [s.key for s in structures_for_view(view) if s.key in channel]
    masks = {}
    for key in keys:
        mask = probabilities[channel[key]] > threshold
        if int(mask.sum()) >= min_region_px:
            masks[key] = mask
    chosen = probabilities[[channel[k] for k in keys]]
    score = float(np.maximum(chosen, 1.0 - chosen).mean())
    return FramePrediction(masks, score)


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
    """Brush regions for the predicted structures, and the view choice when it is known."""
    result = [brush_result(key, mask) for key, mask in prediction.masks.items()]
    if view in VIEWS:
        result.append(view_result(view))
    return {
        "result": result,
        "score": round(prediction.score, 6),
        "model_version": model_version,
    }
