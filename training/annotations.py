"""Label Studio annotations of a frame, to and from a typed ``FrameAnnotation``.

An annotation's ``result`` is a list of regions, one per control tag of the labeling config
(``label_config.xml``): brush regions (RLE, one per stroke group), keypoints (percent of the
frame's width and height) and choices (not visible, view, level, quality). Parsing maps the
label texts back to the schema's keys; a label the schema does not know is an error, never
silently dropped.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from label_studio_sdk.converter.brush import decode_rle, mask2rle

from label_config.schema import KEYPOINTS, LEVELS, QUALITIES, STRUCTURES, VIEWS
from label_config.xml import (
    BRUSH_NAME,
    IMAGE_NAME,
    KEYPOINT_NAME,
    LEVEL_NAME,
    NOT_VISIBLE_NAME,
    QUALITY_NAME,
    VIEW_NAME,
)

logger = logging.getLogger(__name__)

STRUCTURE_OF_LABEL = {s.label: s.key for s in STRUCTURES}
KEYPOINT_OF_LABEL = {k.label: k.key for k in KEYPOINTS}
LABEL_OF_KEY = {item.key: item.label for item in (*STRUCTURES, *KEYPOINTS)}
CHOICE_VALUES = {VIEW_NAME: VIEWS, LEVEL_NAME: LEVELS, QUALITY_NAME: QUALITIES}


class AnnotationError(ValueError):
    """An annotation that does not fit the label schema; the message names the region and fix."""


@dataclass(frozen=True, eq=False)
class FrameAnnotation:
    """One annotator's labels of one frame (or the consensus of several annotators).

    ``masks``: structure key -> (H, W) bool, only for structures that were painted (the union of
    all strokes of that label). ``points``: keypoint key -> (x_px, y_px), continuous pixel
    coordinates with the frame's top-left corner at (0, 0), so pixel (row r, column c) covers
    [c, c + 1) x [r, r + 1). ``not_visible``: keys of structures and keypoints marked "not
    visible in this frame". ``view``, ``level``, ``quality``: the chosen value, or None when
    left empty. ``frame_shape_px``: (H, W) of the frame when any region carries it; None when
    only choices were given.
    """

    task_id: int
    annotator: str
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    points: dict[str, tuple[float, float]] = field(default_factory=dict)
    not_visible: frozenset[str] = frozenset()
    view: str | None = None
    level: str | None = None
    quality: str | None = None
    frame_shape_px: tuple[int, int] | None = None

    def painted(self, key: str) -> bool:
        """True when the structure's mask holds at least one pixel."""
        return key in self.masks and bool(self.masks[key].any())


def annotator_name(completed_by: int | Mapping | None) -> str:
    """A stable pseudonymous name for a Label Studio user: ``user-<id>``.

    Label Studio gives ``completed_by`` as a user id, or as a user object when expanded.
    """
    user_id = completed_by.get("id") if isinstance(completed_by, Mapping) else completed_by
    if user_id is None:
        raise AnnotationError("annotation has no completed_by user: export it from Label Studio")
    return f"user-{int(user_id)}"


def parse_task_annotations(task_id: int, annotations: Iterable[Mapping]) -> list[FrameAnnotation]:
    """Every annotator's latest submitted annotation of a task, ordered by annotator name.

    Skipped (cancelled) annotations are left out. When one user submitted several annotations of
    the same task, the one with the highest id is kept and a warning is logged.
    """
    latest: dict[str, Mapping] = {}
    for annotation in annotations:
        if annotation.get("was_cancelled"):
            continue
        name = annotator_name(annotation.get("completed_by"))
        if name in latest:
            logger.warning("task %d: %s has several annotations; keeping the newest", task_id, name)
            if int(annotation.get("id", 0)) < int(latest[name].get("id", 0)):
                continue
        latest[name] = annotation
    return [parse_annotation(task_id, latest[name]) for name in sorted(latest)]


def parse_annotation(
    task_id: int, annotation: Mapping, annotator: str | None = None
) -> FrameAnnotation:
    """One Label Studio annotation (with ``result`` and ``completed_by``) as a FrameAnnotation.

    ``annotator`` names it instead of ``completed_by``, e.g. for a prediction's result. Raises
    AnnotationError for a control tag or label outside the schema, a region whose frame size
    differs from the others, or a keypoint placed twice.
    """
    parsed = _ParsedRegions(task_id)
    for region in annotation.get("result") or []:
        parsed.add(region)
    return FrameAnnotation(
        task_id=task_id,
        annotator=annotator or annotator_name(annotation.get("completed_by")),
        masks=parsed.masks,
        points=parsed.points,
        not_visible=frozenset(parsed.not_visible),
        view=parsed.choices.get(VIEW_NAME),
        level=parsed.choices.get(LEVEL_NAME),
        quality=parsed.choices.get(QUALITY_NAME),
        frame_shape_px=parsed.shape_px,
    )


class _ParsedRegions:
    """Accumulates the regions of one annotation."""

    def __init__(self, task_id: int):
        self.task_id = task_id
        self.masks: dict[str, np.ndarray] = {}
        self.points: dict[str, tuple[float, float]] = {}
        self.not_visible: set[str] = set()
        self.choices: dict[str, str] = {}
        self.shape_px: tuple[int, int] | None = None

    def add(self, region: Mapping) -> None:
        name, value = region.get("from_name"), region.get("value") or {}
        if name == BRUSH_NAME:
            self._add_brush(region, value)
        elif name == KEYPOINT_NAME:
            self._add_keypoint(region, value)
        elif name == NOT_VISIBLE_NAME:
            self.not_visible.update(self._key_of(label, name) for label in value.get("choices", []))
        elif name in CHOICE_VALUES:
            self._add_choice(name, value.get("choices", []))
        else:
            raise AnnotationError(
                f"task {self.task_id}: region from control {name!r} is not in the labeling "
                f"config; expected one of {sorted([BRUSH_NAME, KEYPOINT_NAME, NOT_VISIBLE_NAME])}"
                f" or {sorted(CHOICE_VALUES)}: export with the project's current config"
            )

    def _frame_shape(self, region: Mapping) -> tuple[int, int]:
        shape = (int(region["original_height"]), int(region["original_width"]))
        if self.shape_px is not None and shape != self.shape_px:
            raise AnnotationError(
                f"task {self.task_id}: regions disagree on the frame size, {self.shape_px} and "
                f"{shape} (H, W): the task's image was replaced after labelling; relabel it"
            )
        self.shape_px = shape
        return shape

    def _add_brush(self, region: Mapping, value: Mapping) -> None:
        if value.get("format", "rle") != "rle" or "rle" not in value:
            raise AnnotationError(
                f"task {self.task_id}: brush region in format {value.get('format')!r} without "
                "'rle': only Label Studio's RLE brush format is read"
            )
        height_px, width_px = self._frame_shape(region)
        mask = decode_rle(value["rle"]).reshape(height_px, width_px, 4)[:, :, 3] > 0
        for label in value.get("brushlabels", []):
            key = self._key_of(label, BRUSH_NAME)
            self.masks[key] = self.masks[key] | mask if key in self.masks else mask.copy()

    def _add_keypoint(self, region: Mapping, value: Mapping) -> None:
        height_px, width_px = self._frame_shape(region)
        point = (float(value["x"]) / 100.0 * width_px, float(value["y"]) / 100.0 * height_px)
        for label in value.get("keypointlabels", []):
            key = self._key_of(label, KEYPOINT_NAME)
            if key in self.points:
                raise AnnotationError(
                    f"task {self.task_id}: keypoint {label!r} is placed twice; delete one of "
                    "them in Label Studio"
                )
            self.points[key] = point

    def _add_choice(self, name: str, values: list[str]) -> None:
        unknown = [v for v in values if v not in CHOICE_VALUES[name]]
        if unknown or len(values) > 1:
            raise AnnotationError(
                f"task {self.task_id}: choice {name!r} holds {values}; expected one of "
                f"{list(CHOICE_VALUES[name])}: update label_config or correct the annotation"
            )
        if values:
            self.choices[name] = values[0]

    def _key_of(self, label: str, control: str) -> str:
        if control == BRUSH_NAME:
            known = STRUCTURE_OF_LABEL
        elif control == KEYPOINT_NAME:
            known = KEYPOINT_OF_LABEL
        else:
            known = {**STRUCTURE_OF_LABEL, **KEYPOINT_OF_LABEL}
        if label not in known:
            raise AnnotationError(
                f"task {self.task_id}: label {label!r} in {control!r} is not in the label schema "
                f"(known: {sorted(known)}); add it to label_config.schema or rename the label in "
                "the project to a schema label"
            )
        return known[label]


def brush_region(key: str, mask: np.ndarray, region_id: str | None = None) -> dict:
    """A BrushLabels region holding (H, W) bool ``mask`` for structure ``key``, in LS RLE."""
    height_px, width_px = mask.shape
    return {
        "id": region_id or key,
        "from_name": BRUSH_NAME,
        "to_name": IMAGE_NAME,
        "type": "brushlabels",
        "original_width": width_px,
        "original_height": height_px,
        "image_rotation": 0,
        "value": {
            "format": "rle",
            "rle": mask2rle(mask.astype(np.uint8) * 255),
            "brushlabels": [LABEL_OF_KEY[key]],
        },
    }


def keypoint_region(
    key: str, point_px: tuple[float, float], frame_shape_px: tuple[int, int]
) -> dict:
    """A KeyPointLabels region at (x_px, y_px) on a frame of (H, W) ``frame_shape_px``."""
    height_px, width_px = frame_shape_px
    return {
        "id": key,
        "from_name": KEYPOINT_NAME,
        "to_name": IMAGE_NAME,
        "type": "keypointlabels",
        "original_width": width_px,
        "original_height": height_px,
        "image_rotation": 0,
        "value": {
            "x": point_px[0] / width_px * 100.0,
            "y": point_px[1] / height_px * 100.0,
            "width": 0.5,
            "keypointlabels": [LABEL_OF_KEY[key]],
        },
    }


def choices_region(name: str, values: Iterable[str]) -> dict:
    """A Choices region of control ``name`` (one of the tag names in ``label_config.xml``)."""
    return {
        "id": name,
        "from_name": name,
        "to_name": IMAGE_NAME,
        "type": "choices",
        "value": {"choices": list(values)},
    }


def to_label_studio_result(annotation: FrameAnnotation) -> list[dict]:
    """The Label Studio ``result`` list of ``annotation``: its inverse of ``parse_annotation``.

    Empty masks are left out (an empty brush region cannot be drawn). Keypoints need the frame
    size, from ``frame_shape_px`` or any mask; raises AnnotationError when neither is known.
    """
    result = [brush_region(k, m) for k, m in annotation.masks.items() if m.any()]
    if annotation.points:
        shape = annotation.frame_shape_px or next(
            (m.shape for m in annotation.masks.values()), None
        )
        if shape is None:
            raise AnnotationError(
                f"task {annotation.task_id}: keypoints need the frame size; set frame_shape_px"
            )
        result += [keypoint_region(k, p, shape) for k, p in annotation.points.items()]
    if annotation.not_visible:
        order = list(LABEL_OF_KEY)
        hidden = sorted(annotation.not_visible, key=order.index)
        result.append(choices_region(NOT_VISIBLE_NAME, [LABEL_OF_KEY[k] for k in hidden]))
    for name, value in (
        (VIEW_NAME, annotation.view),
        (LEVEL_NAME, annotation.level),
        (QUALITY_NAME, annotation.quality),
    ):
        if value is not None:
            result.append(choices_region(name, [value]))
    return result
