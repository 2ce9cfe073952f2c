"""Every gold-standard export is recorded: who, when, what, and whether it succeeded.

Label Studio is stood in for by an object with the three SDK calls the export makes (projects,
tasks, current user), serving tiny synthetic frame tasks. The database cases run on SQLite and on
the real PostgreSQL (the state tests' ``database_url`` fixture).
"""

import hashlib
import json
import os
import pwd
import socket
import stat
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import typer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

import training.export.__main__ as export_command
from annotation_backend.migrations import upgrade_database
from annotation_backend.state import ExportOutcome, make_engine
from training.annotations import FrameAnnotation, to_label_studio_result
from training.export import ExportError
from training.export.audit import main as list_audit
from training.export.audit_log import (
    AUDIT_FILE_NAME,
    DatabaseAuditLog,
    JsonLinesAuditLog,
    audited_export,
)

SHAPE = (6, 8)
LABEL_STUDIO_URL = "http://127.0.0.1:1"
ADMIN = SimpleNamespace(id=1, email="admin@spine.local", username="admin")


def annotation(annotation_id: int, user_id: int, rows: slice) -> dict:
    mask = np.zeros(SHAPE, bool)
    mask[rows, 2:6] = True
    frame = FrameAnnotation(0, f"user-{user_id}", {"csf": mask}, view="long_axis")
    return {"id": annotation_id, "completed_by": user_id, "result": to_label_studio_result(frame)}


def frame_task(task_id: int, frame_index: int, annotations: list[dict], **data) -> SimpleNamespace:
    data = {
        "clip_id": "clip-a",
        "frame_index": frame_index,
        "image": f"/data/local-files/?d=frames/clip-a/{frame_index:06d}.png",
        "view": "long_axis",
        "spacing_mm_per_px": 0.25,
        **data,
    }
    return SimpleNamespace(id=task_id, data=data, annotations=annotations)


class LabelStudioDouble:
    """Projects 3 and 4: two labelled frames (three annotations) and one unlabelled task."""

    def __init__(self, account=ADMIN, tasks=None):
        self.tasks_of = tasks or {
            3: [
                frame_task(10, 0, [annotation(1, 2, slice(0, 3)), annotation(2, 5, slice(0, 2))]),
                frame_task(11, 10, []),
            ],
            4: [frame_task(12, 20, [annotation(3, 2, slice(1, 4))])],
        }
        self.account = account
        self.projects = SimpleNamespace(list=lambda: [SimpleNamespace(id=p) for p in self.tasks_of])
        self.tasks = SimpleNamespace(list=self._tasks)
        self.users = SimpleNamespace(whoami=self._whoami)

    def _tasks(self, project: int, fields: str):
        tasks = self.tasks_of[project]
        if isinstance(tasks, Exception):
            raise tasks
        return tasks

    def _whoami(self):
        if isinstance(self.account, Exception):
            raise self.account
        return self.account


def export(client, out, audit_log, version="v1", project_ids=()):
    return audited_export(
        client,
        list(project_ids),
        out,
        version=version,
        audit_log=audit_log,
        label_studio_url=LABEL_STUDIO_URL,
    )


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def database_log(database_url):
    audit_log = DatabaseAuditLog(database_url)
    yield audit_log
    audit_log.close()


def test_an_export_is_recorded_with_who_when_and_what(database_log, tmp_path):
    before = datetime.now(UTC)
    summary = export(LabelStudioDouble(), tmp_path / "exports", database_log)
    after = datetime.now(UTC)

    (record,) = database_log.records()
    assert record.outcome == ExportOutcome.SUCCEEDED and record.error is None
    assert record.os_user == pwd.getpwuid(os.geteuid()).pw_name
    assert record.host == socket.gethostname()
    assert (record.label_studio_user, record.label_studio_user_id) == ("admin@spine.local", 1)
    assert record.label_studio_url == LABEL_STUDIO_URL
    assert before <= record.started_at <= record.finished_at <= after
    assert record.started_at.tzinfo is not None and record.started_at.utcoffset().seconds == 0
    assert (record.project_ids, record.task_count, record.annotation_count) == ([3, 4], 2, 3)
    assert (record.version, record.destination) == ("v1", str(summary.folder.resolve()))
    assert record.manifest_sha256 == sha256(summary.folder / "manifest.csv")
    assert record.checksums_sha256 == sha256(summary.folder / "SHA256SUMS")


def test_a_failed_export_is_recorded_as_failed_with_its_error(database_log, tmp_path):
    unlabelled = LabelStudioDouble(tasks={3: [frame_task(11, 10, [])]})
    broken = LabelStudioDouble(
        tasks={3: [frame_task(10, 0, [annotation(1, 2, slice(0, 3))], clip_id="../escape")]}
    )

    with pytest.raises(ExportError, match="nothing to export"):
        export(unlabelled, tmp_path, database_log, project_ids=[3])
    with pytest.raises(ExportError, match="clip id"):
        export(broken, tmp_path, database_log, version="v2")

    first, second = database_log.records()
    assert [first.outcome, second.outcome] == [ExportOutcome.FAILED] * 2
    assert "nothing to export" in first.error and "clip id" in second.error
    assert (first.task_count, first.annotation_count) == (0, 0)
    assert (second.project_ids, second.task_count, second.annotation_count) == ([3], 1, 1)
    assert second.manifest_sha256 is None and second.checksums_sha256 is None
    assert not (tmp_path / "gold-standard-v2").exists()


def test_an_export_that_cannot_reach_label_studio_is_recorded_with_an_unknown_account(
    database_log, tmp_path
):
    refused = httpx.ConnectError("connection refused")
    client = LabelStudioDouble(account=refused, tasks={3: refused})

    with pytest.raises(httpx.ConnectError):
        export(client, tmp_path, database_log)

    (record,) = database_log.records()
    assert record.outcome == ExportOutcome.FAILED
    assert record.error == "ConnectError: connection refused"
    assert (record.label_studio_user, record.label_studio_user_id) == (None, None)
    assert (record.project_ids, record.task_count) == ([3], None)


def test_audit_rows_survive_a_reopened_and_re_migrated_database(database_url, tmp_path):
    first_log = DatabaseAuditLog(database_url)
    export(LabelStudioDouble(), tmp_path / "a", first_log)
    first_log.close()
    upgrade_database(database_url)

    reopened = DatabaseAuditLog(database_url)
    with pytest.raises(ExportError, match="exists"):
        export(LabelStudioDouble(), tmp_path / "a", reopened)

    records = reopened.records()
    reopened.close()
    assert [r.outcome for r in records] == [ExportOutcome.SUCCEEDED, ExportOutcome.FAILED]
    assert "exists" in records[1].error


def test_the_database_refuses_to_change_or_delete_audit_rows(database_log, database_url, tmp_path):
    export(LabelStudioDouble(), tmp_path, database_log)
    engine = make_engine(database_url)
    statements = ["UPDATE export_audit SET outcome = 'failed'", "DELETE FROM export_audit"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE export_audit")

    for statement in statements:
        with pytest.raises(DBAPIError, match="only ever added"):
            with engine.begin() as connection:
                connection.execute(text(statement))

    with engine.connect() as connection:
        outcomes = connection.execute(text("SELECT outcome FROM export_audit")).scalars().all()
    engine.dispose()
    assert outcomes == ["succeeded"]


def test_without_a_database_the_log_is_a_private_json_lines_file_beside_the_export(tmp_path):
    audit_file = JsonLinesAuditLog(tmp_path / AUDIT_FILE_NAME)

    summary = export(LabelStudioDouble(), tmp_path, audit_file)
    with pytest.raises(ExportError):
        export(LabelStudioDouble(), tmp_path, audit_file)

    lines = (tmp_path / AUDIT_FILE_NAME).read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["succeeded", "failed"]
    assert audit_file.records()[0].manifest_sha256 == sha256(summary.folder / "manifest.csv")
    assert stat.S_IMODE((tmp_path / AUDIT_FILE_NAME).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [AUDIT_FILE_NAME, "gold-standard-v1"]


def as_app(command_function) -> typer.Typer:
    app = typer.Typer()
    app.command()(command_function)
    return app


@pytest.fixture()
def command(monkeypatch, tmp_path):
    """Runs ``python -m training.export`` in-process against the Label Studio double."""
    token_file = tmp_path / "token"
    token_file.write_text("token-of-admin")
    monkeypatch.setattr(export_command, "LabelStudio", lambda **_: LabelStudioDouble())
    monkeypatch.setattr(export_command, "configure_logging", lambda: None)
    monkeypatch.delenv("BACKEND_DATABASE_URL", raising=False)

    def run(*options: str, env: dict | None = None):
        arguments = ["--label-studio-url", LABEL_STUDIO_URL, "--token-file", str(token_file)]
        runner = CliRunner()
        return runner.invoke(as_app(export_command.main), [*arguments, *options], env=env)

    return run


def test_the_command_records_in_the_database_named_by_the_environment(
    command, database_url, tmp_path
):
    out = str(tmp_path / "exports")

    done = command("--out", out, "--version", "v1", env={"BACKEND_DATABASE_URL": database_url})
    again = command("--out", out, "--version", "v1", env={"BACKEND_DATABASE_URL": database_url})
    listed = CliRunner().invoke(as_app(list_audit), ["--database-url", database_url])

    assert (done.exit_code, again.exit_code) == (0, 1), done.output + again.output
    assert not (tmp_path / "exports" / AUDIT_FILE_NAME).exists()
    lines = listed.output.splitlines()
    assert [line.split()[1] for line in lines] == ["succeeded", "failed"]
    assert "label studio admin@spine.local (id 1)" in lines[0]
    assert "3 annotations" in lines[0] and "exists" in lines[1]


def test_the_command_without_a_database_writes_and_lists_the_file(command, tmp_path):
    out = tmp_path / "exports"

    done = command("--out", str(out), "--version", "v1", "--project", "4")
    listed = CliRunner().invoke(
        as_app(list_audit), ["--file", str(out / AUDIT_FILE_NAME), "--json"]
    )

    assert done.exit_code == 0, done.output
    assert f"recorded in the export audit log: {out / AUDIT_FILE_NAME}" in done.output
    (record,) = [json.loads(line) for line in listed.output.splitlines()]
    assert (record["project_ids"], record["task_count"], record["outcome"]) == (
        [4],
        1,
        "succeeded",
    )
