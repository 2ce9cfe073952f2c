"""Backups of the production state: the backend's PostgreSQL database through ``pg_dump`` and
``pg_restore``, and frame objects through S3 bucket versioning (moto on loopback).

The database holds what a working learning loop leaves behind: processed and pending events, a
finished run with its candidate version, and a queued run. After a dump, a drop and a restore,
every table reads back the same, the backend opens the database, and the restored constraints
and sequences keep working.
"""

import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from annotation_backend.migrations import open_database
from annotation_backend.state import (
    EventIds,
    RunStatus,
    RunTrigger,
    StateStore,
    TrainingRun,
    VersionStatus,
    make_session_factory,
)
from tests.e2e.postgres import PostgresServer, answering_server
from tests.s3_server import S3Server
from training.phantom import generate_clip
from upload.frames import encode_png
from upload.storage import S3FrameStore

FRAME_KEY = "frames/clip-0123456789abcdef/000040.png"


@pytest.fixture(scope="module")
def postgres() -> PostgresServer:
    return answering_server()


@pytest.fixture()
def backend_database(postgres):
    with postgres.fresh_database("backend_backup") as name:
        yield name


def record_learning_loop(store: StateStore) -> None:
    """Five corrections trained on and promoted, then two more and a queued run."""
    for task_id in range(101, 106):
        store.record_event(EventIds("ANNOTATION_CREATED", 7, task_id, task_id + 1000))
    run = store.enqueue_training(RunTrigger.EVENTS)
    store.claim_next_run("worker-a")
    metrics = {"mean_validation_dice": 0.81, "validation_dice": {"csf": 0.81}}
    snapshot = {"training": {"task_ids": [101, 102, 103]}, "validation": {"task_ids": [104]}}
    store.add_model_version("v0002", VersionStatus.CANDIDATE, metrics, snapshot)
    store.finish_run(run.id, RunStatus.SUCCEEDED, "promoted v0002", model_version="v0002")
    store.mark_events_processed(5)
    store.record_event(EventIds("ANNOTATION_UPDATED", 7, 101, 1001))
    store.record_event(EventIds("PROJECT_UPDATED", 7))
    store.enqueue_training(RunTrigger.SCHEDULE)


def table_contents(postgres: PostgresServer, name: str) -> dict[str, list[tuple]]:
    """Every row of every table in the public schema, in primary-key order."""
    return {
        table: postgres.query(name, f'SELECT * FROM "{table}" ORDER BY 1')
        for table in sorted(postgres.tables(name))
    }


def test_backend_database_comes_back_whole_from_pg_dump_and_pg_restore(
    postgres, backend_database, tmp_path
):
    url = postgres.database_url(backend_database)
    engine = open_database(url)
    record_learning_loop(StateStore(make_session_factory(engine)))
    engine.dispose()
    before = table_contents(postgres, backend_database)
    archive = tmp_path / "backend.dump"

    postgres.dump(backend_database, archive)
    postgres.drop_database(backend_database)
    postgres.create_database(backend_database)
    postgres.restore(archive, backend_database)

    assert table_contents(postgres, backend_database) == before
    assert [len(before[t]) for t in ("annotation_events", "model_versions", "training_runs")] == [
        7,
        1,
        2,
    ]
    engine = open_database(url)
    try:
        store = StateStore(make_session_factory(engine))
        assert store.pending_event_count() == 1
        assert store.active_run().trigger == RunTrigger.SCHEDULE
        assert store.record_event(EventIds("ANNOTATION_CREATED", 7, 106, 1106)) == 8
        with pytest.raises(IntegrityError):
            with make_session_factory(engine).begin() as session:
                session.add(TrainingRun(status=RunStatus.QUEUED, trigger=RunTrigger.EVENTS))
    finally:
        engine.dispose()


def phantom_png(frame_index: int) -> bytes:
    return encode_png(generate_clip(7, "long_axis", duration_s=2.0).render(frame_index).image)


def versioned_bucket(s3: S3Server) -> str:
    bucket = f"spine-frames-versioned-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def test_versioned_bucket_gives_back_an_overwritten_then_deleted_frame(s3_server):
    client = s3_server.client()
    store = S3FrameStore(versioned_bucket(s3_server), "v1/", client)
    object_key = store.task_url(FRAME_KEY).removeprefix(f"s3://{store.bucket}/")
    original, replacement = phantom_png(0), phantom_png(30)
    store.put(FRAME_KEY, original, "image/png")
    store.put(FRAME_KEY, replacement, "image/png")
    client.delete_object(Bucket=store.bucket, Key=object_key)
    assert not store.exists(FRAME_KEY)

    listed = client.list_object_versions(Bucket=store.bucket, Prefix=object_key)
    # S3 lists a key's versions newest first; timestamps can tie within a second.
    oldest = listed["Versions"][-1]
    source = {"Bucket": store.bucket, "Key": object_key, "VersionId": oldest["VersionId"]}
    client.copy_object(Bucket=store.bucket, Key=object_key, CopySource=source)

    assert original != replacement
    assert store.get(FRAME_KEY) == original
    assert [len(listed["Versions"]), len(listed["DeleteMarkers"])] == [2, 1]
