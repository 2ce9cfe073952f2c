"""Queue a training run from cron: ``python -m annotation_backend.retrain``.

Prints "nothing to do" and exits 0 when no annotation event awaits a run and no run is queued;
otherwise queues a run (trigger "schedule"), or finds the one already queued or running, and
prints its id. Reads the backend's settings (BACKEND_* variables) and upgrades the database
first, so it also works before the backend has ever started.
"""

import argparse
import logging

from annotation_backend.migrations import open_database
from annotation_backend.settings import BackendSettings
from annotation_backend.state import (
    RunStatus,
    RunTrigger,
    StateStore,
    make_session_factory,
)

logger = logging.getLogger(__name__)


def queue_scheduled_run(store: StateStore) -> str:
    """The one line to print: what was queued, or why nothing was."""
    active = store.active_run()
    if store.pending_event_count() == 0 and (active is None or active.status != RunStatus.QUEUED):
        return "nothing to do"
    run = store.enqueue_training(RunTrigger.SCHEDULE)
    if run is not None:
        return f"queued training run {run.id}"
    active = store.active_run()
    if active is None:
        # The active run finished between the two reads; the next cron tick queues again.
        return "nothing to do"
    return f"training run {active.id} already {active.status.value}"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = BackendSettings()
    engine = open_database(settings.database_url)
    try:
        print(queue_scheduled_run(StateStore(make_session_factory(engine))))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
