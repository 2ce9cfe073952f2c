"""No storage key or task URL reaches a file outside its root, or an S3 bucket but the allowed.

A decodable secret frame is planted outside the media root: read, it would give a non-empty
prediction, so an empty one, with no open of that file seen by Python's audit hook, proves the
backend never read it.
"""

import base64
import os
import uuid

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from annotation_backend.app import create_app
from tests.security.conftest import FRAME_KEY, USER, frame_png
from tests.security.test_authentication import GOOD
from upload.storage import InvalidKey, LocalFrameStore, validate_key

ESCAPING_KEYS = [
    "../secret.png",
    "frames/../../secret.png",
    "frames/./000000.png",
    "/etc/passwd",
    "%2e%2e%2fsecret.png",
    "..%2Fsecret.png",
    "..\\secret.png",
    "frames\\..\\..\\secret.png",
    "frames/\x00/secret.png",
    "frames/000000.png\x00.txt",
    "frames/000000.png\n",
    "",
    "frames//000000.png",
    "frames/",
    "~/secret.png",
    "C:\\secret.png",
    "\uff0e\uff0e/secret.png",
]


@pytest.mark.parametrize("key", ESCAPING_KEYS)
def test_validate_key_refuses_keys_that_could_escape(key):
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_validate_key_accepts_the_keys_the_upload_writes():
    for key in ("frames/clip-0123456789abcdef/000010.png", "clips/clip-0/header.dcm"):
        assert validate_key(key) == key


@pytest.mark.parametrize("key", ESCAPING_KEYS)
def test_the_local_store_refuses_escaping_keys_and_writes_nothing_outside(key, tmp_path):
    store = LocalFrameStore(tmp_path / "root")
    before = sorted(tmp_path.rglob("*"))

    for attempt in (
        lambda: store.put(key, b"x", "image/png"),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.task_url(key),
    ):
        with pytest.raises(InvalidKey):
            attempt()

    assert sorted(tmp_path.rglob("*")) == before


def test_the_local_store_does_not_follow_a_symlink_out_of_its_root(media, opened_outside):
    store = LocalFrameStore(media.root)
    (media.root / "frames" / "linked").symlink_to(media.secret.parent, target_is_directory=True)
    (media.root / "frames" / "secret.png").symlink_to(media.secret)

    for key in ("frames/linked/secret.png", "frames/secret.png"):
        with pytest.raises(InvalidKey, match="outside"):
            store.get(key)
        with pytest.raises(InvalidKey, match="outside"):
            store.exists(key)
    with pytest.raises(InvalidKey, match="outside"):
        store.put("frames/linked/planted.png", b"x", "image/png")

    assert opened_outside.paths == []
    assert sorted(p.name for p in media.secret.parent.iterdir()) == ["secret.png"]
    assert store.get(FRAME_KEY) == (media.root / FRAME_KEY).read_bytes()


def local_task(path: str, task_id: int = 1) -> dict:
    return {"id": task_id, "data": {"image": f"/data/local-files/?d={path}"}}


def predict(client: TestClient, tasks: list[dict]) -> list[dict]:
    response = client.post("/predict", json={"tasks": tasks}, headers=GOOD)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def escaping_paths(media) -> list[str]:
    secret, relative = str(media.secret), os.path.relpath(media.secret, media.root)
    return [
        relative,
        f"frames/clip-0/../../{relative}",
        secret,
        relative.replace("/", "%2f").replace(".", "%2e"),
        relative.replace("/", "%252f").replace(".", "%252e"),
        relative.replace("/", "\\"),
        f"frames/clip-0/000000.png%00/../../../{relative}",
        f"{FRAME_KEY}\x00{relative}",
        "frames/escape.png",
        "frames/linked/secret.png",
    ]


def test_a_task_cannot_make_the_backend_read_outside_the_media_root(client, media, opened_outside):
    (media.root / "frames" / "escape.png").symlink_to(media.secret)
    (media.root / "frames" / "linked").symlink_to(media.secret.parent, target_is_directory=True)
    paths = escaping_paths(media)

    results = predict(client, [local_task(path, n) for n, path in enumerate(paths)])

    assert [r["result"] for r in results] == [[]] * len(paths)
    assert opened_outside.paths == []


def test_the_same_secret_frame_inside_the_root_would_be_predicted(client, media):
    (media.root / "frames" / "copy.png").write_bytes(media.secret.read_bytes())

    (result,) = predict(client, [local_task("frames/copy.png")])

    assert result["result"] != []


def s3_png_key() -> str:
    return f"frames/clip-{uuid.uuid4().hex[:8]}/000000.png"


@pytest.fixture()
def s3_frames(s3_server, settings):
    """The allowed bucket and another one, each with a decodable frame; an app allowed only the
    first, with a recorder of every S3 object it asks for."""
    other = f"other-{uuid.uuid4().hex[:10]}"
    client = s3_server.client()
    client.create_bucket(Bucket=other)
    key = s3_png_key()
    for bucket in (s3_server.bucket, other):
        client.put_object(Bucket=bucket, Key=key, Body=frame_png(3), ContentType="image/png")
    allowed = settings.model_copy(
        update={"s3_bucket": s3_server.bucket, "s3_endpoint_url": s3_server.endpoint_url}
    )
    with TestClient(create_app(allowed)) as test_client:
        asked = []
        s3 = test_client.app.state.frames.s3.client
        s3.meta.events.register(
            "before-parameter-build.s3.GetObject",
            lambda params, **_: asked.append(params["Bucket"]),
        )
        yield test_client, s3_server, other, key, asked


def resolve_link(uri: str) -> str:
    encoded = base64.urlsafe_b64encode(uri.encode()).decode()
    return f"http://127.0.0.1:1/tasks/7/resolve/?fileuri={encoded}"


def test_s3_urls_naming_another_bucket_are_refused_unread(s3_frames):
    client, server, other, key, asked = s3_frames
    urls = [
        f"s3://{other}/{key}",
        resolve_link(f"s3://{other}/{key}"),
        f"{server.endpoint_url}/{other}/{key}?X-Amz-Signature=0",
        f"https://{other}.s3.amazonaws.com/{key}?X-Amz-Signature=0",
        f"s3://{server.bucket}/../{other}/{key}",
        f"s3://{server.bucket}.{other}/{key}",
        f"S3://{other}/{key}",
    ]

    results = predict(client, [{"id": n, "data": {"image": u}} for n, u in enumerate(urls)])

    assert [r["result"] for r in results] == [[]] * len(urls)
    assert other not in asked


def test_the_same_object_in_the_allowed_bucket_is_predicted(s3_frames):
    client, server, _, key, asked = s3_frames

    (result,) = predict(client, [{"id": 1, "data": {"image": f"s3://{server.bucket}/{key}"}}])

    assert result["result"] != []
    assert asked == [server.bucket]


def test_a_refused_frame_names_no_secret_in_the_answer(client, media):
    results = predict(client, [local_task(str(media.secret))])

    gray = cv2.imdecode(np.frombuffer(media.secret.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert gray is not None
    assert results == [{"result": [], "score": 0.0, "model_version": results[0]["model_version"]}]
    assert USER not in str(results)
