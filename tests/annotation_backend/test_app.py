"""The ML backend's routes, called as Label Studio calls them."""

import base64

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from annotation_backend.app import create_app
from annotation_backend.auth import WEBHOOK_SECRET_HEADER
from annotation_backend.predictions import predict_frame
from annotation_backend.settings import BackendSettings
from tests.brush import assert_regions_equal
from training.annotations import LABEL_OF_KEY as LABEL_OF

USER, PASSWORD, WEBHOOK_SECRET = "label-studio", "s3cret-pass", "hook-secret"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


@pytest.fixture()
def media_root(tmp_path):
    rng = np.random.default_rng(1)
    frames = tmp_path / "media" / "frames" / "clip-0"
    frames.mkdir(parents=True)
    for index, (height, width) in enumerate([(64, 80), (90, 50)]):
        cv2.imwrite(
            str(frames / f"{index:06d}.png"), rng.integers(0, 255, (height, width), np.uint8)
        )
    return tmp_path / "media"


@pytest.fixture()
def settings(untrained_store, media_root, tmp_path):
    return BackendSettings(
        username=USER,
        password=PASSWORD,
        webhook_secret=WEBHOOK_SECRET,
        model_store=untrained_store.root,
        media_root=media_root,
        label_studio_url="http://127.0.0.1:1",
        database_url=f"sqlite:///{tmp_path / 'state.sqlite3'}",
    )


@pytest.fixture()
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def task(index: int, view: str = "long_axis") -> dict:
    image = f"/data/local-files/?d=frames/clip-0/{index:06d}.png"
    return {"id": 100 + index, "data": {"image": image, "view": view}}


def test_health_answers_without_credentials(client):
    assert client.get("/health").json()["status"] == "UP"


@pytest.mark.parametrize("route", ["/setup", "/predict"])
def test_routes_refuse_missing_and_wrong_credentials(client, route):
    wrong = {"Authorization": "Basic " + base64.b64encode(b"label-studio:nope").decode()}

    assert client.post(route, json={}).status_code == 401
    assert client.post(route, json={}, headers=wrong).status_code == 401


def test_setup_reports_the_champion_version(client, untrained_store):
    response = client.post(
        "/setup", json={"project": "1.1700000000", "schema": "<View/>"}, headers=BASIC
    )

    assert response.status_code == 200
    assert response.json() == {"model_version": untrained_store.champion()}


def test_predict_returns_one_result_per_task_in_order(client, untrained_store, media_root):
    response = client.post(
        "/predict", json={"tasks": [task(0), task(1, "short_axis")]}, headers=BASIC
    )

    results = response.json()["results"]
    assert response.status_code == 200
    assert len(results) == 2
    model = untrained_store.load_champion()
    for index, (result, view) in enumerate(zip(results, ["long_axis", "short_axis"])):
        gray = cv2.imread(str(media_root / f"frames/clip-0/{index:06d}.png"), cv2.IMREAD_GRAYSCALE)
        expected = predict_frame(model, gray, view, 0.5, 30)
        assert result["model_version"] == model.version
        assert result["score"] == pytest.approx(expected.score, abs=1e-6)
        assert_regions_equal(result["result"], expected.masks, gray.shape)


def test_short_axis_frames_get_no_long_axis_structures(client):
    results = client.post(
        "/predict", json={"tasks": [task(1, "short_axis")]}, headers=BASIC
    ).json()["results"]

    labels = {
        r["value"]["brushlabels"][0] for r in results[0]["result"] if "brushlabels" in r["value"]
    }

    assert LABEL_OF["interspinous_window"] not in labels


def test_a_known_view_is_prefilled_as_a_choice(client):
    results = client.post("/predict", json={"tasks": [task(0, "long_axis")]}, headers=BASIC).json()

    choices = [r for r in results["results"][0]["result"] if r["type"] == "choices"]

    assert [(c["from_name"], c["value"]["choices"]) for c in choices] == [("view", ["long_axis"])]


def test_a_task_without_an_image_is_a_caller_error(client):
    response = client.post("/predict", json={"tasks": [{"id": 1, "data": {}}]}, headers=BASIC)

    assert response.status_code == 422
    assert "data.image" in response.json()["detail"]


def test_an_unreadable_frame_gets_an_empty_prediction(client):
    missing = {"id": 7, "data": {"image": "/data/local-files/?d=frames/none.png"}}

    results = client.post("/predict", json={"tasks": [missing]}, headers=BASIC).json()["results"]

    assert results == [{"result": [], "score": 0.0, "model_version": "v0001"}]


def test_a_frame_outside_the_media_root_is_not_read(client):
    escape = {"id": 8, "data": {"image": "/data/local-files/?d=../../../etc/passwd"}}

    results = client.post("/predict", json={"tasks": [escape]}, headers=BASIC).json()["results"]

    assert results[0]["result"] == []


def test_webhook_accepts_the_secret_header_or_basic_auth(client):
    event = {"action": "ANNOTATION_CREATED", "annotation": {"id": 1}}

    assert client.post("/webhook", json=event).status_code == 401
    assert (
        client.post("/webhook", json=event, headers={WEBHOOK_SECRET_HEADER: "x"}).status_code == 401
    )
    with_secret = client.post(
        "/webhook", json=event, headers={WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
    )
    assert with_secret.json() == {"status": "ok", "action": "ANNOTATION_CREATED"}
    assert (
        client.post("/webhook", json={"action": "START_TRAINING"}, headers=BASIC).status_code == 200
    )


def test_webhook_acknowledges_a_payload_that_is_not_an_event(client):
    response = client.post(
        "/webhook",
        content=b"[1, 2",
        headers={WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"},
    )

    assert response.status_code == 200
    assert response.json()["action"] is None


def test_settings_refuse_to_start_without_secrets(monkeypatch, tmp_path):
    for name in ("BACKEND_USERNAME", "BACKEND_PASSWORD", "BACKEND_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BACKEND_MODEL_STORE", str(tmp_path))

    with pytest.raises(ValueError, match="password"):
        BackendSettings()


def test_zero_uncertainty_passes_score_by_plain_confidence(settings, untrained_store, media_root):
    plain = settings.model_copy(update={"uncertainty_passes": 0})
    with TestClient(create_app(plain)) as test_client:
        result = test_client.post("/predict", json={"tasks": [task(0)]}, headers=BASIC).json()

    gray = cv2.imread(str(media_root / "frames/clip-0/000000.png"), cv2.IMREAD_GRAYSCALE)
    model = untrained_store.load_champion()
    plain_score = predict_frame(model, gray, "long_axis", 0.5, 30, uncertainty_passes=0).score
    assert result["results"][0]["score"] == pytest.approx(plain_score, abs=1e-6)
    assert plain_score != predict_frame(model, gray, "long_axis", 0.5, 30).score


def test_versions_lists_the_stored_model_versions_behind_credentials(client, untrained_store):
    assert client.get("/versions").status_code == 401

    response = client.get("/versions", headers=BASIC)

    assert response.json() == {"versions": untrained_store.versions()[::-1]}
