"""The audit log of gold-standard exports: every attempt is recorded, succeeded or failed.

A record says who exported (the operating-system account, and the Label Studio account the API
token belongs to, asked from Label Studio's ``/api/current-user/whoami``), when (UTC), what
(projects, task and annotation counts, destination, the checksums of ``manifest.csv`` and of
``SHA256SUMS``) and the outcome, with the error of a failed attempt.

Records go to the backend's state database (table ``export_audit``) when a database URL is
given, else to ``export-audit.jsonl`` beside the export folders. Either is opened before the
export starts, so an export whose audit record cannot be written never begins.
"""

import getpass
import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from label_studio_sdk import LabelStudio
from sqlalchemy.engine import make_url

from annotation_backend.migrations import open_database
from annotation_backend.state import (
    ExportAuditStore,
    ExportOutcome,
    ExportRecord,
    make_session_factory,
)
from annotation_backend.state.models import utc_now
from training.export.checksums import sha256_of
from training.export.errors import ExportError
from training.export.layout import CHECKSUMS, FOLDER_PREFIX, MANIFEST
from training.export.source import LabelledFrame, read_labelled_frames
from training.export.writer import ExportSummary, write_gold_standard

logger = logging.getLogger(__name__)

AUDIT_FILE_NAME = "export-audit.jsonl"
ERROR_MAX_CHARS = 2000


class AuditError(ExportError):
    """The audit record of an export could not be stored."""


class AuditLog(Protocol):
    location: str
    """Where the records go, with any database password hidden."""

    def record(self, record: ExportRecord) -> None: ...

    def records(self) -> list[ExportRecord]:
        """Every record, oldest first."""

    def close(self) -> None: ...


class DatabaseAuditLog:
    """Records in the ``export_audit`` table of the backend's state database, migrated first."""

    def __init__(self, database_url: str):
        self.location = make_url(database_url).render_as_string(hide_password=True)
        self._engine = open_database(database_url)
        self._store = ExportAuditStore(make_session_factory(self._engine))

    def record(self, record: ExportRecord) -> None:
        self._store.record(record)

    def records(self) -> list[ExportRecord]:
        return self._store.records()

    def close(self) -> None:
        self._engine.dispose()


class JsonLinesAuditLog:
    """Records as JSON lines in a file of mode 0600, appended and synced to disk one by one."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.location = str(self.path)

    def open_for_append(self) -> None:
        """Creates the file (and its folder) now, so that an unwritable place fails early."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))

    def record(self, record: ExportRecord) -> None:
        line = json.dumps(record_to_json(record), sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
            stream.write(line)
            stream.flush()
            os.fsync(stream.fileno())

    def records(self) -> list[ExportRecord]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [record_from_json(json.loads(line)) for line in lines if line.strip()]

    def close(self) -> None:
        pass


def open_audit_log(database_url: str | None, out_dir: Path) -> AuditLog:
    """The database log when ``database_url`` is given, else ``out_dir/export-audit.jsonl``."""
    if database_url:
        return DatabaseAuditLog(database_url)
    audit_file = JsonLinesAuditLog(Path(out_dir) / AUDIT_FILE_NAME)
    audit_file.open_for_append()
    return audit_file


def record_to_json(record: ExportRecord) -> dict:
    values = asdict(record)
    values["started_at"] = record.started_at.isoformat()
    values["finished_at"] = record.finished_at.isoformat()
    values["outcome"] = record.outcome.value
    return values


def record_from_json(values: dict) -> ExportRecord:
    return ExportRecord(
        **{
            **values,
            "started_at": datetime.fromisoformat(values["started_at"]),
            "finished_at": datetime.fromisoformat(values["finished_at"]),
            "outcome": ExportOutcome(values["outcome"]),
        }
    )


def os_user() -> str:
    """The effective account's name from the password database; $USER could be anything."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return getpass.getuser()


def label_studio_account(client: LabelStudio) -> tuple[str | None, int | None]:
    """(email or username, id) of the token's Label Studio account; (None, None) when Label
    Studio cannot say, for instance because the token is refused."""
    try:
        user = client.users.whoami()
    except Exception as error:  # the export itself reports what is wrong with the server
        logger.warning("export audit: Label Studio account unknown (%s)", type(error).__name__)
        return None, None
    return user.email or user.username, user.id


def audited_export(
    client: LabelStudio,
    project_ids: Sequence[int],
    out_dir: Path,
    *,
    version: str,
    audit_log: AuditLog,
    label_studio_url: str,
) -> ExportSummary:
    """The gold-standard export of ``project_ids`` (every project the token sees when empty),
    recorded in ``audit_log`` whether it succeeds or fails.

    Raises what the export raised once its failure is recorded, or AuditError when a
    successful export could not be recorded.
    """
    # One record at the end: an export killed outright (SIGKILL, power loss) leaves none.
    started_at = utc_now()
    facts = _Facts(os_user(), socket.gethostname(), label_studio_url, version, out_dir)
    try:
        facts.account = label_studio_account(client)
        facts.project_ids = list(project_ids) or sorted(p.id for p in client.projects.list())
        frames = read_labelled_frames(client, facts.project_ids)
        facts.count(frames)
        summary = write_gold_standard(frames, out_dir, version=version)
    except BaseException as error:
        _record_failure(audit_log, facts.record(started_at, error=error))
        raise
    record = facts.record(started_at, folder=summary.folder)
    try:
        audit_log.record(record)
    except Exception as error:
        raise AuditError(
            f"{summary.folder} was written but its audit record could not be stored in "
            f"{audit_log.location} ({type(error).__name__}); record the export by hand"
        ) from error
    logger.info("export audit: %s recorded in %s", summary.folder, audit_log.location)
    return summary


def _record_failure(audit_log: AuditLog, record: ExportRecord) -> None:
    try:
        audit_log.record(record)
    except Exception:
        logger.exception("export audit: a failed export could not be recorded")
    else:
        logger.info("export audit: failed export recorded in %s", audit_log.location)


@dataclass
class _Facts:
    """What is known of an export attempt so far."""

    os_user: str
    host: str
    url: str
    version: str
    out_dir: Path
    account: tuple[str | None, int | None] = (None, None)
    project_ids: list[int] = field(default_factory=list)
    task_count: int | None = None
    annotation_count: int | None = None

    @property
    def destination(self) -> str:
        return str(Path(self.out_dir).resolve() / f"{FOLDER_PREFIX}{self.version}")

    def count(self, frames: Sequence[LabelledFrame]) -> None:
        self.task_count = len(frames)
        self.annotation_count = sum(len(frame.annotations) for frame in frames)

    def record(
        self,
        started_at: datetime,
        folder: Path | None = None,
        error: BaseException | None = None,
    ) -> ExportRecord:
        return ExportRecord(
            started_at=started_at,
            finished_at=utc_now(),
            outcome=ExportOutcome.FAILED if error is not None else ExportOutcome.SUCCEEDED,
            os_user=self.os_user,
            host=self.host,
            label_studio_url=self.url,
            label_studio_user=self.account[0],
            label_studio_user_id=self.account[1],
            version=self.version,
            destination=str(folder.resolve()) if folder else self.destination,
            project_ids=self.project_ids,
            task_count=self.task_count,
            annotation_count=self.annotation_count,
            manifest_sha256=sha256_of(folder / MANIFEST) if folder else None,
            checksums_sha256=sha256_of(folder / CHECKSUMS) if folder else None,
            error=_error_text(error) if error is not None else None,
        )


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:ERROR_MAX_CHARS]
