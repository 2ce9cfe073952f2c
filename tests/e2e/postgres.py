"""Databases of their own on the machine's PostgreSQL, and dump and restore with its tools.

The server is the one named by STATE_TEST_POSTGRES_URL, by default the loopback server with
trust authentication. A server that does not answer fails the test: the production topology
has no SQLite fallback to skip to.
"""

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

SERVER_URL = os.environ.get(
    "STATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TOOL_TIMEOUT_S = 120


@dataclass(frozen=True)
class PostgresServer:
    url: URL
    """Any database on the server, for the administrative connection."""

    def database_url(self, name: str, driver: str = "postgresql+psycopg") -> str:
        """A URL for database ``name``: SQLAlchemy's with the default driver, libpq's with
        ``driver="postgresql"``."""
        url = self.url.set(drivername=driver, database=name)
        return url.render_as_string(hide_password=False)

    def create_database(self, name: str) -> None:
        self._administer(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drops ``name``, ending any session still connected to it."""
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self._administer(statement.format(sql.Identifier(name)))

    @contextmanager
    def fresh_database(self, prefix: str) -> Iterator[str]:
        """A new, empty database named ``<prefix>_<pid>_<random>``, dropped afterwards."""
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        self.create_database(name)
        try:
            yield name
        finally:
            self.drop_database(name)

    def query(self, name: str, statement: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.database_url(name, "postgresql")) as connection:
            return connection.execute(statement, params).fetchall()

    def tables(self, name: str) -> set[str]:
        """Tables of the public schema of database ``name``."""
        rows = self.query(
            name, "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public'"
        )
        return {row[0] for row in rows}

    def dump(self, name: str, archive: Path) -> list[str]:
        """``pg_dump`` of database ``name`` to a custom-format archive; returns the command."""
        command = ["pg_dump", "--format=custom", f"--file={archive}"]
        return self._run([*command, f"--dbname={self.database_url(name, 'postgresql')}"])

    def dump_sql(self, name: str) -> bytes:
        """Database ``name`` as plain SQL: every row, for scanning."""
        command = ["pg_dump", "--format=plain", self.database_url(name, "postgresql")]
        done = subprocess.run(command, capture_output=True, timeout=TOOL_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"pg_dump exited with {done.returncode}: {done.stderr!r}")
        return done.stdout

    def restore(self, archive: Path, name: str) -> list[str]:
        """``pg_restore`` of ``archive`` into the existing, empty database ``name``, in one
        transaction that any error rolls back; returns the command."""
        command = ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction"]
        return self._run([*command, f"--dbname={self.database_url(name, 'postgresql')}", archive])

    def _administer(self, statement: sql.Composed) -> None:
        admin = self.database_url(self.url.database or "postgres", "postgresql")
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(statement)

    @staticmethod
    def _run(command: list) -> list[str]:
        command = [str(part) for part in command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} exited with {done.returncode}: {done.stderr}")
        return command


def answering_server() -> PostgresServer:
    """The test server; the test fails when it does not answer."""
    server = PostgresServer(make_url(SERVER_URL))
    try:
        server.query(server.url.database or "postgres", "SELECT 1")
    except psycopg.OperationalError as error:
        pytest.fail(f"no PostgreSQL answers at {server.url!r}: {error}")
    return server
