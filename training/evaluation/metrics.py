"""Per-frame measures of a prediction against the gold standard.

Empty masks. Dice is undefined when the expert's mask is empty: it is left out (None), whatever
the model painted, and that frame counts in the presence specificity and the feature accuracy
instead. An empty prediction against a painted truth has Dice 0. The 95th-percentile Hausdorff
distance is measured only when both masks are painted and the pixel spacing is known.
"""

import math
import warnings

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance

RECOGNISED_DICE = 0.5
"""A structure present in both truth and prediction is recognised from this Dice on."""
RECOGNISED_DISTANCE_MM = 2.0
"""A point present in both is recognised when the two lie at most this far apart."""


def frame_dice(truth: np.ndarray, predicted: np.ndarray) -> list[float | None]:
    """Dice per channel of two (S, H, W) bool masks (MONAI); None where the truth is empty."""
    scores = compute_dice(
        torch.from_numpy(np.asarray(predicted, bool)[None]).float(),
        torch.from_numpy(np.asarray(truth, bool)[None]).float(),
        include_background=True,
        ignore_empty=True,
    )[0]
    return [None if math.isnan(value) else float(value) for value in scores.tolist()]


def hausdorff95_mm(truth: np.ndarray, predicted: np.ndarray, spacing_mm_per_px: float) -> float:
    """95th-percentile symmetric Hausdorff distance in mm between two non-empty (H, W) bool masks.

    MONAI's definition: edge pixels are the mask minus its 4-neighbour erosion (a pixel on the
    image border is an edge pixel); for each direction the 95th percentile of the edge-to-edge
    distances (linear interpolation), and the larger of the two directions.
    """
    if not truth.any() or not predicted.any():
        raise ValueError("the Hausdorff distance needs two non-empty masks")
    with warnings.catch_warnings():
        # MONAI 1.6 passes its own deprecated argument internally; nothing to change here.
        warnings.filterwarnings("ignore", "monai.metrics.utils get_mask_edges", FutureWarning)
        distance = compute_hausdorff_distance(
            torch.from_numpy(np.asarray(predicted, bool)[None, None]).float(),
            torch.from_numpy(np.asarray(truth, bool)[None, None]).float(),
            include_background=True,
            percentile=95,
            spacing=float(spacing_mm_per_px),
        )
    return float(distance[0, 0])


def point_distance_mm(
    truth: tuple[float, float], predicted: tuple[float, float], spacing_mm_per_px: float | None
) -> float | None:
    """Distance in mm between two (x_px, y_px) points; None when the spacing is unknown."""
    if spacing_mm_per_px is None:
        return None
    return math.hypot(predicted[0] - truth[0], predicted[1] - truth[1]) * spacing_mm_per_px


def structure_recognised(truth_present: bool, predicted_present: bool, dice: float | None) -> bool:
    """Right when the presence calls match and, when both are present, Dice >= 0.5."""
    if truth_present != predicted_present:
        return False
    return not truth_present or (dice is not None and dice >= RECOGNISED_DICE)


def point_recognised(
    truth_present: bool, predicted_present: bool, distance_mm: float | None
) -> bool:
    """Right when the presence calls match and, when both are present and the distance is known
    (spacing known), the points lie at most 2 mm apart; with no distance, presence alone."""
    if truth_present != predicted_present:
        return False
    return not truth_present or distance_mm is None or distance_mm <= RECOGNISED_DISTANCE_MM
