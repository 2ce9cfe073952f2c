"""Persistent state of the learning loop: annotation events, training runs, model versions;
and the audit log of gold-standard exports."""

from annotation_backend.state.database import make_engine, make_session_factory
from annotation_backend.state.events import (
    ANNOTATION_ACTIONS,
    START_TRAINING,
    EventIds,
    event_ids,
)
from annotation_backend.state.export_audit import ExportAuditStore, ExportRecord
from annotation_backend.state.models import (
    AnnotationEvent,
    ExportAudit,
    ExportOutcome,
    ModelVersion,
    RunStatus,
    RunTrigger,
    TrainingRun,
    VersionStatus,
)
from annotation_backend.state.repository import RunNotRunning, StateError, StateStore

__all__ = [
    "ANNOTATION_ACTIONS",
    "START_TRAINING",
    "AnnotationEvent",
    "EventIds",
    "ExportAudit",
    "ExportAuditStore",
    "ExportOutcome",
    "ExportRecord",
    "ModelVersion",
    "RunNotRunning",
    "RunStatus",
    "RunTrigger",
    "StateError",
    "StateStore",
    "TrainingRun",
    "VersionStatus",
    "event_ids",
    "make_engine",
    "make_session_factory",
]
