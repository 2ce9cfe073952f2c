"""The ids of a Label Studio webhook event, read defensively from whatever body arrived."""

from dataclasses import dataclass
from typing import Any

ACTION_MAX_CHARS = 64

ANNOTATION_ACTIONS = frozenset(
    {"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"}
)
"""Actions that change the training data; only these count towards a retraining."""

START_TRAINING = "START_TRAINING"


@dataclass(frozen=True)
class EventIds:
    """What is kept of an event: its action and Label Studio ids, never the body."""

    action: str | None = None
    project_id: int | None = None
    task_id: int | None = None
    annotation_id: int | None = None


def event_ids(payload: Any) -> EventIds:
    """Ids of ``payload``; a body that is not a JSON object, or lacks keys, gives Nones.

    ANNOTATIONS_DELETED names several annotations; it is kept as one event without an
    annotation id.
    """
    if not isinstance(payload, dict):
        return EventIds()
    action = payload.get("action")
    annotation = _object(payload.get("annotation"))
    task = _object(payload.get("task"))
    project = payload.get("project")
    project_id = _id(project.get("id")) if isinstance(project, dict) else _id(project)
    return EventIds(
        action=action[:ACTION_MAX_CHARS] if isinstance(action, str) else None,
        project_id=_first_id(project_id, task.get("project"), annotation.get("project")),
        task_id=_first_id(task.get("id"), annotation.get("task")),
        annotation_id=_id(annotation.get("id")),
    )


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> int | None:
    """Label Studio ids are positive integers; anything else is dropped."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    return None


def _first_id(*values: Any) -> int | None:
    return next((found for found in map(_id, values) if found is not None), None)
