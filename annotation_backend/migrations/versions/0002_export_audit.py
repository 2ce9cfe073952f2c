"""The audit log of gold-standard exports, append-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSAL = "export_audit rows are only ever added, never changed or deleted"

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER export_audit_no_{event.lower()} BEFORE {event} ON export_audit "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    for event in ("UPDATE", "DELETE")
]

POSTGRESQL_TRIGGERS = [
    f"""CREATE FUNCTION export_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""",
    "CREATE TRIGGER export_audit_no_change BEFORE UPDATE OR DELETE ON export_audit "
    "FOR EACH ROW EXECUTE FUNCTION export_audit_append_only()",
    "CREATE TRIGGER export_audit_no_truncate BEFORE TRUNCATE ON export_audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION export_audit_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "export_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "succeeded",
                "failed",
                name="ck_export_audit_outcome",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("os_user", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("label_studio_url", sa.Text(), nullable=False),
        sa.Column("label_studio_user", sa.String(254), nullable=True),
        sa.Column("label_studio_user_id", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("project_ids", sa.JSON(), nullable=False),
        sa.Column("task_count", sa.Integer(), nullable=True),
        sa.Column("annotation_count", sa.Integer(), nullable=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=True),
        sa.Column("checksums_sha256", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_export_audit_started_at", "export_audit", ["started_at"])
    dialect = op.get_bind().dialect.name
    triggers = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}
    if dialect not in triggers:
        raise NotImplementedError(
            f"append-only triggers exist for {sorted(triggers)}, not {dialect}"
        )
    for statement in triggers[dialect]:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_export_audit_started_at", table_name="export_audit")
    op.drop_table("export_audit")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION export_audit_append_only()")
