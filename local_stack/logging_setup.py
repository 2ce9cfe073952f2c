"""Logging for the command-line entry points, configured once at start."""

import logging


def configure_logging() -> None:
    """INFO lines with time, level and module; the HTTP client's per-request lines hidden."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
