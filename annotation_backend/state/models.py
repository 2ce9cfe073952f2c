"""Tables of the learning loop's state: annotation events, training runs, model versions; and
the audit log of gold-standard exports.

An event keeps Label Studio's ids only, never the payload body, so no annotation content or
patient detail is ever written here.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ACTIVE_RUN_SQL = "status IN ('queued', 'running')"
"""A run in one of these states blocks another from being queued: at most one exists."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them without a zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, got naive {value}")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RunTrigger(StrEnum):
    EVENTS = "events"
    START_TRAINING = "start_training"
    SCHEDULE = "schedule"


class ExportOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class VersionStatus(StrEnum):
    TRAINING = "training"
    CANDIDATE = "candidate"
    CHAMPION = "champion"
    RETIRED = "retired"


def _enum(enum_class: type[StrEnum], name: str) -> Enum:
    """Stored as the lower-case value in a VARCHAR with a named CHECK constraint."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    pass


class AnnotationEvent(Base):
    __tablename__ = "annotation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    action: Mapped[str | None] = mapped_column(String(64))
    """Label Studio's action; None when the body was not a JSON object with a string action."""
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    annotation_id: Mapped[int | None] = mapped_column(BigInteger)
    processed: Mapped[bool] = mapped_column(default=False)
    """True once a training run has taken this event into account."""

    __table_args__ = (Index("ix_annotation_events_processed_id", "processed", "id"),)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The model store's folder name, e.g. "v0003"."""
    status: Mapped[VersionStatus] = mapped_column(_enum(VersionStatus, "ck_model_versions_status"))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Which task and annotation ids the version was trained on."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class TrainingRun(Base):
    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "ck_training_runs_status"))
    trigger: Mapped[RunTrigger] = mapped_column(_enum(RunTrigger, "ck_training_runs_trigger"))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_s: Mapped[float | None] = mapped_column(Float)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    log: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(ForeignKey("model_versions.version"))

    __table_args__ = (
        Index(
            "uq_training_runs_one_active",
            text(f"({ACTIVE_RUN_SQL})"),
            unique=True,
            postgresql_where=text(ACTIVE_RUN_SQL),
            sqlite_where=text(ACTIVE_RUN_SQL),
        ),
    )


class ExportAudit(Base):
    """One gold-standard export attempt: who, when, what and how it ended. Rows are only ever
    added: triggers refuse UPDATE and DELETE (see migration 0002)."""

    __tablename__ = "export_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[ExportOutcome] = mapped_column(_enum(ExportOutcome, "ck_export_audit_outcome"))
    os_user: Mapped[str] = mapped_column(String(128))
    """The operating-system account that ran the export (effective user id, not $USER)."""
    host: Mapped[str] = mapped_column(String(255))
    label_studio_url: Mapped[str] = mapped_column(Text)
    label_studio_user: Mapped[str | None] = mapped_column(String(254))
    """Email (or username) of the Label Studio account the token belongs to; None when Label
    Studio could not say."""
    label_studio_user_id: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[str] = mapped_column(String(128))
    destination: Mapped[str] = mapped_column(Text)
    """Absolute path of the export folder, written or intended."""
    project_ids: Mapped[list[int]] = mapped_column(JSON)
    task_count: Mapped[int | None] = mapped_column(Integer)
    """Tasks with a submitted annotation that were read; None when reading failed."""
    annotation_count: Mapped[int | None] = mapped_column(Integer)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    checksums_sha256: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the export's SHA256SUMS, which pins every file of it."""
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_export_audit_started_at", "started_at"),)
