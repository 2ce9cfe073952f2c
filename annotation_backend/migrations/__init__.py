"""Schema migrations of the state database (Alembic), applied by the backend at start-up."""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from annotation_backend.state.database import make_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """Alembic's configuration in code: no alembic.ini is read."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_database(database_url: str) -> None:
    """Runs ``alembic upgrade head`` on ``database_url``; a no-op when it is already current.

    Safe to call from several processes at once on PostgreSQL (an advisory lock serialises
    them); on SQLite the write lock does the same.
    """
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    logger.info("state database at head revision")


def open_database(database_url: str):
    """An engine on ``database_url`` once its schema is current: what every process starts with."""
    upgrade_database(database_url)
    return make_engine(database_url)
