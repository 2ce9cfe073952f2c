"""The audit log of gold-standard exports in the state database: one row per attempt.

Rows are only added. The database refuses to change or delete them (triggers of migration
0002), so an export cannot be erased from the record by this code or by a careless query; an
owner of the database can still drop the triggers: this is a record, not a tamper-proof seal.
"""

from dataclasses import asdict, dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from annotation_backend.state.models import ExportAudit, ExportOutcome


@dataclass(frozen=True)
class ExportRecord:
    """Who exported what, when, and how it ended. Times are timezone-aware UTC.

    ``task_count`` and ``annotation_count`` are None when the export failed before the
    annotations were read; the checksums are None unless the export succeeded.
    """

    started_at: datetime
    finished_at: datetime
    outcome: ExportOutcome
    os_user: str
    host: str
    label_studio_url: str
    label_studio_user: str | None
    label_studio_user_id: int | None
    version: str
    destination: str
    project_ids: list[int]
    task_count: int | None
    annotation_count: int | None
    manifest_sha256: str | None
    checksums_sha256: str | None
    error: str | None


RECORD_FIELDS = tuple(field.name for field in fields(ExportRecord))


class ExportAuditStore:
    """Appends records to, and lists, the ``export_audit`` table."""

    def __init__(self, sessions: sessionmaker):
        self._sessions = sessions

    def record(self, record: ExportRecord) -> int:
        """Stores ``record`` and returns its id once committed."""
        with self._sessions.begin() as session:
            row = ExportAudit(**asdict(record))
            session.add(row)
            session.flush()
            return row.id

    def records(self) -> list[ExportRecord]:
        """Every record, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(ExportAudit).order_by(ExportAudit.id))
            return [
                ExportRecord(**{name: getattr(row, name) for name in RECORD_FIELDS}) for row in rows
            ]
