"""Frames from S3: the task URL forms Label Studio uses, and the one-bucket rule."""

import base64

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from annotation_backend.app import create_app
from annotation_backend.frames import (
    FrameLoader,
    FrameUnavailable,
    S3Frames,
    presigned_target,
    resolve_link_target,
)
from annotation_backend.predictions import predict_frame
from annotation_backend.settings import BackendSettings
from tests.annotation_backend.test_app import BASIC, PASSWORD, USER, WEBHOOK_SECRET
from tests.brush import assert_regions_equal

LABEL_STUDIO = "http://127.0.0.1:8080"
KEY = "frames/clip-0/000000.png"


@pytest.fixture()
def stored(s3_server):
    """A (48, 64) random frame in the moto bucket: its pixels and its s3:// URI."""
    gray = np.random.default_rng(3).integers(0, 255, (48, 64), np.uint8)
    store = s3_server.store()
    store.put(KEY, cv2.imencode(".png", gray)[1].tobytes(), "image/png")
    return gray, store.task_url(KEY)


def loader(s3_server, bucket: str | None) -> FrameLoader:
    frames = S3Frames(bucket, s3_server.endpoint_url, s3_server.client())
    return FrameLoader(None, LABEL_STUDIO, "token", frames)


def resolve_link(uri: str, origin: str = LABEL_STUDIO) -> str:
    return f"{origin}/tasks/12/resolve/?fileuri={base64.urlsafe_b64encode(uri.encode()).decode()}"


def test_an_s3_uri_is_read_from_the_allowed_bucket(s3_server, stored):
    gray, uri = stored

    assert np.array_equal(loader(s3_server, s3_server.bucket).load_gray(uri), gray)


def test_predict_reads_an_s3_task_with_the_bucket_from_settings(
    s3_server, stored, untrained_store, tmp_path
):
    gray, uri = stored
    settings = BackendSettings(
        username=USER,
        password=PASSWORD,
        webhook_secret=WEBHOOK_SECRET,
        model_store=untrained_store.root,
        s3_bucket=s3_server.bucket,
        s3_endpoint_url=s3_server.endpoint_url,
        database_url=f"sqlite:///{tmp_path / 'state.sqlite3'}",
    )
    task = {"id": 1, "data": {"image": uri, "view": "long_axis"}}

    with TestClient(create_app(settings)) as client:
        result = client.post("/predict", json={"tasks": [task]}, headers=BASIC).json()["results"][0]

    expected = predict_frame(untrained_store.load_champion(), gray, "long_axis", 0.5, 30)
    assert result["result"], "the untrained model marks regions on a random frame"
    assert_regions_equal(result["result"], expected.masks, gray.shape)


def test_label_studios_resolve_link_is_read_from_s3_not_followed(s3_server, stored):
    gray, uri = stored
    frames = loader(s3_server, s3_server.bucket)

    for link in (resolve_link(uri), resolve_link(uri, ""), resolve_link(uri, "http://ls.other")):
        assert np.array_equal(frames.load_gray(link), gray)


def test_a_presigned_link_to_the_endpoint_is_read_with_the_backends_credentials(s3_server, stored):
    gray, uri = stored
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    link = s3_server.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
    )

    assert np.array_equal(loader(s3_server, s3_server.bucket).load_gray(link), gray)


def test_another_bucket_is_refused_in_every_url_form(s3_server, stored):
    _, uri = stored
    foreign = uri.replace(s3_server.bucket, "someone-elses-bucket")
    frames = loader(s3_server, s3_server.bucket)

    for link in (foreign, resolve_link(foreign)):
        with pytest.raises(FrameUnavailable, match="only objects in bucket"):
            frames.load_gray(link)


def test_a_key_with_dot_segments_is_refused(s3_server, stored):
    climbing = stored[1].replace("frames/", "frames/../")

    with pytest.raises(FrameUnavailable, match="plain segments"):
        loader(s3_server, s3_server.bucket).load_gray(climbing)


def test_without_an_allowed_bucket_s3_urls_are_refused(s3_server, stored):
    with pytest.raises(FrameUnavailable, match="BACKEND_S3_BUCKET"):
        loader(s3_server, None).load_gray(stored[1])


def test_a_missing_object_is_unavailable(s3_server, stored):
    missing = stored[1].replace("000000.png", "000099.png")

    with pytest.raises(FrameUnavailable, match="NoSuchKey"):
        loader(s3_server, s3_server.bucket).load_gray(missing)


def test_a_presigned_link_to_another_host_is_not_fetched(s3_server):
    link = "http://198.51.100.7:9000/spine-frames-test/x.png?X-Amz-Signature=abc"

    with pytest.raises(FrameUnavailable, match="only Label Studio's own URLs"):
        loader(s3_server, s3_server.bucket).load_gray(link)


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("https://b.s3.amazonaws.com/k/x.png?X-Amz-Signature=1", "s3://b/k/x.png"),
        ("https://my.b.s3.eu-west-1.amazonaws.com/x.png?X-Amz-Signature=1", "s3://my.b/x.png"),
        ("https://s3.eu-west-1.amazonaws.com/b/x%20y.png?X-Amz-Signature=1", "s3://b/x y.png"),
        ("https://b.s3.amazonaws.com/x.png", None),
        ("https://example.com/b/x.png?X-Amz-Signature=1", None),
    ],
)
def test_presigned_aws_links_name_their_bucket_and_key(link, target):
    assert presigned_target(link, None) == target


def test_a_legacy_resolve_link_carries_the_uri_itself():
    link = "/tasks/3/resolve/?fileuri=s3%3A%2F%2Fb%2Fx.png"

    assert resolve_link_target(link) == "s3://b/x.png"
    assert resolve_link_target("/data/upload/3/x.png?fileuri=czM6Ly9iL3g=") is None
