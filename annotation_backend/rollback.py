"""Make the previous champion the champion again: ``python -m annotation_backend.rollback``.

The previous champion is the version the current champion was fine-tuned from; running it again
walks further back. Serving processes pick the restored champion up within a second, without a
restart. Prints what changed, or why nothing could, and exits 1 in that case. Reads the
backend's settings (BACKEND_* variables).
"""

import argparse
import logging

from annotation_backend.migrations import open_database
from annotation_backend.promotion import RollbackImpossible, VersionLedger, rollback
from annotation_backend.settings import BackendSettings
from annotation_backend.state import make_session_factory
from training.store import ModelStore


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = BackendSettings()
    engine = open_database(settings.database_url)
    try:
        ledger = VersionLedger(make_session_factory(engine))
        retired, restored = rollback(ModelStore(settings.model_store), ledger)
    except RollbackImpossible as error:
        print(f"nothing rolled back: {error}")
        return 1
    finally:
        engine.dispose()
    print(f"champion is {restored} again ({retired} retired)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
