"""Annotation events, model versions and training runs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_RUN_SQL = "status IN ('queued', 'running')"


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "annotation_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(64), nullable=True),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("annotation_id", sa.BigInteger(), nullable=True),
        sa.Column("processed", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_annotation_events_processed_id", "annotation_events", ["processed", "id"])
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column(
            "status",
            _status("ck_model_versions_status", "training", "candidate", "champion", "retired"),
            nullable=False,
        ),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("data_snapshot", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    _create_training_runs()


def _create_training_runs() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "status",
            _status("ck_training_runs_status", "queued", "running", "succeeded", "failed"),
            nullable=False,
        ),
        sa.Column(
            "trigger",
            _status("ck_training_runs_trigger", "events", "start_training", "schedule"),
            nullable=False,
        ),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("log", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "model_version",
            sa.String(32),
            sa.ForeignKey("model_versions.version"),
            nullable=True,
        ),
    )
    # At most one run queued or running: the database itself coalesces concurrent requests.
    op.execute(
        f"CREATE UNIQUE INDEX uq_training_runs_one_active ON training_runs "
        f"(({ACTIVE_RUN_SQL})) WHERE {ACTIVE_RUN_SQL}"
    )


def downgrade() -> None:
    op.drop_table("training_runs")
    op.drop_table("model_versions")
    op.drop_index("ix_annotation_events_processed_id", table_name="annotation_events")
    op.drop_table("annotation_events")
