"""Where the worker's annotated frames come from: Label Studio's task API, via its SDK."""

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import httpx
import numpy as np
from label_studio_sdk.client import LabelStudio

from annotation_backend.frames import FrameLoader
from annotation_backend.settings import BackendSettings
from training.annotation_dataset import AnnotatedFrame
from training.annotations import AnnotationError, annotator_name, parse_task_annotations

logger = logging.getLogger(__name__)

PAGE_SIZE = 100


class AnnotationSource(Protocol):
    """Annotated frames, and a way to load each frame's pixels."""

    def annotated_frames(self) -> list[AnnotatedFrame]: ...

    def load_gray(self, image_url: str) -> np.ndarray:
        """(H, W) uint8 frame for a task's ``image`` URL."""
        ...


RELOAD_SETTLE_S = 1.5
"""Serving processes look for a new champion at most once a second."""


class LabelStudioSource:
    """Every submitted annotation of every project's tasks that name a clip and frame index.

    Each annotator's latest annotation of a task is one frame; tasks without ``clip_id`` (not
    made by the upload pipeline) and annotations outside the label schema are skipped with a
    warning, since they cannot be split by clip or turned into masks.
    """

    def __init__(
        self,
        client: LabelStudio,
        frames: FrameLoader,
        url: str | None = None,
        token: str | None = None,
    ):
        self.client = client
        self.frames = frames
        self.url = url
        self.token = token

    @classmethod
    def from_settings(cls, settings: BackendSettings, frames: FrameLoader) -> "LabelStudioSource":
        if settings.label_studio_token is None:
            raise ValueError("the worker reads Label Studio: set BACKEND_LABEL_STUDIO_TOKEN")
        token = settings.label_studio_token.get_secret_value()
        client = LabelStudio(base_url=settings.label_studio_url, api_key=token)
        return cls(client, frames, settings.label_studio_url.rstrip("/"), token)

    def load_gray(self, image_url: str) -> np.ndarray:
        return self.frames.load_gray(image_url)

    def refresh_predictions(self, model_version: str) -> None:
        """Has Label Studio fetch the new champion's predictions for every task, so that
        uncertainty sampling orders the unlabelled frames by the model now serving."""
        time.sleep(RELOAD_SETTLE_S)
        headers = {"Authorization": f"Token {self.token}"}
        for project in self.client.projects.list():
            response = httpx.post(
                f"{self.url}/api/dm/actions",
                params={"id": "retrieve_tasks_predictions", "project": project.id},
                json={"selectedItems": {"all": True, "excluded": []}},
                headers=headers,
                timeout=900.0,
            )
            response.raise_for_status()
            if project.task_number:
                self.client.projects.update(project.id, model_version=model_version)
        logger.info("refreshed predictions with model %s", model_version)

    def annotated_frames(self) -> list[AnnotatedFrame]:
        found: list[AnnotatedFrame] = []
        for project in self.client.projects.list():
            tasks = self.client.tasks.list(
                project=project.id,
                fields="all",
                only_annotated=True,
                resolve_uri=False,
                page_size=PAGE_SIZE,
            )
            found.extend(frame for task in tasks for frame in task_frames(_as_dict(task)))
        logger.info("fetched %d annotated frames from Label Studio", len(found))
        return found


def task_frames(task: Mapping[str, Any]) -> list[AnnotatedFrame]:
    """One AnnotatedFrame per annotator of ``task`` (a task as the API returns it)."""
    task_id, task_data = int(task["id"]), task.get("data") or {}
    if "clip_id" not in task_data or "frame_index" not in task_data:
        logger.warning("task %d skipped: no clip_id and frame_index in its data", task_id)
        return []
    annotations = [_as_dict(a) for a in task.get("annotations") or []]
    try:
        parsed = parse_task_annotations(task_id, annotations)
    except AnnotationError as error:
        logger.warning("task %d skipped: %s", task_id, error)
        return []
    return [
        AnnotatedFrame(
            task_id=task_id,
            annotation_id=_annotation_id(annotations, annotation.annotator),
            clip_id=str(task_data["clip_id"]),
            frame_index=int(task_data["frame_index"]),
            image_url=task_data["image"],
            annotation=annotation,
            view=str(task_data.get("view") or "unknown"),
            infant_id=task_data.get("infant_id") or None,
        )
        for annotation in parsed
    ]


def _annotation_id(annotations: Iterable[Mapping], annotator: str) -> int | None:
    """The newest submitted annotation id of ``annotator`` (as parse_task_annotations keeps)."""
    ids = [
        int(a["id"])
        for a in annotations
        if not a.get("was_cancelled")
        and "id" in a
        and annotator_name(a.get("completed_by")) == annotator
    ]
    return max(ids, default=None)


def _as_dict(item: Any) -> dict:
    if isinstance(item, Mapping):
        return dict(item)
    return item.model_dump() if hasattr(item, "model_dump") else item.dict()
