"""Container health checks for the backend image, with no tool beyond Python.

``python docker/healthcheck.py http://127.0.0.1:9090/health``: healthy when the URL answers 200.
``python docker/healthcheck.py database``: healthy when the state database named by the
backend's settings (BACKEND_* variables) answers a query; for the worker and the scheduler,
which have no port. Exits 0 when healthy, else 1 with one line that names no secret.
"""

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 5.0


def url_answers(url: str) -> str | None:
    """None when ``url`` answers 200; otherwise why not."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url}: {error}"


def database_answers() -> str | None:
    """None when the state database answers ``SELECT 1``; otherwise the error's type."""
    from sqlalchemy import create_engine, text

    from annotation_backend.settings import BackendSettings

    engine = create_engine(BackendSettings().database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # the URL holds a password: report the kind of failure only
        return f"state database unavailable: {type(error).__name__}"
    finally:
        engine.dispose()
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    target = argv[0]
    problem = database_answers() if target == "database" else url_answers(target)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
