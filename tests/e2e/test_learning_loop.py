"""The learning loop through a real Label Studio: corrections arrive as webhooks, "Start
training" queues one run, and the worker that ``make run`` starts fine-tunes and gates."""

import time

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from annotation_backend.label_studio_source import LabelStudioSource
from annotation_backend.state import (
    RunStatus,
    StateStore,
    TrainingRun,
    make_engine,
    make_session_factory,
)
from training.annotations import FrameAnnotation, to_label_studio_result

pytestmark = pytest.mark.label_studio

RUN_TIMEOUT_S = 240


def expert_annotation(stack, task: dict) -> FrameAnnotation:
    """The phantom's ground truth for a phantom frame; a fixed CSF box on the real clip."""
    view = task["data"]["view"]
    shape = (task["data"]["height_px"], task["data"]["width_px"])
    if view == "unknown":
        box = np.zeros(shape, bool)
        box[shape[0] // 3 : shape[0] // 2, shape[1] // 3 : shape[1] // 2] = True
        return FrameAnnotation(task["id"], "expert", masks={"csf": box}, quality="limited")
    truth = stack.phantom.render(task["data"]["frame_index"]).masks
    keys = [key for key in stack.store.load(stack.version).spec.structures]
    masks = {k: truth[i].astype(bool) for i, k in enumerate(keys) if truth[i].any()}
    return FrameAnnotation(task["id"], "expert", masks=masks, view=view, quality="diagnostic")


def state_store(stack) -> StateStore:
    engine = make_engine(f"sqlite:///{stack.options.paths.backend_database.resolve()}")
    return StateStore(make_session_factory(engine))


def wait_for_run(store: StateStore, timeout_s: float) -> TrainingRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store._sessions() as session:
            runs = session.scalars(select(TrainingRun)).all()
        if runs and all(r.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) for r in runs):
            return runs[-1]
        time.sleep(2.0)
    raise AssertionError(f"no training run finished within {timeout_s:.0f} s")


def test_corrections_reach_the_backend_and_start_training_retrains(stack):
    client, store = stack.projects.client, state_store(stack)
    tasks = stack.tasks()
    for task in tasks:
        result = to_label_studio_result(expert_annotation(stack, task))
        client.annotations.create(id=task["id"], result=result)

    assert store.pending_event_count() == len(tasks)
    assert store.active_run() is None

    project = stack.projects.for_view("short_axis")
    [backend] = list(client.ml.list(project=project.id))
    response = httpx.post(
        f"{stack.label_studio_url}/api/ml/{backend.id}/train",
        headers={"Authorization": f"Token {stack.secrets.label_studio_token}"},
        json={},
        timeout=30.0,
    )
    assert response.status_code == 200
    run = wait_for_run(store, RUN_TIMEOUT_S)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.model_version in stack.store.versions()
    assert store.pending_event_count() == 0
    champion = stack.store.champion()
    assert champion in (stack.version, run.model_version)
    setup = httpx.post(
        f"http://127.0.0.1:{stack.options.backend_port}/setup",
        auth=(stack.secrets.backend_username, stack.secrets.backend_password),
        json={"project": f"{project.id}.0"},
        timeout=30.0,
    )
    assert setup.json()["model_version"] == champion
    if champion == run.model_version:
        assert "predictions refreshed" in run.log
        for task in stack.tasks():
            assert champion in {p["model_version"] for p in task["predictions"]}


def test_refreshing_predictions_leaves_every_task_with_the_serving_models(stack):
    champion = stack.store.champion()
    source = LabelStudioSource(
        stack.projects.client, None, stack.label_studio_url, stack.secrets.label_studio_token
    )

    source.refresh_predictions(champion)

    for task in stack.tasks():
        assert champion in {p["model_version"] for p in task["predictions"]}
    for project in stack.projects:
        settings = stack.projects.client.projects.get(project.id)
        if settings.task_number:
            assert settings.model_version == champion
