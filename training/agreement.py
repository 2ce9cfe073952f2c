"""How far clinicians agree on a frame, and the consensus made from their annotations.

Per frame and per pair of annotators: Dice of every structure's mask and the distance in mm
between their keypoints. Over all frames annotated by the same two clinicians: Cohen's kappa of
the view, level and quality choices. The consensus of a frame is STAPLE for masks, the mean
position for keypoints and the majority for choices.

Empty masks. Dice of two empty masks is undefined (NaN). A structure that neither annotator
painted counts as agreement (1.0) when both marked it "not visible", and as not judged (NaN)
otherwise, e.g. a structure outside the view; NaN values are left out of every mean.
"""

import logging
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import SimpleITK as sitk
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

from label_config.schema import LEVELS, QUALITIES, VIEWS
from training.annotations import FrameAnnotation

logger = logging.getLogger(__name__)

CONSENSUS_ANNOTATOR = "consensus"
STAPLE_THRESHOLD = 0.5
CHOICE_ORDERS = {"view": VIEWS, "level": LEVELS, "quality": QUALITIES}
"""Each per-frame choice and its values in schema order; ties go to the value listed last."""


def dice(first: np.ndarray, second: np.ndarray) -> float:
    """2 |A and B| / (|A| + |B|) of two (H, W) bool masks, in [0, 1]; NaN when both are empty."""
    total = int(first.sum()) + int(second.sum())
    if total == 0:
        return math.nan
    return 2.0 * int(np.logical_and(first, second).sum()) / total


def structure_dice(key: str, first: FrameAnnotation, second: FrameAnnotation) -> float:
    """Dice of structure ``key`` between two annotations of one frame.

    Both painted: their Dice. Only one painted: 0.0. Neither painted: 1.0 when both marked it
    not visible, otherwise NaN (not judged by both).
    """
    painted_first, painted_second = first.painted(key), second.painted(key)
    if painted_first and painted_second:
        return dice(first.masks[key], second.masks[key])
    if painted_first or painted_second:
        return 0.0
    both_absent = key in first.not_visible and key in second.not_visible
    return 1.0 if both_absent else math.nan


def point_distance_mm(
    key: str, first: FrameAnnotation, second: FrameAnnotation, spacing_mm_per_px: float | None
) -> float:
    """Distance in mm between two annotators' ``key`` points: pixel distance x mm per pixel.

    NaN when either did not place the point or the frame's spacing is unknown (None).
    """
    if key not in first.points or key not in second.points or spacing_mm_per_px is None:
        return math.nan
    (x1, y1), (x2, y2) = first.points[key], second.points[key]
    return math.hypot(x2 - x1, y2 - y1) * spacing_mm_per_px


def mean_of_judged(values: Iterable[float]) -> float:
    """Mean of the values that are not NaN; NaN when there are none."""
    judged = [v for v in values if not math.isnan(v)]
    return sum(judged) / len(judged) if judged else math.nan


@dataclass(frozen=True)
class PairAgreement:
    """Two annotators on one frame: structure key -> Dice, keypoint key -> distance in mm."""

    first: str
    second: str
    dice: dict[str, float]
    distance_mm: dict[str, float]


@dataclass(frozen=True)
class FrameAgreement:
    """Every pair of a frame's annotators; empty ``pairs`` when one annotator labelled it."""

    task_id: int
    annotators: tuple[str, ...]
    pairs: tuple[PairAgreement, ...]

    @property
    def dice(self) -> dict[str, float]:
        """Structure key -> mean Dice over the pairs that judged it (NaN when none did)."""
        keys = self.pairs[0].dice if self.pairs else {}
        return {k: mean_of_judged(p.dice[k] for p in self.pairs) for k in keys}

    @property
    def distance_mm(self) -> dict[str, float]:
        """Keypoint key -> mean distance in mm over the pairs that both placed it."""
        keys = self.pairs[0].distance_mm if self.pairs else {}
        return {k: mean_of_judged(p.distance_mm[k] for p in self.pairs) for k in keys}

    @property
    def mean_dice(self) -> float:
        """Mean over the judged structures of their mean Dice; NaN when nothing was judged."""
        return mean_of_judged(self.dice.values())


def frame_agreement(
    annotations: Sequence[FrameAnnotation],
    structure_keys: Sequence[str],
    keypoint_keys: Sequence[str],
    spacing_mm_per_px: float | None,
) -> FrameAgreement:
    """Agreement of every pair of ``annotations`` (all of one frame) on the given keys."""
    ordered = sorted(annotations, key=lambda a: a.annotator)
    pairs = tuple(
        PairAgreement(
            first.annotator,
            second.annotator,
            {k: structure_dice(k, first, second) for k in structure_keys},
            {k: point_distance_mm(k, first, second, spacing_mm_per_px) for k in keypoint_keys},
        )
        for first, second in combinations(ordered, 2)
    )
    task_id = ordered[0].task_id if ordered else -1
    return FrameAgreement(task_id, tuple(a.annotator for a in ordered), pairs)


def rank_for_adjudication(
    agreements: Iterable[FrameAgreement], limit: int | None = None
) -> list[FrameAgreement]:
    """Frames with >= 2 annotators, the lowest mean Dice (strongest disagreement) first.

    Frames where no structure was judged by both come last; ties are ordered by task id.
    """
    shared = [a for a in agreements if a.pairs]

    def rank(agreement: FrameAgreement) -> tuple[bool, float, int]:
        mean = agreement.mean_dice
        return (math.isnan(mean), 0.0 if math.isnan(mean) else mean, agreement.task_id)

    return sorted(shared, key=rank)[:limit]


@dataclass(frozen=True)
class ChoiceKappa:
    """Cohen's kappa of one choice between two annotators over ``n_frames`` frames.

    ``kappa`` is NaN when no frame was shared, or when it is undefined because chance agreement
    is 1 (both chose one same value on every frame).
    """

    choice: str
    first: str
    second: str
    kappa: float
    n_frames: int


def choice_kappas(frames: Iterable[Sequence[FrameAnnotation]]) -> list[ChoiceKappa]:
    """Kappa per choice (view, level, quality) and pair of annotators, over the frames both
    annotated and where both made that choice; ordered by choice, then by the pair's names.
    """
    ratings: dict[tuple[str, str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for annotations in frames:
        ordered = sorted(annotations, key=lambda a: a.annotator)
        for first, second in combinations(ordered, 2):
            for choice in CHOICE_ORDERS:
                a, b = getattr(first, choice), getattr(second, choice)
                if a is not None and b is not None:
                    ratings[(choice, first.annotator, second.annotator)][0].append(a)
                    ratings[(choice, first.annotator, second.annotator)][1].append(b)
    order = list(CHOICE_ORDERS)
    keys = sorted(ratings, key=lambda k: (order.index(k[0]), k[1], k[2]))
    return [ChoiceKappa(*key, _kappa(key[0], *ratings[key]), len(ratings[key][0])) for key in keys]


def _kappa(choice: str, first: list[str], second: list[str]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        value = cohen_kappa_score(
            first, second, labels=list(CHOICE_ORDERS[choice]), replace_undefined_by=math.nan
        )
    return float(value)


def staple_mask(masks: Sequence[np.ndarray]) -> np.ndarray:
    """(H, W) bool consensus of (H, W) bool masks by STAPLE (SimpleITK), at probability >= 0.5.

    Probabilities are rounded to 6 decimals first, so that an exact tie between two raters is
    not decided by float noise. Identical masks (all empty ones included, where STAPLE is
    undefined) give that mask. Where STAPLE cannot estimate its parameters (NaN), a majority
    vote (at least half the raters) is used and a warning logged.
    """
    if all(np.array_equal(masks[0], m) for m in masks[1:]):
        return masks[0].astype(bool)
    staple = sitk.STAPLEImageFilter()
    staple.SetForegroundValue(1)
    images = [sitk.GetImageFromArray(m.astype(np.uint8)) for m in masks]
    probability = sitk.GetArrayFromImage(staple.Execute(images))
    if np.isnan(probability).any():
        logger.warning("STAPLE undefined for %d masks: using a majority vote", len(masks))
        return 2 * np.sum(masks, axis=0) >= len(masks)
    return np.round(probability, 6) >= STAPLE_THRESHOLD


def majority_choice(values: Iterable[str | None], order: Sequence[str]) -> tuple[str | None, bool]:
    """The most frequent non-empty value and whether it was a tie; (None, False) when empty.

    A tie goes to the value listed last in ``order`` (the schema's order): the poorer image
    quality, "unknown" over a named level, the more caudal of two levels.
    """
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None, False
    top = max(counts.values())
    tied = [v for v in counts if counts[v] == top]
    return max(tied, key=order.index), len(tied) > 1


@dataclass(frozen=True)
class Consensus:
    annotation: FrameAnnotation
    tied_choices: tuple[str, ...]
    """The choices (view, level, quality) whose majority was a tie, broken by schema order."""


def consensus_annotation(
    annotations: Sequence[FrameAnnotation],
    structure_keys: Sequence[str],
    frame_shape_px: tuple[int, int],
) -> Consensus:
    """The gold standard of one frame from all its annotations.

    One annotation: itself. Several: STAPLE per structure over every annotator (an unpainted
    structure counts as an empty mask); a keypoint placed by at least half the annotators, at
    their mean position; the majority of each choice. A structure or keypoint missing from the
    consensus is "not visible" when any annotator marked it so. ``masks`` holds an (H, W) bool
    array, possibly empty, for every key of ``structure_keys`` and every painted structure.
    """
    painted = sorted({k for a in annotations for k in a.masks} - set(structure_keys))
    keys = [*structure_keys, *painted]
    empty = np.zeros(frame_shape_px, bool)
    if len(annotations) == 1:
        return Consensus(_single(annotations[0], keys, frame_shape_px), ())
    masks = {k: staple_mask([a.masks.get(k, empty) for a in annotations]) for k in keys}
    points = _consensus_points(annotations)
    marked = set().union(*(a.not_visible for a in annotations))
    present = {k for k, m in masks.items() if m.any()} | set(points)
    chosen, tied = _consensus_choices(annotations)
    annotation = FrameAnnotation(
        annotations[0].task_id,
        CONSENSUS_ANNOTATOR,
        masks,
        points,
        frozenset(marked - present),
        frame_shape_px=frame_shape_px,
        **chosen,
    )
    return Consensus(annotation, tied)


def _single(
    annotation: FrameAnnotation, keys: Sequence[str], frame_shape_px: tuple[int, int]
) -> FrameAnnotation:
    empty = np.zeros(frame_shape_px, bool)
    masks = {k: annotation.masks.get(k, empty).astype(bool) for k in keys}
    return replace(annotation, masks=masks, frame_shape_px=frame_shape_px)


def _consensus_choices(
    annotations: Sequence[FrameAnnotation],
) -> tuple[dict[str, str | None], tuple[str, ...]]:
    chosen, tied = {}, []
    for choice, order in CHOICE_ORDERS.items():
        chosen[choice], was_tied = majority_choice((getattr(a, choice) for a in annotations), order)
        if was_tied:
            tied.append(choice)
    return chosen, tuple(tied)


def _consensus_points(annotations: Sequence[FrameAnnotation]) -> dict[str, tuple[float, float]]:
    placed: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for annotation in annotations:
        for key, point in annotation.points.items():
            placed[key].append(point)
    return {
        key: (float(np.mean([p[0] for p in points])), float(np.mean([p[1] for p in points])))
        for key, points in sorted(placed.items())
        if 2 * len(points) >= len(annotations)
    }
