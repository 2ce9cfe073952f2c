"""List the export audit log: ``python -m training.export.audit --database-url URL`` (or with
``BACKEND_DATABASE_URL`` set), or ``--file <out>/export-audit.jsonl`` where no database kept it.

One line per export attempt, oldest first; ``--json`` prints each record as a JSON object.
"""

import json
from pathlib import Path

import typer

from annotation_backend.state import ExportRecord
from training.export.audit_log import (
    AuditLog,
    DatabaseAuditLog,
    JsonLinesAuditLog,
    record_to_json,
)


def main(
    database_url: str | None = typer.Option(
        None,
        envvar="BACKEND_DATABASE_URL",
        help="The backend's state database that keeps the export audit log.",
        show_default=False,
    ),
    file: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="An export-audit.jsonl written beside exports."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List the export audit log, oldest first."""
    if (database_url is None) == (file is None):
        raise typer.BadParameter("give --database-url (or BACKEND_DATABASE_URL) or --file")
    audit_log: AuditLog = (
        DatabaseAuditLog(database_url) if database_url else JsonLinesAuditLog(file)
    )
    try:
        records = audit_log.records()
    finally:
        audit_log.close()
    for record in records:
        typer.echo(json.dumps(record_to_json(record), sort_keys=True) if as_json else line(record))


def line(record: ExportRecord) -> str:
    """``<UTC start> <outcome> <who> <what> -> <destination>``, and the error of a failure."""
    account = record.label_studio_user or "unknown"
    if record.label_studio_user_id is not None:
        account += f" (id {record.label_studio_user_id})"
    what = (
        f"version {record.version}, projects {','.join(map(str, record.project_ids)) or '-'}, "
        f"{_count(record.task_count)} tasks, {_count(record.annotation_count)} annotations"
    )
    parts = [
        record.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        record.outcome.value,
        f"os {record.os_user}@{record.host}",
        f"label studio {account} at {record.label_studio_url}",
        what,
        f"manifest sha256 {record.manifest_sha256 or '-'}",
        f"-> {record.destination}",
    ]
    if record.error:
        parts.append(f"error: {record.error}")
    return "  ".join(parts)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


if __name__ == "__main__":
    typer.run(main)
