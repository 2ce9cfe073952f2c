"""The training worker: gated promotion, failed runs, hot reload under load, and rollback.

Label Studio is replaced by phantom frames with their ground-truth masks; networks are tiny.
"""

import base64
import dataclasses
import threading

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from annotation_backend import worker as worker_module
from annotation_backend.app import create_app
from annotation_backend.label_studio_source import task_frames
from annotation_backend.migrations import upgrade_database
from annotation_backend.promotion import (
    RollbackImpossible,
    VersionLedger,
    evaluate_gate,
    promote,
    rollback,
)
from annotation_backend.rollback import main as rollback_main
from annotation_backend.settings import BackendSettings
from annotation_backend.state import (
    AnnotationEvent,
    EventIds,
    RunStatus,
    RunTrigger,
    StateStore,
    VersionStatus,
    make_engine,
    make_session_factory,
)
from annotation_backend.worker import Worker
from tests.phantom_annotations import TINY_SPEC, PhantomSource, constant_network
from training.annotation_dataset import build_samples, clip_refs, split_frames
from training.finetune import FinetuneConfig, FinetuneMetrics
from training.model import build_network
from training.splits import SplitFile
from training.store import ModelStore

USER, PASSWORD = "label-studio", "s3cret-pass"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
PAINTS_NOTHING, PAINTS_EVERYTHING = 0.0, 5.0


@pytest.fixture()
def sessions(database_url):
    upgrade_database(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def store_with_champion(root, network) -> ModelStore:
    store = ModelStore(root)
    store.promote(store.save(network, TINY_SPEC, {"trained_on": "nothing"}))
    return store


def queue_run(sessions, n_events: int = 3) -> int:
    state = StateStore(sessions)
    for task_id in range(1, n_events + 1):
        state.record_event(EventIds("ANNOTATION_CREATED", 1, task_id, task_id))
    return state.enqueue_training(RunTrigger.EVENTS).id


def fake_finetune(network):
    """A finetune_from_champion that saves ``network`` as the candidate."""

    def finetune(store, samples, validation, config):
        parent = store.champion()
        version = store.save(network, TINY_SPEC, {"parent_version": parent})
        return version, FinetuneMetrics({}, 0.0, config.epochs, 0.0)

    return finetune


def make_worker(sessions, store) -> Worker:
    config = FinetuneConfig(epochs=1, batch_size=4)
    return Worker(sessions, store, PhantomSource(), config)


def status_of(sessions, version):
    return VersionLedger(sessions).status(version)


def unprocessed_events(sessions) -> int:
    with sessions() as session:
        query = select(AnnotationEvent).where(AnnotationEvent.processed.is_(False))
        return len(session.scalars(query).all())


def test_a_worse_candidate_is_rejected_and_the_champion_kept(sessions, tmp_path, monkeypatch):
    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_EVERYTHING))
    champion = store.champion()
    monkeypatch.setattr(
        worker_module, "finetune_from_champion", fake_finetune(constant_network(PAINTS_NOTHING))
    )
    queue_run(sessions)

    run = make_worker(sessions, store).run_once()

    assert run.status == RunStatus.SUCCEEDED and "rejected" in run.log
    assert store.champion() == champion
    assert status_of(sessions, run.model_version) == VersionStatus.RETIRED
    assert unprocessed_events(sessions) == 0


def test_a_better_candidate_is_promoted_and_the_pointer_changes(sessions, tmp_path, monkeypatch):
    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_NOTHING))
    old = store.champion()
    monkeypatch.setattr(
        worker_module, "finetune_from_champion", fake_finetune(constant_network(PAINTS_EVERYTHING))
    )
    queue_run(sessions)

    run = make_worker(sessions, store).run_once()

    assert run.status == RunStatus.SUCCEEDED and run.duration_s is not None
    assert store.champion() == run.model_version != old
    assert status_of(sessions, run.model_version) == VersionStatus.CHAMPION
    assert status_of(sessions, old) == VersionStatus.RETIRED


def test_a_promotion_is_announced_once_and_a_rejection_never(sessions, tmp_path, monkeypatch):
    announced = []
    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_NOTHING))
    monkeypatch.setattr(
        worker_module, "finetune_from_champion", fake_finetune(constant_network(PAINTS_EVERYTHING))
    )
    worker = dataclasses.replace(make_worker(sessions, store), on_promotion=announced.append)
    queue_run(sessions)
    promoted = worker.run_once()
    monkeypatch.setattr(
        worker_module, "finetune_from_champion", fake_finetune(constant_network(PAINTS_NOTHING))
    )
    queue_run(sessions)

    rejected = worker.run_once()

    assert announced == [promoted.model_version]
    assert "predictions refreshed" in promoted.log and "rejected" in rejected.log


def test_an_unreachable_label_studio_does_not_undo_a_promotion(sessions, tmp_path, monkeypatch):
    def unreachable(version):
        raise ConnectionError("Label Studio is down")

    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_NOTHING))
    monkeypatch.setattr(
        worker_module, "finetune_from_champion", fake_finetune(constant_network(PAINTS_EVERYTHING))
    )
    worker = dataclasses.replace(make_worker(sessions, store), on_promotion=unreachable)
    queue_run(sessions)

    run = worker.run_once()

    assert run.status == RunStatus.SUCCEEDED
    assert store.champion() == run.model_version
    assert "predictions not refreshed: ConnectionError" in run.log


def test_the_gate_compares_both_versions_on_the_same_validation_frames(tmp_path):
    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_NOTHING))
    candidate = store.save(constant_network(PAINTS_EVERYTHING), TINY_SPEC, {})
    source = PhantomSource(seeds=(1, 3))  # short axis only: no interspinous window drawn
    frames = source.annotated_frames()
    split = SplitFile(tmp_path / "split.json").assign(clip_refs(frames))
    validation = build_samples(split_frames(frames, split)[1], source.load_gray, TINY_SPEC)

    decision = evaluate_gate(store, candidate, validation)

    assert decision.promote
    assert decision.champion_mean == 0.0 < decision.candidate_mean
    assert set(decision.structures) == set(decision.candidate_dice) == set(decision.champion_dice)
    assert "interspinous_window" not in decision.structures


def test_a_real_finetune_run_finishes_and_records_its_version(sessions, tmp_path):
    store = store_with_champion(tmp_path / "models", build_network(TINY_SPEC))
    run_id = queue_run(sessions)

    run = make_worker(sessions, store).run_once()

    assert run.id == run_id and run.status == RunStatus.SUCCEEDED, run.error
    assert status_of(sessions, run.model_version) in (VersionStatus.CHAMPION, VersionStatus.RETIRED)
    assert "candidate" in run.log and "gate on" in run.log
    assert make_worker(sessions, store).run_once() is None


def test_a_crash_in_training_fails_the_run_and_the_champion_serves(
    sessions, tmp_path, monkeypatch, database_url
):
    store = store_with_champion(tmp_path / "models", build_network(TINY_SPEC))
    champion = store.champion()

    def crash(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("training.finetune.fit", crash)
    queue_run(sessions)

    run = make_worker(sessions, store).run_once()

    assert run.status == RunStatus.FAILED
    assert run.error == "RuntimeError: CUDA out of memory"
    assert store.champion() == champion and store.versions() == [champion]
    assert unprocessed_events(sessions) == 3
    with TestClient(create_app(backend_settings(tmp_path, store, database_url))) as client:
        response = client.post("/setup", json={}, headers=BASIC)
    assert response.json() == {"model_version": champion}


def test_rollback_restores_the_previous_champion(sessions, tmp_path):
    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_NOTHING))
    old = store.champion()
    new = store.save(constant_network(PAINTS_EVERYTHING), TINY_SPEC, {"parent_version": old})
    ledger = VersionLedger(sessions)
    promote(store, ledger, new)

    assert rollback(store, ledger) == (new, old)

    assert store.champion() == old
    assert ledger.status(old) == VersionStatus.CHAMPION
    assert ledger.status(new) == VersionStatus.RETIRED
    with pytest.raises(RollbackImpossible, match="no previous champion"):
        rollback(store, ledger)


def test_rollback_command_prints_what_changed(tmp_path, monkeypatch, capsys, database_url):
    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_NOTHING))
    old = store.champion()
    new = store.save(constant_network(PAINTS_EVERYTHING), TINY_SPEC, {"parent_version": old})
    store.promote(new)
    settings = backend_settings(tmp_path, store, database_url)
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)

    assert rollback_main([]) == 0
    assert rollback_main([]) == 1

    assert store.champion() == old
    assert f"champion is {old} again ({new} retired)" in capsys.readouterr().out


def backend_settings(tmp_path, store: ModelStore, database_url: str) -> BackendSettings:
    media_root = tmp_path / "media"
    (media_root / "frames").mkdir(parents=True, exist_ok=True)
    gray = np.random.default_rng(0).integers(0, 255, (60, 80), np.uint8)
    cv2.imwrite(str(media_root / "frames" / "000000.png"), gray)
    return BackendSettings(
        username=USER,
        password=PASSWORD,
        webhook_secret="hook-secret",
        model_store=store.root,
        media_root=media_root,
        label_studio_url="http://127.0.0.1:1",
        database_url=database_url,
    )


def settings_env(settings: BackendSettings) -> dict[str, str]:
    return {
        "BACKEND_USERNAME": settings.username,
        "BACKEND_PASSWORD": settings.password.get_secret_value(),
        "BACKEND_WEBHOOK_SECRET": settings.webhook_secret.get_secret_value(),
        "BACKEND_MODEL_STORE": str(settings.model_store),
        "BACKEND_DATABASE_URL": settings.database_url,
    }


def test_promotion_under_concurrent_predictions_fails_no_request(sessions, tmp_path, database_url):
    store = store_with_champion(tmp_path / "models", constant_network(PAINTS_NOTHING))
    old = store.champion()
    new = store.save(constant_network(PAINTS_EVERYTHING), TINY_SPEC, {"parent_version": old})
    body = {"tasks": [{"id": 1, "data": {"image": "/data/local-files/?d=frames/000000.png"}}]}
    seen: dict[int, list] = {n: [] for n in range(4)}
    promoted = threading.Event()

    with TestClient(create_app(backend_settings(tmp_path, store, database_url))) as client:
        client.app.state.champion.check_interval_s = 0.02

        def keep_predicting(n: int) -> None:
            for _ in range(200):
                response = client.post("/predict", json=body, headers=BASIC)
                seen[n].append(
                    (response.status_code, response.json()["results"][0]["model_version"])
                )
                if promoted.is_set() and seen[n][-1][1] == new and len(seen[n]) > 5:
                    return

        threads = [threading.Thread(target=keep_predicting, args=(n,)) for n in seen]
        for thread in threads:
            thread.start()
        while sum(len(v) for v in seen.values()) < 12:
            threading.Event().wait(0.01)
        promote(store, VersionLedger(sessions), new)
        promoted.set()
        for thread in threads:
            thread.join()

    for answers in seen.values():
        assert {code for code, _ in answers} == {200}
        versions = [version for _, version in answers]
        assert versions[0] == old and versions[-1] == new
        switch = versions.index(new)
        assert set(versions[:switch]) == {old} and set(versions[switch:]) == {new}


def test_label_studio_tasks_become_one_frame_per_annotator_with_its_newest_annotation_id():
    image = "/data/local-files/?d=frames/000000.png"
    task = {
        "id": 7,
        "data": {"image": image, "clip_id": "clip-a", "frame_index": 3},
        "annotations": [
            {"id": 11, "completed_by": 1, "result": []},
            {"id": 12, "completed_by": 1, "result": []},
            {"id": 13, "completed_by": 2, "result": [], "was_cancelled": True},
        ],
    }

    frames = task_frames(task)

    assert [(f.task_id, f.annotation_id, f.clip_id, f.frame_index) for f in frames] == [
        (7, 12, "clip-a", 3)
    ]
    assert frames[0].image_url == image


def test_label_studio_tasks_without_a_clip_are_skipped():
    task = {"id": 8, "data": {"image": "x"}, "annotations": [{"id": 1, "completed_by": 1}]}

    assert task_frames(task) == []
