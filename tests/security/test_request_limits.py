"""Oversized requests are refused with 413 before they are read whole; the backend stays up.

Against uvicorn on loopback, over raw sockets: a declared Content-Length over the limit is
answered while no byte of the body has been sent, and a chunked body is answered while its
final chunk has not been sent; either way the server cannot have read the body whole.
"""

import json
import socket

import httpx
import pytest
from fastapi.testclient import TestClient

from annotation_backend.app import create_app
from annotation_backend.auth import WEBHOOK_SECRET_HEADER
from annotation_backend.settings import BackendSettings
from label_config.schema import STRUCTURES
from tests.security.conftest import FRAME_KEY, PASSWORD, USER, WEBHOOK_SECRET
from tests.security.test_authentication import GOOD
from training.annotations import FrameAnnotation, to_label_studio_result
from training.phantom import generate_clip

LIMIT_BYTES = 64 * 1024
SOCKET_TIMEOUT_S = 60
HOOK = {WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}


@pytest.fixture()
def limited(settings) -> BackendSettings:
    return settings.model_copy(update={"max_request_bytes": LIMIT_BYTES, "max_predict_tasks": 3})


@pytest.fixture()
def limited_client(limited):
    with TestClient(create_app(limited)) as test_client:
        yield test_client


@pytest.fixture()
def limited_backend(limited, serve) -> tuple[str, int]:
    return serve(limited)


def task(task_id: int = 1) -> dict:
    return {"id": task_id, "data": {"image": f"/data/local-files/?d={FRAME_KEY}"}}


def padded(body: dict, size_bytes: int) -> bytes:
    """``body`` as JSON, padded with a ``meta`` field to exactly ``size_bytes``."""
    stub = json.dumps({**body, "meta": ""}).encode()
    return json.dumps({**body, "meta": "x" * (size_bytes - len(stub))}).encode()


def assert_healthy(client) -> None:
    assert client.get("/health").status_code == 200
    answer = client.post("/predict", json={"tasks": [task()]}, headers=GOOD)
    assert answer.status_code == 200 and len(answer.json()["results"]) == 1


@pytest.mark.parametrize(
    "path, headers, body",
    [
        ("/predict", GOOD, {"tasks": [task()]}),
        ("/webhook", HOOK, {"action": "ANNOTATION_CREATED"}),
        ("/webhook", {}, {"action": "ANNOTATION_CREATED"}),
        ("/setup", GOOD, {"project": "1.1"}),
    ],
    ids=["predict", "webhook", "webhook without credentials", "setup"],
)
def test_a_body_over_the_limit_is_refused_and_one_at_the_limit_is_not(
    limited_client, path, headers, body
):
    over = limited_client.post(path, content=padded(body, LIMIT_BYTES + 1), headers=headers)
    at_limit = limited_client.post(path, content=padded(body, LIMIT_BYTES), headers=headers)

    assert over.status_code == 413
    assert at_limit.status_code == (401 if not headers else 200)
    assert_healthy(limited_client)


@pytest.mark.parametrize("path, headers", [("/predict", GOOD), ("/webhook", HOOK)])
def test_a_chunked_body_over_the_limit_is_refused(limited_client, path, headers):
    def chunks():
        for _ in range(LIMIT_BYTES // 4096 + 2):
            yield b" " * 4096

    response = limited_client.post(path, content=chunks(), headers=headers)

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert_healthy(limited_client)


def test_a_predict_with_more_tasks_than_allowed_is_refused_with_its_reason(limited_client):
    too_many = limited_client.post(
        "/predict", json={"tasks": [task(n) for n in range(4)]}, headers=GOOD
    )
    allowed = limited_client.post(
        "/predict", json={"tasks": [task(n) for n in range(3)]}, headers=GOOD
    )

    assert too_many.status_code == 413
    assert "4 tasks" in too_many.json()["detail"]
    assert "BACKEND_MAX_PREDICT_TASKS" in too_many.json()["detail"]
    assert allowed.status_code == 200 and len(allowed.json()["results"]) == 3


def raw_request(address, head: str, body_parts: list[bytes]) -> bytes:
    """Sends ``head`` and ``body_parts`` (the body deliberately unfinished) and returns what
    the server answers before the body ends."""
    with socket.create_connection(address, timeout=SOCKET_TIMEOUT_S) as connection:
        connection.sendall(head.encode())
        for part in body_parts:
            connection.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            received = connection.recv(65536)
            if not received:
                break
            answer += received
    return answer


@pytest.mark.parametrize(
    "path, credential",
    [
        ("/predict", f"Authorization: {GOOD['Authorization']}"),
        ("/webhook", f"{WEBHOOK_SECRET_HEADER}: {WEBHOOK_SECRET}"),
        ("/predict", "X-Nothing: 1"),
    ],
    ids=["predict", "webhook", "predict without credentials"],
)
def test_a_declared_length_over_the_limit_is_refused_before_any_body_byte(
    limited_backend, path, credential
):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{credential}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {LIMIT_BYTES + 1}\r\n\r\n"
    )

    answer = raw_request(limited_backend, head, [])

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert_healthy(httpx.Client(base_url=f"http://{limited_backend[0]}:{limited_backend[1]}"))


@pytest.mark.parametrize(
    "path, credential",
    [
        ("/predict", f"Authorization: {GOOD['Authorization']}"),
        ("/webhook", f"{WEBHOOK_SECRET_HEADER}: {WEBHOOK_SECRET}"),
    ],
    ids=["predict", "webhook"],
)
def test_a_chunked_body_is_refused_before_its_last_chunk(limited_backend, path, credential):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{credential}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"1000\r\n" + b" " * 0x1000 + b"\r\n"

    answer = raw_request(limited_backend, head, [chunk] * (LIMIT_BYTES // 0x1000 + 1))

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert_healthy(httpx.Client(base_url=f"http://{limited_backend[0]}:{limited_backend[1]}"))


def webhook_of_every_structure(width_px: int, height_px: int) -> bytes:
    """A Label Studio ANNOTATION_CREATED body: one annotation painting every structure of a
    long-axis phantom frame of that size, with the keypoint and choices."""
    clip = generate_clip(4, "long_axis", duration_s=0.2, width_px=width_px, height_px=height_px)
    rendered = clip.render(0)
    masks = {s.key: rendered.masks[i] > 0 for i, s in enumerate(STRUCTURES)}
    annotation = FrameAnnotation(
        1,
        "user-2",
        {k: m for k, m in masks.items() if m.any()},
        {"conus_tip": (9.5, 9.5)},
        frozenset(),
        "long_axis",
        "L3/4",
        "diagnostic",
        (height_px, width_px),
    )
    result = to_label_studio_result(annotation)
    return json.dumps(
        {
            "action": "ANNOTATION_CREATED",
            "annotation": {"id": 1, "task": 1, "completed_by": 2, "result": result},
            "task": {"id": 1, "project": 1, "data": task()["data"]},
            "project": {"id": 1, "title": "Infant lumbar spine: long axis"},
        }
    ).encode()


def test_the_default_limit_admits_what_label_studio_sends(untrained_store, media, tmp_path):
    defaults = BackendSettings(
        username=USER,
        password=PASSWORD,
        webhook_secret=WEBHOOK_SECRET,
        model_store=untrained_store.root,
        media_root=media.root,
        database_url=f"sqlite:///{tmp_path / 'defaults.sqlite3'}",
    )
    webhook = webhook_of_every_structure(1280, 960)
    fresh_tasks = json.dumps({"tasks": [task(n) for n in range(defaults.max_predict_tasks)]})

    with TestClient(create_app(defaults)) as client:
        answer = client.post("/webhook", content=webhook, headers=HOOK)

    assert answer.status_code == 200 and answer.json()["action"] == "ANNOTATION_CREATED"
    assert 20 * len(webhook) < defaults.max_request_bytes
    assert 20 * len(fresh_tasks) < defaults.max_request_bytes
