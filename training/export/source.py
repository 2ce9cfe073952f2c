"""Labelled frames read from Label Studio projects through the SDK."""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import cv2
import httpx
import numpy as np
from label_studio_sdk import LabelStudio

from label_config.schema import keypoints_for_view, structures_for_view
from training.annotations import FrameAnnotation, parse_task_annotations
from training.export.errors import ExportError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledFrame:
    """A frame task with at least one submitted annotation, and the facts the export needs.

    ``view`` is the task's view (the labeling config it was shown with: it decides which
    structures could be painted); ``frame_shape_px`` is (H, W); ``spacing_mm_per_px`` is None
    when the clip had no calibration. ``annotations`` are ordered by annotator name.
    """

    task_id: int
    project_id: int
    clip_id: str
    frame_index: int
    time_s: float | None
    view: str
    spacing_mm_per_px: float | None
    infant_id: str | None
    image: str
    frame_shape_px: tuple[int, int]
    annotations: tuple[FrameAnnotation, ...]

    @property
    def structure_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in structures_for_view(self.view))

    @property
    def keypoint_keys(self) -> tuple[str, ...]:
        return tuple(k.key for k in keypoints_for_view(self.view))


def read_labelled_frames(client: LabelStudio, project_ids: Sequence[int]) -> list[LabelledFrame]:
    """Every task of ``project_ids`` with a submitted annotation, ordered by task id."""
    frames = []
    for project_id in project_ids:
        for task in client.tasks.list(project=project_id, fields="all"):
            annotations = [_as_dict(a) for a in task.annotations or []]
            parsed = parse_task_annotations(task.id, annotations)
            if parsed:
                frames.append(_labelled_frame(client, project_id, task.id, task.data, parsed))
    logger.info("read %d labelled frames from projects %s", len(frames), list(project_ids))
    return sorted(frames, key=lambda f: f.task_id)


def _as_dict(annotation) -> Mapping:
    return annotation if isinstance(annotation, Mapping) else annotation.model_dump()


def _labelled_frame(
    client: LabelStudio,
    project_id: int,
    task_id: int,
    task_data: Mapping,
    annotations: list[FrameAnnotation],
) -> LabelledFrame:
    missing = [name for name in ("clip_id", "frame_index", "image") if name not in task_data]
    if missing:
        raise ExportError(
            f"task {task_id} in project {project_id} lacks {missing} in its data: only frame "
            "tasks made by the upload can be exported"
        )
    spacing = task_data.get("spacing_mm_per_px")
    time_s = task_data.get("time_s")
    return LabelledFrame(
        task_id=task_id,
        project_id=project_id,
        clip_id=str(task_data["clip_id"]),
        frame_index=int(task_data["frame_index"]),
        time_s=None if time_s is None else float(time_s),
        view=str(task_data.get("view") or "unknown"),
        spacing_mm_per_px=None if spacing is None else float(spacing),
        infant_id=task_data.get("infant_id"),
        image=str(task_data["image"]),
        frame_shape_px=_frame_shape(client, task_id, task_data, annotations),
        annotations=tuple(annotations),
    )


def _frame_shape(
    client: LabelStudio, task_id: int, task_data: Mapping, annotations: list[FrameAnnotation]
) -> tuple[int, int]:
    """(H, W) from any region, else from the task data, else from the frame image itself."""
    shapes = {a.frame_shape_px for a in annotations if a.frame_shape_px is not None}
    if len(shapes) > 1:
        raise ExportError(
            f"task {task_id}: annotators' regions disagree on the frame size {sorted(shapes)}; "
            "the image was replaced between annotations: relabel the task"
        )
    if shapes:
        return shapes.pop()
    if "height_px" in task_data and "width_px" in task_data:
        return int(task_data["height_px"]), int(task_data["width_px"])
    return _fetch_frame_shape(client, task_id, str(task_data["image"]))


def _fetch_frame_shape(client: LabelStudio, task_id: int, image: str) -> tuple[int, int]:
    # The SDK has no public call that downloads a task's file; its client wrapper holds the
    # server's address and the authorisation header.
    wrapper = client._client_wrapper
    url = urljoin(wrapper.get_base_url().rstrip("/") + "/", image)
    response = httpx.get(url, headers=wrapper.get_headers(), follow_redirects=True, timeout=60.0)
    if response.status_code != 200:
        raise ExportError(
            f"task {task_id}: its frame image answered HTTP {response.status_code}; the frame "
            "size is needed for a frame without regions: check the project's storage"
        )
    pixels = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ExportError(f"task {task_id}: its frame image could not be decoded")
    return int(pixels.shape[0]), int(pixels.shape[1])
