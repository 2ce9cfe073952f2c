"""What an evaluation found: one record per frame and structure (and keypoint), and the figures
summarised from them.

Per structure, over the frames of the views where it is drawn:

- Dice: mean over the frames where the expert painted it (see ``metrics`` for empty masks);
- HD95 in mm: over the frames where both painted it and the spacing is known;
- presence sensitivity and specificity, present meaning a non-empty mask after post-processing;
- feature recognition accuracy: the share of (frame, structure) calls that are right.

Mean Dice is the mean of the per-structure means. Every proportion carries a 95% Wilson interval.
"""

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from training.evaluation.metrics import point_recognised, structure_recognised
from training.evaluation.statistics import (
    Calibration,
    Proportion,
    calibration,
    error_summary,
    mean_or_none,
    proportion_of,
)

FEATURE_ACCURACY_GOAL = 0.95
MEAN_DICE_GOAL = 0.85


@dataclass(frozen=True)
class StructureRecord:
    """One structure on one frame. ``dice``: None when the expert's mask is empty. ``hd95_mm``:
    None unless both masks are painted and the spacing is known. ``confidence``: the model's
    presence score, its highest probability for the structure inside the imaging region."""

    clip_id: str
    frame_index: int
    view: str
    structure: str
    truth_present: bool
    predicted_present: bool
    dice: float | None
    hd95_mm: float | None
    confidence: float

    @property
    def right(self) -> bool:
        return structure_recognised(self.truth_present, self.predicted_present, self.dice)


@dataclass(frozen=True)
class PointRecord:
    """One keypoint on one frame; ``distance_mm`` None unless both placed it and the spacing is
    known (the point is then scored on presence alone)."""

    clip_id: str
    frame_index: int
    view: str
    keypoint: str
    truth_present: bool
    predicted_present: bool
    distance_mm: float | None

    @property
    def right(self) -> bool:
        return point_recognised(self.truth_present, self.predicted_present, self.distance_mm)

    @property
    def presence_only(self) -> bool:
        """Both placed the point but the spacing is unknown: scored on presence alone."""
        return self.truth_present and self.predicted_present and self.distance_mm is None


@dataclass(frozen=True)
class DepthRecord:
    """Skin-to-CSF depth of one frame from the expert's and from the model's masks, in mm;
    None where it could not be measured."""

    clip_id: str
    frame_index: int
    view: str
    truth_mm: float | None
    predicted_mm: float | None


@dataclass(frozen=True)
class FrameRecord:
    clip_id: str
    frame_index: int
    view: str
    spacing_mm_per_px: float | None
    mean_dice: float | None
    """Mean Dice over the structures the expert painted on this frame; None when none."""


@dataclass(frozen=True)
class OverlayFrame:
    """A frame kept for the overlay plot: (H, W) uint8 image, key -> (H, W) bool masks."""

    label: str
    clip_id: str
    frame_index: int
    view: str
    mean_dice: float
    image: np.ndarray
    truth: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]
    truth_points: dict[str, tuple[float, float]]
    predicted_points: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Goal:
    """A target met by the point estimate (``met``) and, for a proportion, by its lower 95%
    bound as well (``met_at_lower_bound``); None when there was nothing to measure."""

    name: str
    target: float
    value: float | None
    lower_bound: float | None
    met: bool | None
    met_at_lower_bound: bool | None


@dataclass
class Evaluation:
    model_version: str
    threshold: float
    min_region_px: int
    frames: list[FrameRecord]
    structures: list[StructureRecord]
    points: list[PointRecord]
    depths: list[DepthRecord]
    elapsed_s: float
    overlays: list[OverlayFrame] = field(default_factory=list)

    def structure_keys(self) -> list[str]:
        return list(dict.fromkeys(r.structure for r in self.structures))

    def keypoint_keys(self) -> list[str]:
        return list(dict.fromkeys(r.keypoint for r in self.points))

    def views(self) -> list[str]:
        return list(dict.fromkeys(f.view for f in self.frames))

    def clips(self) -> dict[str, dict]:
        """Clip id -> its view and the frame indices evaluated, in evaluation order."""
        clips: dict[str, dict] = {}
        for frame in self.frames:
            clip = clips.setdefault(frame.clip_id, {"view": frame.view, "frame_indices": []})
            clip["frame_indices"].append(frame.frame_index)
        return clips

    def structure_summary(self, key: str) -> dict:
        records = [r for r in self.structures if r.structure == key]
        dice = [r.dice for r in records if r.dice is not None]
        hd95 = [r.hd95_mm for r in records if r.hd95_mm is not None]
        return {
            "frames": len(records),
            "truth_present": sum(r.truth_present for r in records),
            "predicted_present": sum(r.predicted_present for r in records),
            "dice_mean": mean_or_none(dice),
            "dice_n": len(dice),
            "hd95_mm_mean": mean_or_none(hd95),
            "hd95_mm_median": float(np.median(hd95)) if hd95 else None,
            "hd95_n": len(hd95),
            **_presence(records),
            "feature_accuracy": proportion_of([r.right for r in records]),
        }

    def keypoint_summary(self, key: str) -> dict:
        records = [r for r in self.points if r.keypoint == key]
        distances = [r.distance_mm for r in records if r.distance_mm is not None]
        return {
            "frames": len(records),
            "truth_present": sum(r.truth_present for r in records),
            "predicted_present": sum(r.predicted_present for r in records),
            "distance_mm_mean": mean_or_none(distances),
            "distance_mm_median": float(np.median(distances)) if distances else None,
            "distance_n": len(distances),
            "presence_only": sum(r.presence_only for r in records),
            **_presence(records),
            "feature_accuracy": proportion_of([r.right for r in records]),
        }

    def mean_dice(self) -> float | None:
        """Mean over structures of their mean Dice; structures never painted are left out."""
        means = [self.structure_summary(k)["dice_mean"] for k in self.structure_keys()]
        return mean_or_none([m for m in means if m is not None])

    def feature_accuracy(self, where: Callable[[str, str], bool] = lambda view, key: True):
        """Share of right calls over every (frame, structure) and (frame, keypoint) record whose
        (view, key) passes ``where``."""
        calls = [r.right for r in self.structures if where(r.view, r.structure)]
        calls += [r.right for r in self.points if where(r.view, r.keypoint)]
        return proportion_of(calls)

    def depth_summary(self, view: str | None = None) -> dict:
        """Errors of the model's depth against the expert's (predicted - truth, mm)."""
        records = [r for r in self.depths if view is None or r.view == view]
        both = [r for r in records if r.truth_mm is not None and r.predicted_mm is not None]
        truth = [r.truth_mm for r in records if r.truth_mm is not None]
        return {
            "frames": len(records),
            "error_mm": error_summary([r.predicted_mm - r.truth_mm for r in both]),
            "not_measured_truth": sum(r.truth_mm is None for r in records),
            "not_measured_predicted": sum(r.predicted_mm is None for r in records),
            "not_measured_either": len(records) - len(both),
            "truth_mm_mean": mean_or_none(truth),
            "truth_mm_min": min(truth, default=None),
            "truth_mm_max": max(truth, default=None),
        }

    def calibration(self) -> Calibration:
        return calibration(
            [r.confidence for r in self.structures], [r.truth_present for r in self.structures]
        )

    def goals(self) -> list[Goal]:
        accuracy = self.feature_accuracy()
        dice = self.mean_dice()
        return [
            Goal(
                "feature recognition accuracy",
                FEATURE_ACCURACY_GOAL,
                accuracy.value,
                accuracy.low,
                None if accuracy.value is None else accuracy.value >= FEATURE_ACCURACY_GOAL,
                None if accuracy.low is None else accuracy.low >= FEATURE_ACCURACY_GOAL,
            ),
            Goal(
                "mean Dice",
                MEAN_DICE_GOAL,
                dice,
                None,
                None if dice is None else dice >= MEAN_DICE_GOAL,
                None,
            ),
        ]

    def summary(self) -> str:
        """A few lines for a console: size, goals, depth error, time."""
        accuracy, depth = self.feature_accuracy(), self.depth_summary()["error_mm"]
        mean_dice = self.mean_dice()
        lines = [
            f"model {self.model_version}: {len(self.frames)} frames of {len(self.clips())} clips "
            f"in {self.elapsed_s:.1f} s",
            f"feature recognition accuracy {accuracy.text()}",
            f"mean Dice {'-' if mean_dice is None else f'{mean_dice:.3f}'}",
        ]
        if depth.n:
            lines.append(
                f"skin-to-CSF depth: MAE {depth.mean_absolute:.2f} mm, bias {depth.bias:+.2f} mm "
                f"over {depth.n} frames"
            )
        for goal in self.goals():
            verdict = {True: "met", False: "not met", None: "not measured"}[goal.met]
            lines.append(f"goal {goal.name} >= {goal.target:g}: {verdict}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """Every figure of the report and every record, as JSON-ready values (None for
        undefined); the overlay images are left out."""
        return _jsonable(
            {
                "model_version": self.model_version,
                "settings": {
                    "threshold": self.threshold,
                    "min_region_px": self.min_region_px,
                    "uncertainty_passes": 0,
                },
                "elapsed_s": self.elapsed_s,
                "split": self.clips(),
                "goals": self.goals(),
                "mean_dice": self.mean_dice(),
                "feature_accuracy": {
                    "overall": self.feature_accuracy(),
                    "per_view": {v: self.feature_accuracy(_in_view(v)) for v in self.views()},
                },
                "structures": {k: self.structure_summary(k) for k in self.structure_keys()},
                "keypoints": {k: self.keypoint_summary(k) for k in self.keypoint_keys()},
                "depth": {
                    "overall": self.depth_summary(),
                    "per_view": {v: self.depth_summary(v) for v in self.views()},
                },
                "calibration": self.calibration(),
                "records": {
                    "frames": self.frames,
                    "structures": [{**asdict(r), "right": r.right} for r in self.structures],
                    "points": [{**asdict(r), "right": r.right} for r in self.points],
                    "depths": self.depths,
                },
            }
        )


def _in_view(view: str) -> Callable[[str, str], bool]:
    return lambda record_view, key: record_view == view


def _presence(records: Iterable[StructureRecord | PointRecord]) -> dict[str, Proportion]:
    """Sensitivity: predicted present among truly present; specificity: predicted absent among
    truly absent."""
    records = list(records)
    return {
        "sensitivity": proportion_of([r.predicted_present for r in records if r.truth_present]),
        "specificity": proportion_of(
            [not r.predicted_present for r in records if not r.truth_present]
        ),
    }


def _jsonable(value):
    """Dataclasses, tuples and numpy scalars to plain JSON values; NaN to None."""
    if hasattr(value, "__dataclass_fields__"):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
