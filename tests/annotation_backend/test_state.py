"""The learning loop's state on SQLite and on a real PostgreSQL: events, coalescing, claiming.

PostgreSQL cases use a schema of their own in the server named by STATE_TEST_POSTGRES_URL
(default: the loopback server's database ``test``), dropped afterwards; they are skipped when
no server answers.
"""

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from annotation_backend.app import create_app
from annotation_backend.auth import WEBHOOK_SECRET_HEADER
from annotation_backend.migrations import upgrade_database
from annotation_backend.retrain import main as retrain_main
from annotation_backend.settings import BackendSettings
from annotation_backend.state import (
    AnnotationEvent,
    EventIds,
    RunNotRunning,
    RunStatus,
    RunTrigger,
    StateStore,
    TrainingRun,
    VersionStatus,
    event_ids,
    make_engine,
    make_session_factory,
)
from annotation_backend.state.models import Base

SECRET = "hook-secret"
HOOK = {WEBHOOK_SECRET_HEADER: SECRET}
STATE_TABLES = {
    "alembic_version",
    "annotation_events",
    "export_audit",
    "model_versions",
    "training_runs",
}


@pytest.fixture()
def store(database_url):
    upgrade_database(database_url)
    engine = make_engine(database_url)
    yield StateStore(make_session_factory(engine))
    engine.dispose()


@pytest.fixture()
def backend_env(database_url, tmp_path) -> dict[str, str]:
    return {
        "BACKEND_USERNAME": "label-studio",
        "BACKEND_PASSWORD": "s3cret-pass",
        "BACKEND_WEBHOOK_SECRET": SECRET,
        "BACKEND_MODEL_STORE": str(tmp_path / "models"),
        "BACKEND_DATABASE_URL": database_url,
        "BACKEND_RETRAIN_EVERY_N_EVENTS": "20",
    }


@pytest.fixture()
def client(backend_env, monkeypatch):
    for name, value in backend_env.items():
        monkeypatch.setenv(name, value)
    with TestClient(create_app(BackendSettings())) as test_client:
        yield test_client


def rows(database_url: str, model) -> list:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def annotation_event(annotation_id: int, action: str = "ANNOTATION_CREATED") -> dict:
    return {
        "action": action,
        "annotation": {"id": annotation_id, "task": 500 + annotation_id, "result": ["..."]},
        "task": {"id": 500 + annotation_id, "project": 3, "data": {"image": "/data/x.png"}},
        "project": {"id": 3, "title": "spine"},
    }


def test_migrations_create_the_tables_from_an_empty_database(database_url):
    engine = make_engine(database_url)
    before = set(inspect(engine).get_table_names())

    upgrade_database(database_url)
    upgrade_database(database_url)

    assert before == set()
    assert set(inspect(engine).get_table_names()) == STATE_TABLES
    engine.dispose()


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_the_models(store, database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()

    # Alembic cannot compare expression indexes; the coalescing tests cover that one.
    assert [d for d in differences if not _is_the_one_active_index(d)] == []


def _is_the_one_active_index(difference) -> bool:
    named = getattr(difference[1], "name", None) if isinstance(difference, tuple) else None
    return named == "uq_training_runs_one_active"


def test_an_annotation_event_is_stored_with_its_ids_and_no_body(client, database_url):
    response = client.post("/webhook", json=annotation_event(41), headers=HOOK)

    [event] = rows(database_url, AnnotationEvent)
    assert response.json() == {"status": "ok", "action": "ANNOTATION_CREATED"}
    assert (event.action, event.project_id, event.task_id, event.annotation_id) == (
        "ANNOTATION_CREATED",
        3,
        541,
        41,
    )
    assert event.processed is False
    assert event.received_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "body",
    [b"[1, 2", b"[1, 2]", b'{"action": 5}', b'{"action": "ANNOTATION_UPDATED", "task": "x"}'],
)
def test_a_malformed_payload_is_acknowledged_and_stored_without_ids(client, database_url, body):
    headers = {**HOOK, "Content-Type": "application/json"}

    response = client.post("/webhook", content=body, headers=headers)

    [event] = rows(database_url, AnnotationEvent)
    assert response.status_code == 200
    assert (event.project_id, event.task_id, event.annotation_id) == (None, None, None)


def test_a_storm_of_concurrent_events_queues_exactly_one_run(client, database_url):
    def send(annotation_id: int) -> int:
        return client.post(
            "/webhook", json=annotation_event(annotation_id), headers=HOOK
        ).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(send, range(1, 501)))
    elapsed_s = time.monotonic() - started

    runs = rows(database_url, TrainingRun)
    assert statuses == [200] * 500
    assert len(rows(database_url, AnnotationEvent)) == 500
    assert [(run.status, run.trigger) for run in runs] == [(RunStatus.QUEUED, RunTrigger.EVENTS)]
    assert elapsed_s < 10


def test_fewer_events_than_the_threshold_queue_nothing(client, database_url):
    for annotation_id in range(19):
        client.post("/webhook", json=annotation_event(annotation_id + 1), headers=HOOK)

    assert rows(database_url, TrainingRun) == []


def test_start_training_queues_a_run_at_once(client, database_url):
    client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}, headers=HOOK)

    [run] = rows(database_url, TrainingRun)
    assert (run.status, run.trigger) == (RunStatus.QUEUED, RunTrigger.START_TRAINING)


def test_a_second_enqueue_while_one_is_active_is_coalesced(store):
    first = store.enqueue_training(RunTrigger.SCHEDULE)

    assert store.enqueue_training(RunTrigger.EVENTS) is None
    store.claim_next_run("worker-a")
    assert store.enqueue_training(RunTrigger.EVENTS) is None
    store.finish_run(first.id, RunStatus.SUCCEEDED)
    assert store.enqueue_training(RunTrigger.EVENTS) is not None


def claim_at_once(store: StateStore, workers: int) -> list[TrainingRun]:
    """Runs claimed by ``workers`` threads that call claim_next_run at the same moment."""
    barrier = threading.Barrier(workers)

    def claim(worker: int) -> TrainingRun | None:
        barrier.wait()
        return store.claim_next_run(f"worker-{worker}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [run for run in pool.map(claim, range(workers)) if run is not None]


def test_concurrent_claims_never_get_the_same_run(store):
    for _ in range(15):
        queued = store.enqueue_training(RunTrigger.SCHEDULE)

        claimed = claim_at_once(store, workers=4)

        assert [run.id for run in claimed] == [queued.id]
        store.finish_run(queued.id, RunStatus.FAILED, error="test")


def test_a_claimed_run_finishes_with_duration_log_and_model_version(store):
    queued = store.enqueue_training(RunTrigger.START_TRAINING)
    claimed = store.claim_next_run("worker-a")
    store.add_model_version("v0002", VersionStatus.CANDIDATE, {"dice": 0.5}, {"task_ids": [1]})

    finished = store.finish_run(
        claimed.id, RunStatus.SUCCEEDED, log="epoch 1", model_version="v0002"
    )

    assert claimed.id == queued.id and claimed.worker_id == "worker-a"
    assert finished.status == RunStatus.SUCCEEDED
    assert finished.duration_s >= 0 and finished.model_version == "v0002"
    with pytest.raises(RunNotRunning, match="succeeded"):
        store.finish_run(claimed.id, RunStatus.FAILED)


def test_a_worker_restart_marks_a_running_run_failed_and_a_backend_restart_does_not(
    store, backend_env, monkeypatch
):
    from annotation_backend import worker

    store.enqueue_training(RunTrigger.SCHEDULE)
    store.claim_next_run("worker-a")
    for name, value in backend_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BACKEND_LABEL_STUDIO_TOKEN", "not-contacted-without-a-queued-run")

    with TestClient(create_app(BackendSettings())):
        pass
    [after_backend] = rows(backend_env["BACKEND_DATABASE_URL"], TrainingRun)
    assert worker.main(["--once"]) == 0

    [run] = rows(backend_env["BACKEND_DATABASE_URL"], TrainingRun)
    assert after_backend.status == RunStatus.RUNNING
    assert run.status == RunStatus.FAILED
    assert "interrupted" in run.error and run.finished_at is not None
    assert store.enqueue_training(RunTrigger.SCHEDULE) is not None


def test_processed_events_no_longer_count_as_pending(store):
    ids = [store.record_event(EventIds(action="ANNOTATION_CREATED")) for _ in range(3)]
    store.record_event(EventIds(action="PROJECT_UPDATED"))

    assert store.pending_event_count() == 3
    assert store.mark_events_processed(ids[1]) == 2
    assert store.pending_event_count() == 1


def test_retrain_says_nothing_to_do_when_nothing_is_new(backend_env):
    environment = {**os.environ, **backend_env}

    finished = subprocess.run(
        [sys.executable, "-m", "annotation_backend.retrain"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "nothing to do"


def test_retrain_queues_one_run_when_events_await(store, backend_env, monkeypatch, capsys):
    store.record_event(EventIds(action="ANNOTATION_UPDATED", task_id=7))
    for name, value in backend_env.items():
        monkeypatch.setenv(name, value)

    assert retrain_main([]) == 0
    assert retrain_main([]) == 0

    [run] = rows(backend_env["BACKEND_DATABASE_URL"], TrainingRun)
    assert run.trigger == RunTrigger.SCHEDULE
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"queued training run {run.id}", f"training run {run.id} already queued"]


def test_event_ids_ignore_ids_that_are_not_positive_integers():
    payload = {"action": "ANNOTATION_CREATED", "annotation": {"id": True, "task": "9"}}

    assert event_ids(payload) == EventIds(action="ANNOTATION_CREATED")
    assert event_ids({"action": "x" * 500}).action == "x" * 64
    assert event_ids(["ANNOTATION_CREATED"]) == EventIds()


def test_pending_count_in_a_fresh_database_is_zero(store):
    assert store.pending_event_count() == 0
    assert store.claim_next_run("worker-a") is None
