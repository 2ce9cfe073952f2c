"""The main job against a real Label Studio: project, upload, pre-labels, de-identification."""

import json
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from annotation_backend.predictions import predict_frame
from local_stack.run import publish
from tests.brush import assert_regions_equal
from tests.e2e.conftest import REAL_CLIP
from upload.storage import LocalFrameStore
from upload.storage.local import LOCAL_FILES_URL

pytestmark = pytest.mark.label_studio


def project_tasks(stack) -> list[dict]:
    return stack.tasks()


def stored_frame(stack, task: dict) -> np.ndarray:
    relative = task["data"]["image"].removeprefix(LOCAL_FILES_URL)
    return cv2.imread(str(stack.options.paths.media_root / relative), cv2.IMREAD_GRAYSCALE)


def test_each_kept_frame_is_one_task_with_its_clip_metadata(stack):
    tasks = project_tasks(stack)

    assert len(tasks) == 3 + 9  # 50 real frames and 180 phantom frames, every 20th kept
    assert stack.count.tasks == stack.count.tasks_with_prediction == len(tasks)
    by_view = {}
    for task in tasks:
        by_view.setdefault(task["data"]["view"], []).append(task["data"]["frame_index"])
    assert sorted(by_view["unknown"]) == [0, 20, 40]
    assert sorted(by_view["short_axis"]) == list(range(0, 180, 20))
    times = sorted(t["data"]["time_s"] for t in tasks if t["data"]["view"] == "short_axis")
    assert times[1] == pytest.approx(20 / 30, abs=1e-3)


def test_every_frame_carries_the_models_prediction(stack):
    model = stack.store.load(stack.version)
    regions_seen = 0

    for task in project_tasks(stack):
        assert len(task["predictions"]) == 1
        prediction = task["predictions"][0]
        gray = stored_frame(stack, task)
        expected = predict_frame(model, gray, task["data"]["view"], 0.5, 30)
        assert prediction["model_version"] == stack.version
        assert prediction["score"] == pytest.approx(expected.score, abs=1e-5)
        assert_regions_equal(prediction["result"], expected.masks, gray.shape)
        regions_seen += sum(r["type"] == "brushlabels" for r in prediction["result"])

    assert regions_seen > 0


def test_a_second_upload_creates_no_task(stack):
    before = len(project_tasks(stack))

    created = stack.projects.import_frames(
        stack.report.frames, LocalFrameStore(stack.options.paths.media_root)
    )

    assert created == 0
    assert len(project_tasks(stack)) == before


def test_publishing_again_reuses_the_projects_backend_and_webhook(stack):
    client = stack.projects.client
    before = len(project_tasks(stack))

    count = publish(stack.options, stack.secrets, stack.report, stack.version)

    assert count.tasks == count.tasks_with_prediction == before
    assert sorted(p.title for p in client.projects.list()) == sorted(
        p.title for p in stack.projects
    )
    for project in stack.projects:
        assert len(list(client.ml.list(project=project.id))) == 1
        assert len(list(client.webhooks.list(project=project.id))) == 1
        assert len(list(client.import_storage.local.list(project=project.id))) == 1


def test_frames_go_to_the_project_of_their_view_with_its_settings(stack):
    client = stack.projects.client
    by_project = {}
    for task in project_tasks(stack):
        by_project.setdefault(task["project"], set()).add(task["data"]["view"])

    for project in stack.projects:
        settings = client.projects.get(project.id)
        assert by_project.get(project.id, {project.view}) == {project.view}
        assert settings.sampling == "Uncertainty sampling"
        assert settings.maximum_annotations == 2
        assert settings.overlap_cohort_percentage == 20
        assert "Not visible in this frame" in settings.label_config
        assert settings.expert_instruction.startswith("<p>")


def identifiers_planted(stack) -> list[str]:
    names = [REAL_CLIP, Path(REAL_CLIP).stem, "clarius", stack.phantom.identifiers["patient_id"]]
    return names + [v for v in stack.phantom.identifiers.values() if len(v) >= 4]


def output_files(stack) -> list[Path]:
    """What leaves the upload step: frames, Label Studio's database and media, both logs."""
    paths = stack.options.paths
    roots = [paths.media_root, paths.label_studio_data, paths.logs]
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_no_planted_identifier_reaches_any_output(stack):
    planted = [s.lower().encode() for s in identifiers_planted(stack)]
    task_json = json.dumps(project_tasks(stack)).lower().encode()
    leaks = [s for s in planted if s in task_json]
    for path in output_files(stack):
        content = path.read_bytes().lower()
        leaks += [f"{s.decode()} in {path.name}" for s in planted if s in content]

    assert len(output_files(stack)) > 10
    assert leaks == []


def test_burned_in_header_is_blank_in_stored_phantom_frames(stack):
    x0, y0, x1, y1 = stack.phantom.imaging_region
    phantom_tasks = [t for t in project_tasks(stack) if t["data"]["view"] == "short_axis"]

    for task in phantom_tasks:
        original = stack.phantom.render(task["data"]["frame_index"]).image
        stored = stored_frame(stack, task)
        assert original[:y0].max() > 0, "the phantom should have burned-in text to remove"
        assert stored[:y0].max() == 0
        assert np.array_equal(stored[y0:y1, x0:x1], original[y0:y1, x0:x1])


def test_backend_is_connected_with_credentials_and_refuses_without(stack):
    client = stack.projects.client
    backend_url = f"http://127.0.0.1:{stack.options.backend_port}"

    for project in stack.projects:
        assert [b.state for b in client.ml.list(project=project.id)] == ["CO"]
    assert httpx.post(backend_url + "/predict", json={"tasks": []}).status_code == 401


def test_label_studio_lists_the_backends_model_versions(stack):
    project = stack.projects.for_view("short_axis")
    [backend] = list(stack.projects.client.ml.list(project=project.id))

    response = httpx.get(
        f"{stack.label_studio_url}/api/ml/{backend.id}/versions",
        headers={"Authorization": f"Token {stack.secrets.label_studio_token}"},
        timeout=30.0,
    )

    assert response.status_code == 200
    assert stack.version in response.json()["versions"]


def test_label_studio_listens_on_loopback_only(stack):
    import psutil

    ports = {
        c.laddr.port: c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN"
    }

    assert ports[stack.options.label_studio_port] == "127.0.0.1"
    assert ports[stack.options.backend_port] == "127.0.0.1"
