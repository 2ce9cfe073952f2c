"""Alembic environment: runs on the connection that ``upgrade_database`` passes in."""

from alembic import context
from sqlalchemy import text

from annotation_backend.state.models import Base

MIGRATION_LOCK_KEY = 7_318_004_211
"""PostgreSQL advisory lock held while migrating, so concurrent start-ups take turns."""


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "no database connection: run migrations through "
            "annotation_backend.migrations.upgrade_database(url)"
        )
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
